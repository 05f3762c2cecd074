//! `/playbacks`: recordings and their clips.

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult},
    extract::{path_id, query_param, JsonBody},
    routes::{events::EndView, PageQuery},
    views::{ListView, MediaUrls, PlaybackView},
};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use vigil_application::Recordings;
use vigil_domain::{
    ports::{ObjectStore, PlaybackRepo},
    CameraId, EventId, PlaybackFilter, PlaybackId, RecordingStatus,
};

/// The filters of the playback list and stream. Paging (`PageQuery`) is
/// the list's only: a stream has no pages.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PlaybackQuery {
    #[param(value_type = Option<Uuid>)]
    pub event_id: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub camera_id: Option<String>,
    #[param(value_type = Option<crate::views::RecordingStatusName>)]
    pub recording_status: Option<String>,
}

impl PlaybackQuery {
    pub fn filter(&self) -> ApiResult<PlaybackFilter> {
        Ok(PlaybackFilter {
            event_id: query_param::<EventId>(self.event_id.as_deref(), "eventId")?,
            camera_id: query_param::<CameraId>(self.camera_id.as_deref(), "cameraId")?,
            status: query_param::<RecordingStatus>(
                self.recording_status.as_deref(),
                "recordingStatus",
            )?,
        })
    }
}

/// List playbacks, newest first.
#[utoipa::path(get, path = "/playbacks", tag = "playbacks", params(PlaybackQuery, PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ListView<PlaybackView>), (status = 400), (status = 401)))]
pub async fn list(
    _me: AuthUser,
    q: web::Query<PlaybackQuery>,
    paging: web::Query<PageQuery>,
    playbacks: web::Data<dyn PlaybackRepo>,
    store: web::Data<dyn ObjectStore>,
    urls: web::Data<MediaUrls>,
) -> ApiResult<HttpResponse> {
    let filter = q.filter()?;
    let page = paging.page()?;
    let listed = playbacks.list(filter, page).await?;
    let mut data = Vec::with_capacity(listed.rows.len());
    for p in listed.rows {
        data.push(PlaybackView::build(p, store.get_ref(), &urls).await);
    }
    Ok(HttpResponse::Ok().json(ListView {
        data,
        total: listed.total,
    }))
}

/// Get a playback, with a playable `videoUrl` once COMPLETED.
#[utoipa::path(get, path = "/playbacks/{id}", tag = "playbacks", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 200, body = PlaybackView), (status = 404), (status = 401)))]
pub async fn get(
    _me: AuthUser,
    id: web::Path<String>,
    playbacks: web::Data<dyn PlaybackRepo>,
    store: web::Data<dyn ObjectStore>,
    urls: web::Data<MediaUrls>,
) -> ApiResult<HttpResponse> {
    let id: PlaybackId = path_id(&id, "playback")?;
    let p = playbacks
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("playback"))?;
    Ok(HttpResponse::Ok().json(PlaybackView::build(p, store.get_ref(), &urls).await))
}

/// Stop a recording: the same answer as ending its event. Every event
/// sharing the recording is ended with it.
#[utoipa::path(post, path = "/playbacks/{id}/stop", tag = "playbacks", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 200, body = EndView), (status = 403), (status = 404), (status = 401)))]
#[tracing::instrument(skip_all, fields(playback_id = %id))]
pub async fn stop(
    me: AuthUser,
    id: web::Path<String>,
    flow: web::Data<Recordings>,
) -> ApiResult<HttpResponse> {
    me.require_write()?;
    let id: PlaybackId = path_id(&id, "playback")?;
    let (event_id, playback) = flow
        .stop_recording(id)
        .await?
        .ok_or_else(|| ApiError::not_found("playback"))?;
    Ok(HttpResponse::Ok().json(EndView {
        ok: true,
        event_id: event_id.as_uuid(),
        playback_id: Some(id.as_uuid()),
        recording_status: playback.map(|p| p.status),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdatePlayback {
    /// `true`: retention (by age or by quota) never deletes the playback,
    /// and `DELETE` asks for `?force=true`; `false` lets it go again.
    pub retain: bool,
}

/// Keep a playback from retention, or let it go again.
#[utoipa::path(patch, path = "/playbacks/{id}", tag = "playbacks", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), request_body = UpdatePlayback, security(("bearer" = [])),
    responses((status = 200, body = PlaybackView), (status = 400), (status = 403), (status = 404), (status = 401)))]
#[tracing::instrument(skip_all, fields(playback_id = %id))]
pub async fn update(
    me: AuthUser,
    id: web::Path<String>,
    body: JsonBody<UpdatePlayback>,
    flow: web::Data<Recordings>,
    store: web::Data<dyn ObjectStore>,
    urls: web::Data<MediaUrls>,
) -> ApiResult<HttpResponse> {
    me.require_write()?;
    let id: PlaybackId = path_id(&id, "playback")?;
    let p = flow
        .retain(id, body.0.retain)
        .await?
        .ok_or_else(|| ApiError::not_found("playback"))?;
    Ok(HttpResponse::Ok().json(PlaybackView::build(p, store.get_ref(), &urls).await))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `true` deletes a retained playback too.
    #[param(value_type = Option<bool>)]
    pub force: Option<String>,
}

/// Delete a playback: stops it if running, removes the clip and the row. A
/// retained playback needs `?force=true` (409 otherwise).
#[utoipa::path(delete, path = "/playbacks/{id}", tag = "playbacks", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404."), DeleteQuery), security(("bearer" = [])),
    responses((status = 204), (status = 400), (status = 403), (status = 404), (status = 409), (status = 401)))]
#[tracing::instrument(skip_all, fields(playback_id = %id))]
pub async fn delete(
    me: AuthUser,
    id: web::Path<String>,
    q: web::Query<DeleteQuery>,
    flow: web::Data<Recordings>,
) -> ApiResult<HttpResponse> {
    me.require_write()?;
    let id: PlaybackId = path_id(&id, "playback")?;
    let force = query_param::<bool>(q.force.as_deref(), "force")?.unwrap_or(false);
    if flow.delete_playback(id, force).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("playback"))
    }
}

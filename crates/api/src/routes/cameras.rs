//! `/cameras`: read by all roles, written by ADMIN. URLs come back with
//! their password masked.

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult},
    extract::{int, path_id, JsonBody},
    routes::nodes::ThisNode,
    routes::PageQuery,
    views::{CameraView, ListView},
};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use vigil_domain::{
    camera::{parse_channel, RollSeconds},
    ports::{CameraRepo, Recorder},
    CameraId, CameraName, CameraPatch, NewCamera, RetentionDays, RtspUrl, Transcode,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCamera {
    /// At most 128 characters, not only whitespace, no control characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    /// `rtsp://` or `rtsps://` only.
    #[schema(
        max_length = 2048,
        pattern = r"^rtsps?://(?:[A-Za-z0-9._~!$&'()*+,;=:%-]+@)?(?:[A-Za-z0-9._~-]+|\[(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:))\])(?::(?:[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(?:[/?#][\x21-\x7E]*)?$"
    )]
    pub rtsp_url: String,
    #[serde(rename = "nChannelID", default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 2147483647)]
    pub n_channel_id: Option<i64>,
    /// Seconds of video before each event that its clip starts with
    /// (0–300; 0, the default, is off). Above 0 the camera is kept
    /// connected, and its events are RECORDING at once.
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 300)]
    pub pre_roll_seconds: Option<i64>,
    /// Seconds recorded after an event ends (0–300, default 0).
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 300)]
    pub post_roll_seconds: Option<i64>,
    /// Days its playbacks are kept (1–36500); absent or null: the
    /// server's `RETENTION_DAYS`.
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 1, maximum = 36500)]
    pub retention_days: Option<i64>,
    /// Bytes of stored clips kept for this camera (at least 1 MiB); beyond
    /// it the oldest unretained go first. Absent or null: no quota of its
    /// own (`RETENTION_MAX_BYTES` still applies to all).
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 1048576, maximum = 9223372036854775807i64)]
    pub retention_max_bytes: Option<i64>,
    /// After the camera's last event ends, seconds during which a new
    /// event joins its clip instead of starting another (0–300, default 0:
    /// never). The clip goes on for max(postRollSeconds, mergeSeconds)
    /// after the last end, so a flapping detector gives one clip.
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 300)]
    pub merge_seconds: Option<i64>,
    /// `off` (default): video copied as the camera sends it; `h264`: clips
    /// re-encoded to H.264 (for H.265 cameras), so every browser plays them.
    #[schema(value_type = Option<crate::views::TranscodeName>)]
    pub transcode: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCamera {
    /// At most 128 characters, not only whitespace, no control characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: Option<String>,
    #[schema(
        max_length = 2048,
        pattern = r"^rtsps?://(?:[A-Za-z0-9._~!$&'()*+,;=:%-]+@)?(?:[A-Za-z0-9._~-]+|\[(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:))\])(?::(?:[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(?:[/?#][\x21-\x7E]*)?$"
    )]
    pub rtsp_url: Option<String>,
    /// `null` clears it.
    #[serde(rename = "nChannelID", default, deserialize_with = "int::patch")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 2147483647)]
    pub n_channel_id: Option<Option<i64>>,
    /// Seconds of video before each event that its clip starts with
    /// (0–300; 0, the default, is off). Above 0 the camera is kept
    /// connected, and its events are RECORDING at once.
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 300)]
    pub pre_roll_seconds: Option<i64>,
    /// Seconds recorded after an event ends (0–300, default 0).
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 300)]
    pub post_roll_seconds: Option<i64>,
    /// `null` falls back to the server's `RETENTION_DAYS`.
    #[serde(default, deserialize_with = "int::patch")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 36500)]
    pub retention_days: Option<Option<i64>>,
    /// `null` removes the camera's own quota.
    #[serde(default, deserialize_with = "int::patch")]
    #[schema(value_type = Option<i64>, minimum = 1048576, maximum = 9223372036854775807i64)]
    pub retention_max_bytes: Option<Option<i64>>,
    /// Applies to events ending after the change.
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 300)]
    pub merge_seconds: Option<i64>,
    /// `off` or `h264`; applies to recordings started after the change.
    #[schema(value_type = Option<crate::views::TranscodeName>)]
    pub transcode: Option<String>,
}

fn name(raw: &str) -> ApiResult<CameraName> {
    CameraName::parse(raw).map_err(|e| ApiError::field("name", e))
}

fn url(raw: &str) -> ApiResult<RtspUrl> {
    RtspUrl::parse(raw).map_err(|e| ApiError::field("rtspUrl", e))
}

fn channel(v: i64) -> ApiResult<i32> {
    parse_channel(v).map_err(|e| ApiError::field("nChannelID", e))
}

fn retention(v: i64) -> ApiResult<RetentionDays> {
    RetentionDays::parse(v).map_err(|e| ApiError::field("retentionDays", e))
}

fn max_bytes(v: i64) -> ApiResult<u64> {
    vigil_domain::camera::parse_max_bytes("retentionMaxBytes", v)
        .map_err(|e| ApiError::field("retentionMaxBytes", e))
}

fn transcode(raw: &str) -> ApiResult<Transcode> {
    Transcode::parse(raw).map_err(|e| ApiError::field("transcode", e))
}

/// Pre- or post-roll seconds, for cameras and for one event.
pub(crate) fn roll(field: &str, v: i64) -> ApiResult<RollSeconds> {
    RollSeconds::parse(field, v).map_err(|e| ApiError::field(field, e))
}

/// List cameras.
#[utoipa::path(get, path = "/cameras", tag = "cameras", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ListView<CameraView>), (status = 400), (status = 401)))]
pub async fn list(
    _me: AuthUser,
    q: web::Query<PageQuery>,
    cameras: web::Data<dyn CameraRepo>,
    node: web::Data<ThisNode>,
) -> ApiResult<HttpResponse> {
    let page = q.page()?;
    let owners = node.owners().await?;
    Ok(
        HttpResponse::Ok().json(ListView::from_listed(cameras.list(page).await?, |c| {
            CameraView::owned(c, &owners)
        })),
    )
}

/// Add a camera.
#[utoipa::path(post, path = "/cameras", tag = "cameras", request_body = CreateCamera, security(("bearer" = [])),
    responses((status = 201, body = CameraView), (status = 400), (status = 403), (status = 401)))]
#[tracing::instrument(skip_all, fields(admin = %me.username, camera_id = tracing::field::Empty))]
pub async fn create(
    me: AuthUser,
    body: JsonBody<CreateCamera>,
    cameras: web::Data<dyn CameraRepo>,
    node: web::Data<ThisNode>,
    recorder: web::Data<dyn Recorder>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let b = body.0;
    let new = NewCamera {
        name: name(&b.name)?,
        rtsp_url: url(&b.rtsp_url)?,
        n_channel_id: b.n_channel_id.map(channel).transpose()?,
        pre_roll: roll("preRollSeconds", b.pre_roll_seconds.unwrap_or(0))?,
        post_roll: roll("postRollSeconds", b.post_roll_seconds.unwrap_or(0))?,
        retention: b.retention_days.map(retention).transpose()?,
        retention_max_bytes: b.retention_max_bytes.map(max_bytes).transpose()?,
        merge: roll("mergeSeconds", b.merge_seconds.unwrap_or(0))?,
        transcode: b
            .transcode
            .as_deref()
            .map(transcode)
            .transpose()?
            .unwrap_or_default(),
    };
    let cam = cameras.create(new).await?;
    tracing::Span::current().record("camera_id", tracing::field::display(cam.id));
    tracing::info!(rtsp_url = %cam.rtsp_url, "camera created");
    keep_warm(recorder.get_ref(), &cam).await;
    recorder.check_stream(&cam);
    Ok(HttpResponse::Created().json(CameraView::owned(cam, &node.owners().await?)))
}

/// Get a camera.
#[utoipa::path(get, path = "/cameras/{id}", tag = "cameras", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 200, body = CameraView), (status = 404), (status = 401)))]
pub async fn get(
    _me: AuthUser,
    id: web::Path<String>,
    cameras: web::Data<dyn CameraRepo>,
    node: web::Data<ThisNode>,
) -> ApiResult<HttpResponse> {
    let id: CameraId = path_id(&id, "camera")?;
    let cam = cameras
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("camera"))?;
    Ok(HttpResponse::Ok().json(CameraView::owned(cam, &node.owners().await?)))
}

/// Change a camera.
#[utoipa::path(patch, path = "/cameras/{id}", tag = "cameras", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), request_body = UpdateCamera, security(("bearer" = [])),
    responses((status = 200, body = CameraView), (status = 400), (status = 403), (status = 404), (status = 401)))]
#[tracing::instrument(skip_all, fields(admin = %me.username, camera_id = %id))]
pub async fn update(
    me: AuthUser,
    id: web::Path<String>,
    body: JsonBody<UpdateCamera>,
    cameras: web::Data<dyn CameraRepo>,
    node: web::Data<ThisNode>,
    recorder: web::Data<dyn Recorder>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let id: CameraId = path_id(&id, "camera")?;
    let b = body.0;
    let patch = CameraPatch {
        name: b.name.as_deref().map(name).transpose()?,
        rtsp_url: b.rtsp_url.as_deref().map(url).transpose()?,
        n_channel_id: b
            .n_channel_id
            .map(|c| c.map(channel).transpose())
            .transpose()?,
        pre_roll: b
            .pre_roll_seconds
            .map(|v| roll("preRollSeconds", v))
            .transpose()?,
        post_roll: b
            .post_roll_seconds
            .map(|v| roll("postRollSeconds", v))
            .transpose()?,
        retention: b
            .retention_days
            .map(|r| r.map(retention).transpose())
            .transpose()?,
        retention_max_bytes: b
            .retention_max_bytes
            .map(|r| r.map(max_bytes).transpose())
            .transpose()?,
        merge: b
            .merge_seconds
            .map(|v| roll("mergeSeconds", v))
            .transpose()?,
        transcode: b.transcode.as_deref().map(transcode).transpose()?,
    };
    let url_changed = patch.rtsp_url.is_some();
    let cam = cameras.update(id, patch).await?;
    keep_warm(recorder.get_ref(), &cam).await;
    if url_changed {
        recorder.check_stream(&cam);
    }
    Ok(HttpResponse::Ok().json(CameraView::owned(cam, &node.owners().await?)))
}

/// Delete a camera that has no events (409 otherwise).
#[utoipa::path(delete, path = "/cameras/{id}", tag = "cameras", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 204), (status = 403), (status = 404), (status = 409), (status = 401)))]
#[tracing::instrument(skip_all, fields(admin = %me.username, camera_id = %id))]
pub async fn delete(
    me: AuthUser,
    id: web::Path<String>,
    cameras: web::Data<dyn CameraRepo>,
    recorder: web::Data<dyn Recorder>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let id: CameraId = path_id(&id, "camera")?;
    if cameras.delete(id).await? {
        recorder.forget(id).await;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("camera"))
    }
}

/// Starts (or stops) the camera's pre-roll ring. The camera is stored
/// either way: a ring that cannot start now is started by the next event.
async fn keep_warm(recorder: &dyn Recorder, camera: &vigil_domain::Camera) {
    if let Err(e) = recorder.watch(camera).await {
        tracing::warn!(camera_id = %camera.id, error = %e.chain(), "cannot keep the camera warm for its pre-roll");
    }
}

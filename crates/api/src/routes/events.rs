//! `/events`: posted by detectors, NVRs and people. A recording type
//! (MOTION by default) starts a recording at once; the response never waits
//! for the camera.

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult},
    extract::{int, path_id, query_param, JsonBody},
    routes::{cameras::roll, PageQuery},
    views::{EventView, ListView},
};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use vigil_application::Recordings;
use vigil_domain::{
    camera::parse_channel, ports::EventRepo, CameraId, EventFilter, EventId, EventType, NewEvent,
    RecordingStatus,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateEvent {
    /// The camera; or `cameraIds` for one trigger on several (exactly one
    /// of the two).
    #[serde(default)]
    #[schema(value_type = uuid::Uuid)]
    pub camera_id: Option<String>,
    /// One event per camera, sharing a `groupId`: answered 201 with
    /// `{data: [event…], total}`, in the order given. 1 to 64 distinct
    /// cameras; any unknown one is a 404 and no event is created.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>, min_items = 1, max_items = 64)]
    pub camera_ids: Option<Vec<String>>,
    #[serde(rename = "type")]
    #[schema(value_type = crate::views::EventTypeName)]
    pub event_type: String,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Defaults to the camera's.
    #[serde(rename = "nChannelID", default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 2147483647)]
    pub n_channel_id: Option<i64>,
    /// When the detector saw it (RFC 3339), for a late or retried trigger:
    /// on a warm camera the clip then starts `preRollSeconds` before it,
    /// as far back as the camera's ring holds (`BACKDATE_MAX_SECONDS`).
    /// At most 24 h ago; later than now (beyond 5 s of clock skew) is a
    /// 400.
    #[schema(
        value_type = Option<String>,
        format = DateTime,
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
    )]
    pub occurred_at: Option<String>,
    /// This event's pre-roll instead of the camera's (0–300); it needs a
    /// warm camera (one with a pre-roll of its own), whose ring holds it.
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 300)]
    pub pre_roll_seconds: Option<i64>,
    /// This event's post-roll instead of the camera's (0–300).
    #[serde(default, deserialize_with = "int::opt")]
    #[schema(minimum = 0, maximum = 300)]
    pub post_roll_seconds: Option<i64>,
    /// The detector's own id for the event (1–128 printable ASCII
    /// characters, no spaces). A POST repeating it on the same camera is
    /// answered 200 with the existing event, and records nothing again:
    /// detectors retry.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[\x21-\x7E]{1,128}$")]
    pub external_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    #[param(value_type = Option<Uuid>)]
    pub camera_id: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<crate::views::EventTypeName>)]
    pub event_type: Option<String>,
    /// The events one trigger made on several cameras.
    #[param(value_type = Option<Uuid>)]
    pub group_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndView {
    pub ok: bool,
    pub event_id: Uuid,
    pub playback_id: Option<Uuid>,
    /// PROCESSING right after a stop; repeated calls report the current status.
    #[schema(value_type = Option<String>)]
    pub recording_status: Option<RecordingStatus>,
}

fn occurred_at(raw: &str) -> ApiResult<time::OffsetDateTime> {
    let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::field("occurredAt", "must be an RFC 3339 date-time"))?;
    NewEvent::parse_occurred_at(at, time::OffsetDateTime::now_utc())
        .map_err(|e| ApiError::field("occurredAt", e))
}

fn parse_type(raw: &str) -> ApiResult<EventType> {
    raw.parse::<EventType>()
        .map_err(|_| ApiError::field("type", format!("must be one of {}", EventType::names())))
}

/// What `POST /events` answers: the event, or for `cameraIds` the events
/// of the group.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CreatedEvents {
    One(EventView),
    Group(ListView<EventView>),
}

/// Most cameras one trigger may name.
const MAX_GROUP: usize = 64;

fn camera_id(raw: &str, field: &str) -> ApiResult<CameraId> {
    raw.parse()
        .map_err(|_| ApiError::field(field, "not a valid UUID"))
}

/// Post an event; a recording type starts recording its camera (or each of
/// `cameraIds`).
#[utoipa::path(post, path = "/events", tag = "events", request_body = CreateEvent, security(("bearer" = [])),
    responses((status = 201, body = CreatedEvents), (status = 200, body = CreatedEvents, description = "every event named by `externalId` existed already: the existing ones, nothing recorded again"), (status = 400), (status = 403), (status = 404, description = "cameraId (or one of cameraIds) names no camera (the error names the field)"), (status = 401)))]
#[tracing::instrument(skip_all, fields(event_id = tracing::field::Empty, camera_id = ?body.0.camera_id, event_type = %body.0.event_type))]
pub async fn create(
    me: AuthUser,
    body: JsonBody<CreateEvent>,
    flow: web::Data<Recordings>,
) -> ApiResult<HttpResponse> {
    me.require_write()?;
    let b = body.0;
    let cameras = match (&b.camera_id, &b.camera_ids) {
        (Some(one), None) => vec![camera_id(one, "cameraId")?],
        (None, Some(many)) => {
            if many.is_empty() || many.len() > MAX_GROUP {
                return Err(ApiError::field(
                    "cameraIds",
                    format!("must name 1 to {MAX_GROUP} cameras"),
                ));
            }
            let ids = many
                .iter()
                .map(|c| camera_id(c, "cameraIds"))
                .collect::<ApiResult<Vec<_>>>()?;
            let mut seen = std::collections::HashSet::new();
            if !ids.iter().all(|id| seen.insert(*id)) {
                return Err(ApiError::field("cameraIds", "names a camera twice"));
            }
            ids
        }
        _ => {
            return Err(ApiError::field(
                "cameraId",
                "give exactly one of cameraId and cameraIds",
            ))
        }
    };
    let group = b.camera_ids.is_some();
    let new = NewEvent {
        camera_id: cameras[0],
        event_type: parse_type(&b.event_type)?,
        description: NewEvent::parse_description(b.description)
            .map_err(|e| ApiError::field("description", e))?,
        n_channel_id: b
            .n_channel_id
            .map(|c| parse_channel(c).map_err(|e| ApiError::field("nChannelID", e)))
            .transpose()?,
        occurred_at: b.occurred_at.as_deref().map(occurred_at).transpose()?,
        group_id: None,
        pre_roll: b
            .pre_roll_seconds
            .map(|v| roll("preRollSeconds", v))
            .transpose()?,
        post_roll: b
            .post_roll_seconds
            .map(|v| roll("postRollSeconds", v))
            .transpose()?,
        external_id: b
            .external_id
            .as_deref()
            .map(|x| NewEvent::parse_external_id(x).map_err(|e| ApiError::field("externalId", e)))
            .transpose()?,
    };
    // 201 for what this POST created; 200 when every event it names was
    // there already (a retried `externalId`).
    let status = |created: bool| match created {
        true => actix_web::http::StatusCode::CREATED,
        false => actix_web::http::StatusCode::OK,
    };
    if !group {
        let posted = flow.create_event(new).await?;
        let event = posted.event;
        tracing::Span::current().record("event_id", tracing::field::display(event.id));
        tracing::info!(playback_id = ?event.playback_id.map(|p| p.to_string()), created = posted.created, "event created");
        return Ok(HttpResponse::build(status(posted.created))
            .json(CreatedEvents::One(EventView::from(event))));
    }
    let posted = flow.create_group(new, &cameras).await?;
    let created = posted.iter().any(|p| p.created);
    tracing::info!(events = posted.len(), group_id = ?posted.first().and_then(|p| p.event.group_id), "events created for a group of cameras");
    Ok(
        HttpResponse::build(status(created)).json(CreatedEvents::Group(ListView {
            total: posted.len() as u64,
            data: posted
                .into_iter()
                .map(|p| EventView::from(p.event))
                .collect(),
        })),
    )
}

/// List events, newest first.
#[utoipa::path(get, path = "/events", tag = "events", params(EventQuery, PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ListView<EventView>), (status = 400), (status = 401)))]
pub async fn list(
    _me: AuthUser,
    q: web::Query<EventQuery>,
    paging: web::Query<PageQuery>,
    events: web::Data<dyn EventRepo>,
) -> ApiResult<HttpResponse> {
    let filter = EventFilter {
        camera_id: query_param::<CameraId>(q.camera_id.as_deref(), "cameraId")?,
        event_type: q.event_type.as_deref().map(parse_type).transpose()?,
        group_id: query_param::<uuid::Uuid>(q.group_id.as_deref(), "groupId")?,
    };
    let page = paging.page()?;
    Ok(HttpResponse::Ok().json(ListView::from_listed(
        events.list(filter, page).await?,
        EventView::from,
    )))
}

/// Get an event.
#[utoipa::path(get, path = "/events/{id}", tag = "events", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 200, body = EventView), (status = 404), (status = 401)))]
pub async fn get(
    _me: AuthUser,
    id: web::Path<String>,
    events: web::Data<dyn EventRepo>,
) -> ApiResult<HttpResponse> {
    let id: EventId = path_id(&id, "event")?;
    let e = events
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    Ok(HttpResponse::Ok().json(EventView::from(e)))
}

/// End an event: stop its recording, which is then probed and uploaded.
/// Calling it again answers with the current status.
#[utoipa::path(post, path = "/events/{id}/end", tag = "events", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 200, body = EndView), (status = 403), (status = 404), (status = 401)))]
#[tracing::instrument(skip_all, fields(event_id = %id))]
pub async fn end(
    me: AuthUser,
    id: web::Path<String>,
    flow: web::Data<Recordings>,
) -> ApiResult<HttpResponse> {
    me.require_write()?;
    let id: EventId = path_id(&id, "event")?;
    let (event, playback) = flow.end_event(id).await?;
    Ok(HttpResponse::Ok().json(EndView {
        ok: true,
        event_id: event.id.as_uuid(),
        playback_id: event.playback_id.map(|p| p.as_uuid()),
        recording_status: playback.map(|p| p.status),
    }))
}

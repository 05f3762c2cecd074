//! `GET /openapi.json`, generated from the handlers' annotations.

use crate::{error, routes, views};
use actix_web::HttpResponse;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Vigil", description = "Event-triggered camera recording: events start and stop RTSP recordings; clips are uploaded to object storage."),
    paths(
        routes::health::health, routes::health::ready, routes::metrics::metrics,
        routes::login::login,
        routes::users::list, routes::users::create, routes::users::get, routes::users::update, routes::users::delete, routes::users::revoke_tokens,
        routes::cameras::list, routes::cameras::create, routes::cameras::get, routes::cameras::update, routes::cameras::delete,
        routes::events::create, routes::events::list, routes::events::get, routes::events::end,
        routes::playbacks::list, routes::stream::stream, routes::playbacks::get, routes::playbacks::update, routes::playbacks::stop, routes::playbacks::delete,
        routes::shares::create, routes::shares::list, routes::shares::delete, routes::shares::open,
        routes::webhooks::create, routes::webhooks::list, routes::webhooks::get, routes::webhooks::delete,
        routes::webhooks::ping, routes::webhooks::deliveries, routes::nodes::list,
        routes::media::get,
    ),
    components(schemas(
        error::ErrorBody, error::ErrorDetail,
        views::RecordingStatusName, views::EventTypeName, views::RoleName, views::TranscodeName, views::StreamStateName,
        views::UserView, views::CameraView, views::StreamView, views::CameraRef, views::EventView, views::PlaybackView, views::PlaybackEventView,
        routes::login::LoginRequest, routes::login::TokenView,
        routes::users::CreateUser, routes::users::UpdateUser,
        routes::cameras::CreateCamera, routes::cameras::UpdateCamera,
        routes::events::CreateEvent, routes::events::EndView, routes::playbacks::UpdatePlayback,
        routes::shares::CreateShare, routes::shares::CreatedShare, routes::shares::ShareView,
        routes::webhooks::CreateWebhook, routes::webhooks::WebhookView, routes::webhooks::CreatedWebhook,
        routes::webhooks::DeliveryView, routes::webhooks::PingView, routes::webhooks::WebhookEventName,
        routes::nodes::NodeView,
        routes::health::HealthView, routes::health::ReadyView,
    )),
    modifiers(&BearerAuth, &OneCameraOrSeveral, &DistinctWebhookEvents),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `POST /events` takes exactly one of `cameraId` and `cameraIds`, which
/// the derived schema can't say: it becomes `allOf` the fields and `oneOf`
/// the two ways to name cameras, so a client (and the fuzzer) knows that
/// neither and both are refused. `cameraIds` are distinct.
struct OneCameraOrSeveral;

impl Modify for OneCameraOrSeveral {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema},
            RefOr,
        };
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(fields))) = components.schemas.get("CreateEvent") else {
            return;
        };
        let mut fields = fields.clone();
        distinct(&mut fields, "cameraIds");
        let way = |field: &str| ObjectBuilder::new().required(field).build();
        let body = AllOfBuilder::new()
            .item(fields)
            .item(
                OneOfBuilder::new()
                    .item(way("cameraId"))
                    .item(way("cameraIds")),
            )
            .build();
        components
            .schemas
            .insert("CreateEvent".into(), RefOr::T(Schema::AllOf(body)));
    }
}

/// Marks an array property's items distinct (`uniqueItems`, which the
/// derive can't set).
fn distinct(object: &mut utoipa::openapi::schema::Object, property: &str) {
    use utoipa::openapi::{schema::Schema, RefOr};
    if let Some(RefOr::T(Schema::Array(a))) = object.properties.get_mut(property) {
        a.unique_items = true;
    }
}

/// `POST /webhooks` names each kind of news once.
struct DistinctWebhookEvents;

impl Modify for DistinctWebhookEvents {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{schema::Schema, RefOr};
        if let Some(RefOr::T(Schema::Object(o))) = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("CreateWebhook"))
        {
            distinct(o, "events");
        }
    }
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

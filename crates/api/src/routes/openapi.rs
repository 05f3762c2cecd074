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
        routes::health::HealthView, routes::health::ReadyView,
    )),
    modifiers(&BearerAuth),
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

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

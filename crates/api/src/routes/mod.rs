//! Routes, one file per resource. `configure` is the whole URL map.

pub mod cameras;
pub mod events;
pub mod health;
pub mod login;
pub mod openapi;
pub mod playbacks;
pub mod users;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health::health))
        .route("/ready", web::get().to(health::ready))
        .route("/openapi.json", web::get().to(openapi::document))
        .route("/auth/login", web::post().to(login::login))
        .service(
            web::resource("/users")
                .route(web::get().to(users::list))
                .route(web::post().to(users::create)),
        )
        .service(
            web::resource("/users/{id}")
                .route(web::get().to(users::get))
                .route(web::patch().to(users::update))
                .route(web::delete().to(users::delete)),
        )
        .service(
            web::resource("/cameras")
                .route(web::get().to(cameras::list))
                .route(web::post().to(cameras::create)),
        )
        .service(
            web::resource("/cameras/{id}")
                .route(web::get().to(cameras::get))
                .route(web::patch().to(cameras::update))
                .route(web::delete().to(cameras::delete)),
        )
        .service(
            web::resource("/events")
                .route(web::get().to(events::list))
                .route(web::post().to(events::create)),
        )
        .route("/events/{id}", web::get().to(events::get))
        .route("/events/{id}/end", web::post().to(events::end))
        .route("/playbacks", web::get().to(playbacks::list))
        .service(
            web::resource("/playbacks/{id}")
                .route(web::get().to(playbacks::get))
                .route(web::delete().to(playbacks::delete)),
        )
        .route("/playbacks/{id}/stop", web::post().to(playbacks::stop));
}

/// `limit` (1–500, default 50) and `offset` (default 0).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    #[param(value_type = Option<i64>)]
    pub offset: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> crate::error::ApiResult<vigil_domain::Page> {
        page_of(self.limit.as_deref(), self.offset.as_deref())
    }
}

pub(crate) fn page_of(
    limit: Option<&str>,
    offset: Option<&str>,
) -> crate::error::ApiResult<vigil_domain::Page> {
    use crate::{error::ApiError, extract::query_param};
    let limit = query_param::<i64>(limit, "limit")?;
    let offset = query_param::<i64>(offset, "offset")?;
    vigil_domain::Page::parse(limit, offset).map_err(|e| {
        let field = if e.starts_with("limit") { "limit" } else { "offset" };
        ApiError::field(field, e)
    })
}

//! Routes, one file per resource. `configure` is the whole URL map.

pub mod cameras;
pub mod console;
pub mod events;
pub mod health;
pub mod login;
pub mod media;
pub mod metrics;
pub mod nodes;
pub mod openapi;
pub mod playbacks;
pub mod shares;
pub mod stream;
pub mod users;
pub mod webhooks;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(console::root)))
        // NormalizePath trims the trailing slash: `/ui/` arrives as `/ui`.
        .service(web::resource("/ui").route(web::get().to(console::index)))
        .service(web::resource("/ui/assets/{name}").route(web::get().to(console::asset)))
        .service(web::resource("/ui/playbacks/{id}").route(web::get().to(console::index)))
        .service(web::resource("/ui/admin").route(web::get().to(console::index)))
        .service(web::resource("/health").route(web::get().to(health::health)))
        .service(web::resource("/ready").route(web::get().to(health::ready)))
        .service(web::resource("/metrics").route(web::get().to(metrics::metrics)))
        .service(web::resource("/openapi.json").route(web::get().to(openapi::document)))
        .service(web::resource("/auth/login").route(web::post().to(login::login)))
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
            web::resource("/users/{id}/revoke-tokens").route(web::post().to(users::revoke_tokens)),
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
        .service(web::resource("/events/{id}").route(web::get().to(events::get)))
        .service(web::resource("/events/{id}/end").route(web::post().to(events::end)))
        .service(web::resource("/playbacks").route(web::get().to(playbacks::list)))
        .service(web::resource("/playbacks/stream").route(web::get().to(stream::stream)))
        .service(
            web::resource("/playbacks/{id}")
                .route(web::get().to(playbacks::get))
                .route(web::patch().to(playbacks::update))
                .route(web::delete().to(playbacks::delete)),
        )
        .service(web::resource("/playbacks/{id}/stop").route(web::post().to(playbacks::stop)))
        .service(
            web::resource("/playbacks/{id}/shares")
                .route(web::post().to(shares::create))
                .route(web::get().to(shares::list)),
        )
        .service(web::resource("/shares/{id}").route(web::delete().to(shares::delete)))
        .service(
            web::resource("/webhooks")
                .route(web::post().to(webhooks::create))
                .route(web::get().to(webhooks::list)),
        )
        .service(
            web::resource("/webhooks/{id}")
                .route(web::get().to(webhooks::get))
                .route(web::delete().to(webhooks::delete)),
        )
        .service(web::resource("/webhooks/{id}/ping").route(web::post().to(webhooks::ping)))
        .service(web::resource("/nodes").route(web::get().to(nodes::list)))
        .service(
            web::resource("/webhooks/{id}/deliveries").route(web::get().to(webhooks::deliveries)),
        )
        .service(web::resource("/s/{token}").route(web::get().to(shares::open)))
        .service(web::resource("/media/{key:.+}").route(web::get().to(media::get)));
}

/// `limit` (1–500, default 50) and `offset` (0 up to 2^63 − 1, default 0):
/// the bounds the document declares are the ones `Page::parse` enforces.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// Rows to skip.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9223372036854775807i64)]
    pub offset: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> crate::error::ApiResult<vigil_domain::Page> {
        page_of(self.limit.as_deref(), self.offset.as_deref())
    }
}

fn page_of(
    limit: Option<&str>,
    offset: Option<&str>,
) -> crate::error::ApiResult<vigil_domain::Page> {
    use crate::{error::ApiError, extract::query_param};
    let limit = query_param::<i64>(limit, "limit")?;
    let offset = query_param::<i64>(offset, "offset")?;
    vigil_domain::Page::parse(limit, offset).map_err(|e| {
        let field = if e.starts_with("limit") {
            "limit"
        } else {
            "offset"
        };
        ApiError::field(field, e)
    })
}

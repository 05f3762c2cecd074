//! The web console: `GET /` leads to `/ui/`; `/ui/…` serves one page whose
//! script draws every screen. The assets are compiled into the binary, and
//! a strict Content-Security-Policy keeps the page to its own origin (media
//! and thumbnails may come from the object store's presigned URLs).

use actix_web::{http::header, web, HttpResponse};

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/app.css");

/// Scripts, styles and API calls from this origin only; no inline code.
/// Clips and thumbnails may be presigned URLs of the object store.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
img-src 'self' data: http: https:; media-src 'self' blob: http: https:; form-action 'self'; \
base-uri 'none'; frame-ancestors 'none'";

fn page(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `GET /`: to the console.
pub async fn root() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/ui/"))
        .finish()
}

/// `GET /ui/` and every screen under it (`/ui/playbacks/{id}`, `/ui/admin`):
/// the same page; its script picks the screen from the path.
pub async fn index() -> HttpResponse {
    page("text/html; charset=utf-8", INDEX)
}

/// `GET /ui/assets/{name}`.
pub async fn asset(name: web::Path<String>) -> HttpResponse {
    match name.as_str() {
        "app.js" => page("text/javascript; charset=utf-8", SCRIPT),
        "app.css" => page("text/css; charset=utf-8", STYLE),
        _ => actix_web::ResponseError::error_response(&crate::error::ApiError::not_found("asset")),
    }
}

//! CORS: off unless `CORS_ORIGINS` lists origins; then a browser app on a
//! listed origin can send the bearer header and read the SSE stream.

use crate::helpers::{spawn_app, spawn_app_with, Options};
use reqwest::{Method, StatusCode};

const APP: &str = "https://console.example.org";

fn preflight(app: &crate::helpers::TestApp, path: &str, origin: &str) -> reqwest::RequestBuilder {
    app.client
        .request(Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
}

/// A GET from the app's page on `APP`, with the token when given.
async fn get_from_app(
    app: &crate::helpers::TestApp,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut r = app.client.get(app.url(path)).header("Origin", APP);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn without_cors_origins_there_are_no_cors_headers() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let r = get_from_app(&app, "/events", Some(&t)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = preflight(&app, "/events", APP).send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_listed_origin_passes_preflight_and_reads_with_a_bearer_token() {
    let app = spawn_app_with(Options {
        cors_origins: vec![APP.into()],
        ..Options::default()
    })
    .await;
    let t = app.admin_token().await;

    let r = preflight(&app, "/playbacks/stream", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], APP);
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase()
        .contains("authorization"));
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("GET"));

    // The actual request: JSON and the SSE stream both carry the header.
    let r = get_from_app(&app, "/events", Some(&t)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], APP);
    let r = get_from_app(&app, "/playbacks/stream", Some(&t)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], APP);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    // An error answer is readable by the app too.
    let r = get_from_app(&app, "/events", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["access-control-allow-origin"], APP);
}

#[tokio::test]
async fn an_unlisted_origin_is_refused_preflight() {
    let app = spawn_app_with(Options {
        cors_origins: vec![APP.into()],
        ..Options::default()
    })
    .await;
    let r = preflight(&app, "/events", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
}

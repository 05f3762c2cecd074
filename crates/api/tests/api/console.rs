//! The console's pages and assets as the server hands them out: embedded,
//! behind a strict Content-Security-Policy, with no token needed to load
//! the page itself (the API calls it makes carry the token).

use crate::helpers::{error_code, spawn_app};
use reqwest::{redirect::Policy, StatusCode};

#[tokio::test]
async fn root_leads_to_the_console_and_its_screens_share_one_page() {
    let app = spawn_app().await;
    let no_follow = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let r = no_follow.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["location"], "/ui/");

    let mut pages = Vec::new();
    for path in [
        "/ui/",
        "/ui",
        "/ui/playbacks/0b1c2d3e-0000-4000-8000-000000000000",
        "/ui/admin",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        pages.push(r.text().await.unwrap());
    }
    assert!(pages.windows(2).all(|w| w[0] == w[1]));
    let page = &pages[0];
    assert!(page.contains("/ui/assets/app.js") && page.contains("/ui/assets/app.css"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from another origin"
    );
}

#[tokio::test]
async fn assets_are_served_from_the_binary() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/ui/assets/app.js", "text/javascript"),
        ("/ui/assets/app.css", "text/css"),
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body = r.text().await.unwrap();
        assert!(body.len() > 1000, "{path}");
        assert!(
            !body.contains("https://") && !body.contains("http://"),
            "{path} loads nothing from elsewhere"
        );
    }
    error_code(
        app.client
            .get(app.url("/ui/assets/nope.js"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

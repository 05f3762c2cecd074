//! The web console in a real browser: headless Chromium driven through
//! chromedriver (WebDriver), against the `vigil` binary recording the test
//! camera. Logs in through the form, sees the camera, watches a playback go
//! RECORDING then COMPLETED without a reload, plays the clip, checks that a
//! VIEWER gets no delete control, and that the page loaded nothing from
//! another origin and logged no error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
#[path = "../../recorder/tests/support/camera.rs"]
mod camera;
mod server;

use browser::Driver;
use camera::TestCamera;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use server::{Server, PASSWORD};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

async fn api(base: &str, token: Option<&str>, method: &str, path: &str, body: Value) -> Value {
    let c = reqwest::Client::new();
    let mut r = c.request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if !body.is_null() {
        r = r.json(&body);
    }
    let r = r.send().await.unwrap();
    assert!(r.status().is_success(), "{method} {path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

async fn token(base: &str, user: &str, password: &str) -> String {
    let v = api(
        base,
        None,
        "POST",
        "/auth/login",
        json!({"username": user, "password": password}),
    )
    .await;
    v["accessToken"].as_str().unwrap().to_owned()
}

async fn log_in(b: &Client, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/")).await.unwrap();
    let form = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("login"))
        .await
        .unwrap();
    assert!(b.current_url().await.unwrap().path().starts_with("/ui"));
    form.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    form.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    form.find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Saves a screenshot as `name`.png when VIGIL_CONSOLE_SCREENSHOTS names a
/// folder (how the pictures in docs/ are made).
async fn snap(b: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("VIGIL_CONSOLE_SCREENSHOTS") {
        let png = b.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// Waits until `script` (a JS expression) is true in the page.
async fn until(b: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = b
            .execute(&format!("return !!({script});"), vec![])
            .await
            .unwrap();
        if v == Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "never true: {what} ({script})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_console_shows_cameras_live_activity_and_plays_clips() {
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(vec![("DATA_DIR".into(), data.path().display().to_string())]);
    let base = server.base.clone();
    let admin = token(&base, "admin", PASSWORD).await;
    let camera = api(
        &base,
        Some(&admin),
        "POST",
        "/cameras",
        json!({"name": "Front gate", "rtspUrl": cam.url()}),
    )
    .await;

    let driver = Driver::start().await;
    let b = driver.browser().await;

    // Log in through the form; the first page shows the camera.
    log_in(&b, &base, "admin", PASSWORD).await;
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!(
            "#cameras [data-camera='{}']",
            camera["id"].as_str().unwrap()
        )))
        .await
        .unwrap();
    let text = b
        .find(Locator::Id("cameras"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("Front gate"), "{text}");
    let url = b.current_url().await.unwrap();
    assert!(
        !url.as_str().contains("token") && url.query().is_none(),
        "no token in the URL: {url}"
    );

    // An event posted through the API shows up RECORDING, then COMPLETED,
    // with no reload (the marker set on the page survives).
    b.execute("window.__noReload = 1; return 0;", vec![])
        .await
        .unwrap();
    let ev = api(
        &base,
        Some(&admin),
        "POST",
        "/events",
        json!({"cameraId": camera["id"], "type": "MOTION", "description": "Person at the gate"}),
    )
    .await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    let row = format!("document.querySelector(\"#activity-rows tr[data-playback='{pb}']\")");
    until(
        &b,
        "RECORDING shown",
        &format!("{row} && {row}.dataset.status === 'RECORDING'"),
    )
    .await;
    until(
        &b,
        "camera marked recording",
        "document.querySelector(\"#cameras [data-role='recording']\")",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await; // a clip of about 3 s
    let end = format!("/events/{}/end", ev["id"].as_str().unwrap());
    api(&base, Some(&admin), "POST", &end, Value::Null).await;
    until(
        &b,
        "COMPLETED shown",
        &format!("{row} && {row}.dataset.status === 'COMPLETED'"),
    )
    .await;
    until(&b, "no reload", "window.__noReload === 1").await;
    // What the camera sends, once its probe has measured it.
    until(
        &b,
        "the camera's stream shown",
        "(document.querySelector(\"#cameras [data-role='stream']\") || {}).textContent?.includes('keyframe every')",
    )
    .await;
    snap(&b, "console-activity").await;

    // Its page plays the clip.
    b.find(Locator::Css(&format!(
        "#activity-rows tr[data-playback='{pb}'] a"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("player"))
        .await
        .unwrap();
    assert_eq!(
        b.current_url().await.unwrap().path(),
        format!("/ui/playbacks/{pb}")
    );
    b.execute(
        "const v = document.getElementById('player'); v.muted = true; v.play(); return 0;",
        vec![],
    )
    .await
    .unwrap();
    until(
        &b,
        "the clip plays",
        "document.getElementById('player').currentTime > 0.5",
    )
    .await;
    // The clip was written while it recorded (its index last) and stored
    // with its index moved first; it seeks.
    let stored = std::fs::read(
        data.path()
            .join(format!("objects/playbacks/{pb}/video.mp4")),
    )
    .unwrap();
    let at = |tag: &[u8]| stored.windows(4).position(|w| w == tag).unwrap();
    assert!(at(b"moov") < at(b"mdat"), "faststart");
    b.execute(
        "const v = document.getElementById('player'); v.pause(); window.__seeked = 0; \
         v.addEventListener('seeked', () => { window.__seeked = v.currentTime; }, { once: true }); \
         v.currentTime = v.duration - 1; return 0;",
        vec![],
    )
    .await
    .unwrap();
    until(
        &b,
        "the clip seeks near its end",
        "window.__seeked > 1.5 && document.getElementById('player').error === null",
    )
    .await;
    snap(&b, "console-playback").await;
    assert!(
        b.find(Locator::Id("delete")).await.is_ok(),
        "an ADMIN may delete"
    );

    // Nothing came from another origin, and the console logged no error.
    let foreign = b
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(foreign, json!([]), "requests to other origins");
    let errors: Vec<Value> = driver
        .console_log(&b)
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:?}");

    // A VIEWER sees the playback but no write control.
    api(
        &base,
        Some(&admin),
        "POST",
        "/users",
        json!({"username": "watcher", "password": "watcher-pass-1", "role": "VIEWER"}),
    )
    .await;
    b.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    log_in(&b, &base, "watcher", "watcher-pass-1").await;
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("cameras"))
        .await
        .unwrap();
    b.goto(&format!("{base}/ui/playbacks/{pb}")).await.unwrap();
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("player"))
        .await
        .unwrap();
    assert!(
        b.find(Locator::Id("delete")).await.is_err(),
        "no delete for a VIEWER"
    );
    assert!(
        b.find(Locator::Id("stop")).await.is_err(),
        "no stop for a VIEWER"
    );
    let admin_link_hidden = b
        .execute(
            "return document.getElementById('nav-admin').hidden;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(admin_link_hidden, json!(true));

    b.close().await.unwrap();
    drop(server);
}

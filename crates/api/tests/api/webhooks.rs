use crate::{
    helpers::{error_code, spawn_app, spawn_app_with, Options, TestApp},
    receiver::{signature_ok, Receiver},
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigil_persistence::testing::Backend;

async fn receiving_app(backend: Backend) -> TestApp {
    spawn_app_with(Options {
        backend,
        webhook_allow_private: true,
        ..Options::default()
    })
    .await
}

async fn add_hook(app: &TestApp, t: &str, body: Value) -> Value {
    let r = app.post(t, "/webhooks", body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

/// ADMIN only; the secret is in the creation's answer and nowhere else;
/// list, get and delete.
#[tokio::test]
async fn webhooks_are_admins_and_their_secret_is_shown_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, op) = app.user_with_role("OPERATOR").await;
    let body = json!({"url": "http://93.184.216.34/hook", "description": "automations"});
    let r = app.post(&op, "/webhooks", body.clone()).await;
    error_code(r, StatusCode::FORBIDDEN).await;
    let made = add_hook(&app, &admin, body).await;
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{made}");
    assert_eq!(
        made["events"].as_array().unwrap().len(),
        5,
        "all by default"
    );
    assert_eq!(made["description"], "automations");
    let id = made["id"].as_str().unwrap();
    let one = app.get_json(&admin, &format!("/webhooks/{id}")).await;
    let all = app.get_json(&admin, "/webhooks").await;
    assert_eq!(all["total"], 1);
    for shown in [&one, &all] {
        assert!(
            !shown.to_string().contains(secret),
            "secret shown again: {shown}"
        );
    }
    assert_eq!(one["url"], "http://93.184.216.34/hook");
    let r = app.get(&op, "/webhooks").await;
    error_code(r, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.delete(&admin, &format!("/webhooks/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let r = app.get(&admin, &format!("/webhooks/{id}")).await;
    error_code(r, StatusCode::NOT_FOUND).await;
}

/// SSRF: without WEBHOOK_ALLOW_PRIVATE, loopback, private, link-local and
/// metadata targets are refused (as literals and as names), as are other
/// schemes and unknown kinds of news.
#[tokio::test]
async fn private_targets_and_other_schemes_are_refused() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    for (url, field) in [
        ("http://127.0.0.1:8123/api/webhook/x", "url"),
        ("http://localhost/hook", "url"),
        ("http://[::1]/hook", "url"),
        ("http://10.0.0.7/hook", "url"),
        ("http://192.168.1.2/hook", "url"),
        ("http://169.254.169.254/latest/meta-data/", "url"),
        ("http://[fd00:ec2::254]/", "url"),
        ("http://[::ffff:127.0.0.1]/", "url"),
        ("ftp://93.184.216.34/hook", "url"),
        ("file:///etc/passwd", "url"),
        ("http://user:pw@93.184.216.34/", "url"),
    ] {
        let r = app.post(&t, "/webhooks", json!({"url": url})).await;
        let e = error_code(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(e["field"], field, "{url}: {e}");
    }
    for events in [
        json!([]),
        json!(["ping"]),
        json!(["playback.deleted"]),
        json!(["event.created", "event.created"]),
    ] {
        let r = app
            .post(
                &t,
                "/webhooks",
                json!({"url": "http://93.184.216.34/", "events": events}),
            )
            .await;
        let e = error_code(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(e["field"], "events", "{events}: {e}");
    }
    assert_eq!(app.get_json(&t, "/webhooks").await["total"], 0);
}

/// `playback.completed` reaches a receiver that answers 500, then a
/// redirect (not followed), then 200: three attempts of one delivery, with
/// the same `Vigil-Delivery`, each signed as the receiver checks it, the
/// body the playback as the API shows it; the attempts listed newest first.
async fn a_failed_delivery_is_retried_until_taken(backend: Backend) {
    let app = receiving_app(backend).await;
    let t = app.admin_token().await;
    let rx = Receiver::start(vec![500, 302]).await;
    let hook = add_hook(
        &app,
        &t,
        json!({"url": rx.url, "events": ["playback.completed"]}),
    )
    .await;
    let secret = hook["secret"].as_str().unwrap();
    let cam = app.create_camera("Gate").await;
    let ev: Value = app
        .post_event(&t, cam["id"].as_str().unwrap(), "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let pb = ev["playbackId"].as_str().unwrap();
    app.post_empty(&t, &format!("/events/{}/end", ev["id"].as_str().unwrap()))
        .await;
    let got = rx.wait_for(3).await;
    let delivery = got[0].headers["vigil-delivery"].clone();
    for r in &got {
        assert!(signature_ok(secret, r), "signature checks: {r:?}");
        assert!(!signature_ok("whsec_other", r), "and only with its secret");
        assert_eq!(r.headers["vigil-event"], "playback.completed");
        assert_eq!(
            r.headers["vigil-delivery"], delivery,
            "the same on every retry"
        );
        assert_eq!(r.headers["content-type"], "application/json");
        let body = r.json();
        assert_eq!(body["id"], delivery.as_str());
        assert_eq!(body["type"], "playback.completed");
        assert_eq!(body["data"]["id"], pb);
        assert_eq!(body["data"]["recordingStatus"], "COMPLETED");
        assert!(body["data"]["videoUrl"].is_string(), "{body}");
        assert!(body["createdAt"].is_string());
    }
    let attempts = loop {
        let a = app
            .get_json(
                &t,
                &format!("/webhooks/{}/deliveries", hook["id"].as_str().unwrap()),
            )
            .await;
        if a["total"] == 3 {
            break a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let rows = attempts["data"].as_array().unwrap();
    let seen: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["attempt"].as_u64().unwrap(),
                r["statusCode"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, vec![(3, 200), (2, 302), (1, 500)], "{attempts}");
    assert!(rows[0]["error"].is_null());
    assert_eq!(rows[2]["error"], "the receiver answered 500");
    for r in rows {
        assert_eq!(r["id"], delivery.as_str());
        assert_eq!(r["type"], "playback.completed");
        assert_eq!(r["playbackId"], pb);
    }
    // Delivered once: no fourth request.
    assert_eq!(rx.received().len(), 3);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_taken_on_sqlite() {
    a_failed_delivery_is_retried_until_taken(Backend::Sqlite).await
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_taken_on_postgres() {
    a_failed_delivery_is_retried_until_taken(Backend::Postgres).await
}

/// Every kind a webhook asks for, in order, for one event's life; a ping
/// is delivered whatever it asks for; another webhook asking for nothing
/// of this hears nothing.
#[tokio::test]
async fn an_events_life_is_told_in_order_and_a_ping_arrives() {
    let app = receiving_app(Backend::Sqlite).await;
    let t = app.admin_token().await;
    let rx = Receiver::start(Vec::new()).await;
    let quiet = Receiver::start(Vec::new()).await;
    let hook = add_hook(&app, &t, json!({"url": rx.url})).await;
    let other = add_hook(
        &app,
        &t,
        json!({"url": quiet.url, "events": ["playback.failed"]}),
    )
    .await;
    let cam = app.create_camera("Gate").await;
    let ev: Value = app
        .post_event(&t, cam["id"].as_str().unwrap(), "MOTION")
        .await
        .json()
        .await
        .unwrap();
    app.post_empty(&t, &format!("/events/{}/end", ev["id"].as_str().unwrap()))
        .await;
    let got = rx.wait_for(4).await;
    let mut kinds: Vec<String> = got
        .iter()
        .map(|r| r.headers["vigil-event"].clone())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "event.created",
            "event.ended",
            "playback.completed",
            "playback.recording"
        ],
        "{got:?}"
    );
    let created = got
        .iter()
        .find(|r| r.headers["vigil-event"] == "event.created")
        .unwrap();
    assert_eq!(created.json()["data"]["id"], ev["id"]);
    let r = app
        .post_empty(
            &t,
            &format!("/webhooks/{}/ping", other["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let ping: Value = r.json().await.unwrap();
    let heard = quiet.wait_for(1).await;
    assert_eq!(heard.len(), 1, "only the ping: {heard:?}");
    assert_eq!(heard[0].headers["vigil-event"], "ping");
    assert_eq!(
        heard[0].headers["vigil-delivery"],
        ping["deliveryId"].as_str().unwrap()
    );
    assert!(signature_ok(other["secret"].as_str().unwrap(), &heard[0]));
    let _ = hook;
}

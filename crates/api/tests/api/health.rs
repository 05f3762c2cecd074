use crate::helpers::spawn_app;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn health_is_ok_without_auth() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
}

#[tokio::test]
async fn ready_reports_each_dependency() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["checks"]["database"], "ok");
    assert_eq!(v["checks"]["storage"], "ok");
}

#[tokio::test]
async fn ready_names_the_failed_dependency() {
    let app = spawn_app().await;
    // Make the object store's root unwritable by replacing it with a file.
    std::fs::remove_dir_all(&app.objects).unwrap();
    std::fs::write(&app.objects, b"not a directory").unwrap();
    let r = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["checks"]["database"], "ok");
    // Which dependency failed, and nothing about why: the driver's text
    // (paths, hosts, OS errors) goes to the log only.
    assert_eq!(v["checks"]["storage"], "error", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("storage"));
    let text = v.to_string();
    let root = app.objects.to_string_lossy();
    assert!(!text.contains(root.as_ref()), "no path in {text}");
    assert!(
        !text.to_lowercase().contains("directory"),
        "no OS error in {text}"
    );
}

#[tokio::test]
async fn openapi_documents_every_endpoint() {
    let app = spawn_app().await;
    let v: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/health",
        "/ready",
        "/auth/login",
        "/users",
        "/users/{id}",
        "/cameras",
        "/cameras/{id}",
        "/events",
        "/events/{id}",
        "/events/{id}/end",
        "/playbacks",
        "/playbacks/{id}",
        "/playbacks/{id}/stop",
        "/media/{key}",
        "/playbacks/stream",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} missing from /openapi.json");
    }
    assert!(v["components"]["schemas"]["PlaybackView"]["properties"]["videoUrl"].is_object());
    // The webhook URL grammar published is the one enforced.
    assert_eq!(
        v["components"]["schemas"]["CreateWebhook"]["properties"]["url"]["pattern"],
        vigil_domain::webhook::WEBHOOK_URL_PATTERN
    );
    assert_eq!(
        v["components"]["schemas"]["CreateWebhook"]["properties"]["events"]["uniqueItems"],
        true
    );
    // The camera URL grammar published is the one enforced.
    for schema in ["CreateCamera", "UpdateCamera"] {
        assert_eq!(
            v["components"]["schemas"][schema]["properties"]["rtspUrl"]["pattern"],
            vigil_domain::rtsp_url::RTSP_URL_PATTERN,
            "{schema}"
        );
        assert_eq!(
            v["components"]["schemas"][schema]["properties"]["name"]["pattern"],
            vigil_domain::CameraName::PATTERN,
            "{schema}"
        );
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_live_counts() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    app.post_event(&t, cam["id"].as_str().unwrap(), "MOTION")
        .await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    assert!(text.contains("vigil_up 1"), "{text}");
    assert!(
        text.contains("vigil_playbacks{status=\"RECORDING\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("vigil_playbacks{status=\"COMPLETED\"} 0"),
        "{text}"
    );
    assert!(text.contains("vigil_recordings_active 1"), "{text}");
    assert!(
        text.contains("vigil_from_recorder_total 7"),
        "the installed recorder's metrics follow: {text}"
    );
}

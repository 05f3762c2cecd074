use crate::helpers::{error_code, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigil_domain::CameraId;

#[tokio::test]
async fn camera_passwords_are_masked_everywhere() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app
        .post(&admin, "/cameras", json!({"name": "Gate", "rtspUrl": "rtsp://admin:hunter2@10.0.0.7:554/s1", "nChannelID": 3, "preRollSeconds": 5}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["rtspUrl"], "rtsp://admin:***@10.0.0.7:554/s1");
    assert_eq!(v["nChannelID"], 3);
    assert_eq!(v["preRollSeconds"], 5);
    assert_eq!(v["postRollSeconds"], 0);
    assert!(v["createdAt"].is_string() && v["updatedAt"].is_string());
    let id = v["id"].as_str().unwrap();
    let list = app.get(&admin, "/cameras").await.text().await.unwrap();
    let one = app
        .get(&admin, &format!("/cameras/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains("hunter2") && !one.contains("hunter2"));
    // The real password is kept for recording.
    let stored = app
        .db
        .db
        .cameras()
        .get(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.rtsp_url.password(), Some("hunter2"));
}

#[tokio::test]
async fn cameras_are_read_by_all_and_written_by_admins() {
    let app = spawn_app().await;
    let cam = app.create_camera("Gate").await;
    let id = cam["id"].as_str().unwrap();
    let (_, op) = app.user_with_role("OPERATOR").await;
    let (_, viewer) = app.user_with_role("VIEWER").await;
    for t in [&op, &viewer] {
        let list: Value = app.get_json(t, "/cameras").await;
        assert_eq!(list["total"], 1);
        assert_eq!(
            app.get(t, &format!("/cameras/{id}")).await.status(),
            StatusCode::OK
        );
        let r = app
            .post(t, "/cameras", json!({"name": "X", "rtspUrl": "rtsp://h/x"}))
            .await;
        error_code(r, StatusCode::FORBIDDEN).await;
        error_code(
            app.patch(t, &format!("/cameras/{id}"), json!({"name": "Y"}))
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        error_code(
            app.delete(t, &format!("/cameras/{id}")).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
}

#[tokio::test]
async fn camera_urls_other_than_rtsp_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for url in [
        "file:///etc/passwd",
        "concat:a|b",
        "http://cam/x",
        "rtsp://",
        "not a url",
    ] {
        let r = app
            .post(&admin, "/cameras", json!({"name": "Bad", "rtspUrl": url}))
            .await;
        let e = error_code(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(e["field"], "rtspUrl", "{url}");
    }
    let r = app
        .post(
            &admin,
            "/cameras",
            json!({"name": "", "rtspUrl": "rtsp://h/x"}),
        )
        .await;
    assert_eq!(
        error_code(r, StatusCode::BAD_REQUEST).await["field"],
        "name"
    );
    let r = app
        .post(
            &admin,
            "/cameras",
            json!({"name": "A", "rtspUrl": "rtsp://h/x", "preRollSeconds": -1}),
        )
        .await;
    assert_eq!(
        error_code(r, StatusCode::BAD_REQUEST).await["field"],
        "preRollSeconds"
    );
    let r = app
        .post(
            &admin,
            "/cameras",
            json!({"name": "A", "rtspUrl": "rtsp://h/x", "nChannelID": "two"}),
        )
        .await;
    assert_eq!(
        error_code(r, StatusCode::BAD_REQUEST).await["field"],
        "nChannelID"
    );
    assert_eq!(
        app.get(&admin, "/cameras")
            .await
            .json::<Value>()
            .await
            .unwrap()["total"],
        0
    );
}

#[tokio::test]
async fn patch_changes_only_what_is_given_and_delete_guards_events() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let id = cam["id"].as_str().unwrap();
    let r = app
        .patch(
            &admin,
            &format!("/cameras/{id}"),
            json!({"name": "Front gate", "nChannelID": 4}),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["name"].as_str(), v["nChannelID"].as_i64()),
        (Some("Front gate"), Some(4))
    );
    assert_eq!(v["rtspUrl"], cam["rtspUrl"]);
    let v: Value = app
        .patch(
            &admin,
            &format!("/cameras/{id}"),
            json!({"nChannelID": null}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(v["nChannelID"].is_null());

    assert_eq!(
        app.post_event(&admin, id, "ALARM").await.status(),
        StatusCode::CREATED
    );
    error_code(
        app.delete(&admin, &format!("/cameras/{id}")).await,
        StatusCode::CONFLICT,
    )
    .await;
    let other = app.create_camera("Spare").await;
    let r = app
        .delete(
            &admin,
            &format!("/cameras/{}", other["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    error_code(
        app.get(
            &admin,
            &format!("/cameras/{}", other["id"].as_str().unwrap()),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

/// A camera with a pre-roll is kept warm from its creation; setting the
/// pre-roll to 0 or deleting the camera lets it go.
#[tokio::test]
async fn pre_roll_cameras_are_kept_warm_while_they_have_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let warm = |id: &str| {
        let id: CameraId = id.parse().unwrap();
        app.recorder.warm.lock().unwrap().contains(&id)
    };
    let r = app
        .post(
            &admin,
            "/cameras",
            json!({"name": "Gate", "rtspUrl": "rtsp://cam/live", "preRollSeconds": 5, "postRollSeconds": 2}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let cam: Value = r.json().await.unwrap();
    let id = cam["id"].as_str().unwrap();
    assert_eq!(
        (
            cam["preRollSeconds"].as_u64(),
            cam["postRollSeconds"].as_u64()
        ),
        (Some(5), Some(2))
    );
    assert!(warm(id));
    let plain = app.create_camera("Yard").await;
    assert!(!warm(plain["id"].as_str().unwrap()), "no pre-roll, no ring");

    let path = format!("/cameras/{id}");
    app.patch(&admin, &path, json!({"preRollSeconds": 0})).await;
    assert!(!warm(id));
    app.patch(&admin, &path, json!({"preRollSeconds": 3})).await;
    assert!(warm(id));
    assert_eq!(
        app.delete(&admin, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!warm(id), "a deleted camera is let go");
}

/// A camera's stream is probed when it is created and when its URL
/// changes, never for other changes; `stream` and `transcode` are shown,
/// and `stream` can't be written.
#[tokio::test]
async fn the_stream_is_probed_on_create_and_url_change_and_is_read_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let r = app
        .post(
            &admin,
            "/cameras",
            json!({"name": "Gate", "rtspUrl": "rtsp://cam/live", "transcode": "h264"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let cam: Value = r.json().await.unwrap();
    assert_eq!(cam["transcode"], "h264");
    assert_eq!(cam["stream"]["state"], "unknown", "{cam}");
    assert_eq!(cam["stream"]["warnings"], json!([]));
    assert!(cam["stream"]["keyframeIntervalSec"].is_null());
    let id: CameraId = cam["id"].as_str().unwrap().parse().unwrap();
    let checked = || app.recorder.checked.lock().unwrap().clone();
    assert_eq!(checked(), vec![id]);

    let path = format!("/cameras/{id}");
    let r = app.patch(&admin, &path, json!({"name": "Front"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(checked(), vec![id], "a rename probes nothing");
    let r = app
        .patch(
            &admin,
            &path,
            json!({"rtspUrl": "rtsp://cam/other", "transcode": "off"}),
        )
        .await;
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["transcode"], "off");
    assert_eq!(checked(), vec![id, id], "a new URL is probed");

    // Unknown values are refused by name; `stream` is not a field to set.
    for bad in [json!({"transcode": "h265"}), json!({"transcode": 1})] {
        let r = app.patch(&admin, &path, bad).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: Value = r.json().await.unwrap();
        assert!(body.to_string().contains("transcode"), "{body}");
    }
    // `stream` is not a field a client sets: it is ignored like any
    // unknown field, and stays what was measured.
    let r = app
        .patch(&admin, &path, json!({"stream": {"state": "connected"}}))
        .await;
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["stream"]["state"], "unknown");
}

use crate::helpers::{spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigil_application::Retention;
use vigil_domain::RetentionDays;

/// A COMPLETED playback on `camera`; returns its id.
async fn completed_playback(app: &TestApp, token: &str, camera: &str) -> String {
    let ev: Value = app
        .post_event(token, camera, "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    app.post_empty(token, &format!("/playbacks/{pb}/stop"))
        .await;
    app.wait_playback(token, &pb, |v| v["recordingStatus"] == "COMPLETED")
        .await;
    pb
}

fn sweeper(app: &TestApp, global: Option<i64>) -> Retention {
    Retention {
        flow: app.ports.recordings.clone(),
        global: global.map(|d| RetentionDays::parse(d).unwrap()),
        max_bytes: None,
    }
}

#[tokio::test]
async fn retention_deletes_old_playbacks_per_camera_then_globally() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let short = app.create_camera("Gate").await;
    let r = app
        .patch(
            &t,
            &format!("/cameras/{}", short["id"].as_str().unwrap()),
            json!({"retentionDays": 1}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["retentionDays"], 1);
    let kept = app.create_camera("Yard").await;
    let old = completed_playback(&app, &t, short["id"].as_str().unwrap()).await;
    let other = completed_playback(&app, &t, kept["id"].as_str().unwrap()).await;
    let video = app.objects.join(format!("playbacks/{old}/video.mp4"));
    assert!(video.exists());

    let in_two_days = time::OffsetDateTime::now_utc() + time::Duration::days(2);
    // Now: nothing is a day old yet.
    let r = sweeper(&app, None)
        .sweep(time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(r.deleted, 0);
    // Two days on: the 1-day camera's playback goes, the other camera has
    // no retention of its own and none is set globally.
    let r = sweeper(&app, None).sweep(in_two_days).await.unwrap();
    assert_eq!((r.deleted, r.failed), (1, 0));
    let gone = app
        .client
        .get(app.url(&format!("/playbacks/{old}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert!(!video.exists(), "its object is deleted too");
    let still = app
        .client
        .get(app.url(&format!("/playbacks/{other}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), StatusCode::OK);

    // A global retention of 30 days keeps it; one of 1 day deletes it.
    assert_eq!(
        sweeper(&app, Some(30))
            .sweep(in_two_days)
            .await
            .unwrap()
            .deleted,
        0
    );
    assert_eq!(
        sweeper(&app, Some(1))
            .sweep(in_two_days)
            .await
            .unwrap()
            .deleted,
        1
    );
}

#[tokio::test]
async fn recordings_in_flight_are_never_swept() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let ev: Value = app
        .post_event(&t, cam["id"].as_str().unwrap(), "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let far = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    assert_eq!(sweeper(&app, Some(1)).sweep(far).await.unwrap().deleted, 0);
    let pb: Value = app
        .get_json(
            &t,
            &format!("/playbacks/{}", ev["playbackId"].as_str().unwrap()),
        )
        .await;
    assert_eq!(pb["recordingStatus"], "RECORDING");
}

#[tokio::test]
async fn retention_days_are_validated() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let path = format!("/cameras/{}", cam["id"].as_str().unwrap());
    for bad in [json!(0), json!(-3), json!(36_501), json!("7")] {
        let r = app.patch(&t, &path, json!({ "retentionDays": bad })).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("retentionDays"),
            "{body}"
        );
    }
    let r = app.patch(&t, &path, json!({ "retentionDays": null })).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["retentionDays"],
        Value::Null
    );
}

/// A retained playback survives an age sweep, can't be deleted without
/// `force=true`, and goes once it is let go again. Only ADMIN and OPERATOR
/// set it.
#[tokio::test]
async fn a_retained_playback_survives_sweeps_and_asks_for_force() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Evidence").await;
    let id = cam["id"].as_str().unwrap();
    app.patch(&t, &format!("/cameras/{id}"), json!({"retentionDays": 1}))
        .await;
    let kept = completed_playback(&app, &t, id).await;
    let swept = completed_playback(&app, &t, id).await;
    let path = format!("/playbacks/{kept}");

    let (_, viewer) = app.user_with_role("VIEWER").await;
    let r = app.patch(&viewer, &path, json!({"retain": true})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, operator) = app.user_with_role("OPERATOR").await;
    let r = app.patch(&operator, &path, json!({"retain": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["retain"], true);
    assert_eq!(v["recordingStatus"], "COMPLETED", "nothing else changed");
    for bad in [json!({"retain": "yes"}), json!({}), json!({"retain": null})] {
        let r = app.patch(&operator, &path, bad.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = app
        .patch(
            &operator,
            "/playbacks/00000000-0000-0000-0000-000000000000",
            json!({"retain": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let later = time::OffsetDateTime::now_utc() + time::Duration::days(2);
    let r = sweeper(&app, None).sweep(later).await.unwrap();
    assert_eq!((r.deleted, r.failed), (1, 0), "only the unretained one");
    assert_eq!(
        app.get(&t, &format!("/playbacks/{swept}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&t, &path).await.status(), StatusCode::OK);
    assert!(app
        .objects
        .join(format!("playbacks/{kept}/video.mp4"))
        .exists());

    let r = app.delete(&operator, &path).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("force=true"), "{body}");
    let r = app.delete(&operator, &format!("{path}?force=maybe")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get(&t, &path).await.status(),
        StatusCode::OK,
        "still there"
    );

    // Let go again, the next sweep takes it; or forced, at once.
    let r = app.patch(&operator, &path, json!({"retain": false})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["retain"], false);
    app.patch(&operator, &path, json!({"retain": true})).await;
    let r = app.delete(&operator, &format!("{path}?force=true")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!app
        .objects
        .join(format!("playbacks/{kept}/video.mp4"))
        .exists());
}

/// Over a camera's `retentionMaxBytes`, the oldest unretained clips go
/// first until it fits; a retained one stays whatever its age. Then the
/// store-wide quota trims across cameras, oldest first.
#[tokio::test]
async fn quotas_delete_the_oldest_unretained_clips_first() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Busy").await;
    let id = cam["id"].as_str().unwrap();
    let r = app
        .patch(
            &t,
            &format!("/cameras/{id}"),
            json!({"retentionMaxBytes": 1048576}),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["retentionMaxBytes"],
        1048576
    );
    let mut clips = Vec::new();
    for _ in 0..7 {
        clips.push(completed_playback(&app, &t, id).await);
    }
    // 7 × 200 000 bytes: 1 400 000 stored, 1 048 576 allowed.
    app.patch(
        &t,
        &format!("/playbacks/{}", clips[0]),
        json!({"retain": true}),
    )
    .await;
    let r = sweeper(&app, None).enforce_quotas().await.unwrap();
    assert_eq!((r.deleted, r.failed), (2, 0));
    let exists = |pb: &str| {
        let app = &app;
        let t = t.clone();
        let path = format!("/playbacks/{pb}");
        async move { app.get(&t, &path).await.status() == StatusCode::OK }
    };
    assert!(exists(&clips[0]).await, "retained, though the oldest");
    assert!(
        !exists(&clips[1]).await && !exists(&clips[2]).await,
        "the next oldest went"
    );
    for pb in &clips[3..] {
        assert!(exists(pb).await);
    }
    let again = sweeper(&app, None).enforce_quotas().await.unwrap();
    assert_eq!(again.deleted, 0, "within the quota now");

    // The store-wide quota: another camera's clips count too.
    let other = app.create_camera("Quiet").await;
    let newer = completed_playback(&app, &t, other["id"].as_str().unwrap()).await;
    let store_wide = Retention {
        max_bytes: Some(600_000),
        ..sweeper(&app, None)
    };
    let r = store_wide.enforce_quotas().await.unwrap();
    // 6 stored (1 200 000): the oldest unretained, clips 3, 4 and 5, go;
    // the retained one, the newest and the other camera's stay.
    assert_eq!(r.deleted, 3);
    assert!(exists(&clips[0]).await && exists(&clips[6]).await && exists(&newer).await);

    let r = app
        .patch(
            &t,
            &format!("/cameras/{id}"),
            json!({"retentionMaxBytes": 1000}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "less than 1 MiB is a unit mistake"
    );
    let r = app
        .patch(
            &t,
            &format!("/cameras/{id}"),
            json!({"retentionMaxBytes": null}),
        )
        .await;
    assert!(r.json::<Value>().await.unwrap()["retentionMaxBytes"].is_null());
}

/// At the recording disk's free-space floor (local storage), a new event
/// deletes the oldest unretained clips until the floor is met, and records
/// instead of being refused.
#[tokio::test]
async fn the_disk_floor_frees_the_oldest_clips_instead_of_refusing() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let id = cam["id"].as_str().unwrap();
    let mut clips = Vec::new();
    for _ in 0..4 {
        clips.push(completed_playback(&app, &t, id).await);
    }
    app.patch(
        &t,
        &format!("/playbacks/{}", clips[0]),
        json!({"retain": true}),
    )
    .await;
    // A disk that is short of its floor by what the store holds beyond
    // 450 000 bytes: 4 clips of 200 000 bytes (and thumbnails) are too
    // many; the two oldest unretained must go.
    *app.recorder.keep_at_most.lock().unwrap() = Some(450_000);
    let r = app.post_event(&t, id, "MOTION").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ev: Value = r.json().await.unwrap();
    let status = |pb: String| {
        let app = &app;
        let t = t.clone();
        async move { app.get(&t, &format!("/playbacks/{pb}")).await.status() }
    };
    assert_eq!(status(clips[0].clone()).await, StatusCode::OK, "retained");
    assert_eq!(status(clips[1].clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(status(clips[2].clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(
        status(clips[3].clone()).await,
        StatusCode::OK,
        "only what the floor needed"
    );
    let pb: Value = app
        .get(
            &t,
            &format!("/playbacks/{}", ev["playbackId"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pb["recordingStatus"], "RECORDING", "recorded, not refused");
}

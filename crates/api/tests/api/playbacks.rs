use crate::helpers::{error_code, spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

/// A MOTION event whose recording is stopped and completed; returns
/// (token, playback id, event id).
async fn completed(app: &TestApp) -> (String, String, String) {
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let ev: Value = app
        .post_event(&t, cam["id"].as_str().unwrap(), "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    let stop: Value = app
        .post_empty(&t, &format!("/playbacks/{pb}/stop"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stop["recordingStatus"], "PROCESSING");
    assert_eq!(stop["eventId"], ev["id"]);
    app.wait_playback(&t, &pb, |v| v["recordingStatus"] == "COMPLETED")
        .await;
    (t, pb, ev["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn signed_video_urls_play_without_a_header_and_support_ranges() {
    let app = spawn_app().await;
    let (t, pb, _) = completed(&app).await;
    let v: Value = app.get_json(&t, &format!("/playbacks/{pb}")).await;
    let url = v["videoUrl"].as_str().unwrap().to_owned();

    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(r.bytes().await.unwrap().len(), 200_000);

    let r = app
        .client
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 100);
    assert_eq!(body[0], 100, "byte 100 of the clip (i % 251)");

    let r = app
        .client
        .get(&url)
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    let tampered = url.replace("/video.mp4", "/thumbnail.jpg");
    error_code(
        app.client.get(&tampered).send().await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    let expired = regex_replace_exp(&url);
    error_code(
        app.client.get(&expired).send().await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    // Without a signature, a token is needed.
    let bare = url.split('?').next().unwrap().to_owned();
    error_code(
        app.client.get(&bare).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        app.get(&t, &bare.replace(&app.base, "")).await.status(),
        StatusCode::OK
    );
    let escape = format!("{}/media/../../etc/passwd", app.base);
    assert_ne!(
        app.get(&t, &escape.replace(&app.base, "")).await.status(),
        StatusCode::OK
    );
}

fn regex_replace_exp(url: &str) -> String {
    let (head, tail) = url.split_once("exp=").unwrap();
    let (_, rest) = tail.split_once('&').unwrap();
    format!("{head}exp=1000&{rest}")
}

#[tokio::test]
async fn playbacks_filter_by_status_camera_and_event() {
    let app = spawn_app().await;
    let (t, pb, ev) = completed(&app).await;
    let cam2 = app.create_camera("Yard").await;
    let ev2: Value = app
        .post_event(&t, cam2["id"].as_str().unwrap(), "MOTION")
        .await
        .json()
        .await
        .unwrap();

    let v: Value = app
        .get_json(&t, "/playbacks?recordingStatus=COMPLETED")
        .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["data"][0]["id"], pb.as_str());
    let v: Value = app
        .get_json(&t, "/playbacks?recordingStatus=RECORDING")
        .await;
    assert_eq!(v["data"][0]["eventId"], ev2["id"]);
    let v: Value = app
        .get_json(
            &t,
            &format!("/playbacks?cameraId={}", cam2["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(v["total"], 1);
    let v: Value = app.get_json(&t, &format!("/playbacks?eventId={ev}")).await;
    assert_eq!(v["total"], 1);
    let v: Value = app.get_json(&t, "/playbacks?limit=1").await;
    assert_eq!(
        (v["total"].as_u64(), v["data"].as_array().unwrap().len()),
        (Some(2), 1)
    );
}

#[tokio::test]
async fn delete_removes_row_and_object_and_stops_running_recordings() {
    let app = spawn_app().await;
    let (t, pb, _) = completed(&app).await;
    let object = app.objects.join(format!("playbacks/{pb}/video.mp4"));
    assert!(object.exists());
    let (_, viewer) = app.user_with_role("VIEWER").await;
    error_code(
        app.delete(&viewer, &format!("/playbacks/{pb}")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        app.delete(&t, &format!("/playbacks/{pb}")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!object.exists());
    error_code(
        app.get(&t, &format!("/playbacks/{pb}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_code(
        app.delete(&t, &format!("/playbacks/{pb}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let cam = app.create_camera("Live").await;
    let ev: Value = app
        .post_event(&t, cam["id"].as_str().unwrap(), "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let live = ev["playbackId"].as_str().unwrap();
    assert!(app.recorder_is_active(live));
    assert_eq!(
        app.delete(&t, &format!("/playbacks/{live}")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        !app.recorder_is_active(live),
        "the running recording was stopped"
    );
}

impl TestApp {
    fn recorder_is_active(&self, id: &str) -> bool {
        use vigil_domain::ports::Recorder;
        self.recorder.is_active(id.parse().unwrap())
    }
}

/// Reads SSE frames until one `playback` event satisfies `pred`.
async fn next_matching(
    resp: &mut reqwest::Response,
    buf: &mut String,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if let Some(data) = frame.strip_prefix("event: playback\ndata: ") {
                let v: Value = serde_json::from_str(data.trim()).unwrap();
                if pred(&v) {
                    return v;
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("no matching event in time")
            .unwrap()
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn status_changes_are_pushed_filtered_like_the_list() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let cam = app.create_camera("Gate").await;
    let other = app.create_camera("Yard").await;
    let cam_id = cam["id"].as_str().unwrap();
    let mut resp = app
        .client
        .get(app.url(&format!("/playbacks/stream?cameraId={cam_id}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();

    // An event on the other camera is filtered out; ours is pushed.
    app.post_event(&t, other["id"].as_str().unwrap(), "MOTION")
        .await;
    let ev: Value = app
        .post_event(&t, cam_id, "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    let v = next_matching(&mut resp, &mut buf, |_| true).await;
    assert_eq!(v["id"], pb.as_str(), "only the filtered camera's playbacks");
    assert_eq!(v["recordingStatus"], "RECORDING");

    app.post_empty(&t, &format!("/playbacks/{pb}/stop")).await;
    let v = next_matching(&mut resp, &mut buf, |v| v["recordingStatus"] == "COMPLETED").await;
    assert!(v["videoUrl"].as_str().unwrap().contains("/media/"));

    let r = app
        .client
        .get(app.url("/playbacks/stream"))
        .send()
        .await
        .unwrap();
    error_code(r, StatusCode::UNAUTHORIZED).await;
    error_code(
        app.get(&t, "/playbacks/stream?recordingStatus=NOPE").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn a_completed_playback_shows_its_clip_timing_and_browser_playability() {
    let app = spawn_app().await;
    let (t, pb, _) = completed(&app).await;
    let v: Value = app.get_json(&t, &format!("/playbacks/{pb}")).await;
    assert_eq!(v["browserPlayable"], true);
    assert_eq!(v["clipStartAt"], v["startedAt"], "{v}");
    assert!(v["clipStartAt"].is_string());
    let offset = v["triggerOffsetSec"].as_f64().unwrap();
    assert!(offset >= 0.0, "{offset}");
    let gaps = v["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{v}");
    assert_eq!(gaps[0]["seconds"], 2.0);
    assert!(gaps[0]["offsetSec"].as_f64().unwrap() >= 0.0);
    assert!(gaps[0]["at"].is_string());
    // A playback still pending has none of them yet.
    let cam = app.create_camera("Yard").await;
    let ev: Value = app
        .post_event(&t, cam["id"].as_str().unwrap(), "MOTION")
        .await
        .json()
        .await
        .unwrap();
    let fresh: Value = app
        .get_json(
            &t,
            &format!("/playbacks/{}", ev["playbackId"].as_str().unwrap()),
        )
        .await;
    assert_eq!(fresh["browserPlayable"], Value::Null);
    assert_eq!(fresh["gaps"], serde_json::json!([]));
}

#[tokio::test]
async fn live_playlists_are_served_to_users_and_signed_urls_only() {
    let app = spawn_app().await;
    let (t, pb, _) = completed(&app).await;
    let v: Value = app.get_json(&t, &format!("/playbacks/{pb}")).await;
    // Segments are removed once the clip is stored (LIVE_SEGMENTS_KEEP off).
    assert_eq!(v["liveUrl"], Value::Null, "{v}");
    let path = format!("{}/media/playbacks/{pb}/live.m3u8", app.base);
    error_code(
        app.client.get(&path).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let r = app.client.get(&path).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let m3u8 = r.text().await.unwrap();
    // The take has ended: a VOD playlist, here with no segment left.
    assert!(m3u8.starts_with("#EXTM3U\n"), "{m3u8}");
    assert!(m3u8.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{m3u8}");
    assert!(m3u8.ends_with("#EXT-X-ENDLIST\n"), "{m3u8}");
    error_code(
        app.client
            .get(format!("{path}?exp=99999999999&sig=00"))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    let unknown = format!(
        "{}/media/playbacks/{}/live.m3u8",
        app.base,
        uuid::Uuid::new_v4()
    );
    error_code(
        app.client
            .get(&unknown)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

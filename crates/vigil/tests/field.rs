//! Cameras as they are in the field, through the `vigil` binary (SQLite,
//! local storage, real ffmpeg and the GStreamer test camera): a "smart
//! codec" H.265 camera with G.711 audio and a 4 s keyframe interval, a
//! camera behind Digest authentication given the wrong password, and an
//! H.265 camera whose clips are transcoded to H.264 and played in
//! headless Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
#[path = "../../recorder/tests/support/camera.rs"]
mod camera;
mod client;
mod server;

use camera::{free_port, TestCamera};
use client::Api;
use serde_json::{json, Value};
use server::Server;
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

fn data_env(data: &Path) -> Vec<(String, String)> {
    vec![
        ("DATA_DIR".into(), data.display().to_string()),
        // ffmpeg's own lines (which echo URLs) are logged too, so the log
        // check below covers them.
        ("RUST_LOG".into(), "info,ffmpeg=debug".into()),
    ]
}

/// The camera once its `stream.state` is `state`.
async fn stream_becomes(api: &Api, camera: &Value, state: &str) -> Value {
    stream_until(api, camera, |s| s["state"] == state).await
}

/// The camera once `done` holds of its `stream` (the probe may still be
/// under way when a take already says "connected").
async fn stream_until(api: &Api, camera: &Value, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/cameras/{}", camera["id"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = api.get(&path).await;
        if done(&c["stream"]) {
            return c;
        }
        assert!(Instant::now() < deadline, "never: {c}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `(codec_type, codec_name)` of each stream of the MP4 at `url`.
async fn streams_of(url: &str, dir: &Path) -> Vec<(String, String)> {
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let f = dir.join("clip.mp4");
    std::fs::write(&f, &bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&f)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, kind) = l.split_once(',')?;
            Some((kind.to_owned(), name.to_owned()))
        })
        .collect()
}

/// Posts a MOTION event, records about `seconds`, ends it and returns the
/// COMPLETED playback and the event.
async fn record(api: &Api, camera: &Value, seconds: u64) -> (Value, Value) {
    let ev = api
        .post(
            "/events",
            json!({"cameraId": camera["id"], "type": "MOTION"}),
        )
        .await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    api.wait_status(&pb, "RECORDING").await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    api.end(&ev).await;
    (api.wait_status(&pb, "COMPLETED").await, ev)
}

#[tokio::test]
async fn a_smart_codec_h265_g711_camera_is_measured_warned_about_and_recorded() {
    let cam = TestCamera::start_with(
        free_port(),
        &["--video", "h265", "--audio", "pcma", "--gop", "4"],
    );
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data_env(data.path()));
    let api = Api::login(&server.base).await;
    let camera = api
        .post(
            "/cameras",
            json!({"name": "Smart codec", "rtspUrl": cam.url(), "preRollSeconds": 2}),
        )
        .await;
    assert!(
        ["unknown", "connecting"].contains(&camera["stream"]["state"].as_str().unwrap()),
        "{camera}"
    );
    // The probe has finished once the keyframe interval is in (the warm
    // ring may say "connected" before).
    let seen = stream_until(&api, &camera, |s| !s["keyframeIntervalSec"].is_null()).await;
    let s = &seen["stream"];
    assert_eq!(s["state"], "connected", "{s}");
    assert_eq!(s["videoCodec"], "H.265", "{s}");
    assert_eq!(s["audioCodec"], "pcm_alaw", "{s}");
    assert_eq!(
        (s["width"].as_i64(), s["height"].as_i64()),
        (Some(640), Some(360))
    );
    let k = s["keyframeIntervalSec"].as_f64().unwrap();
    // A keyframe every 100 frames (4 s at 25 fps): under load the test
    // camera's live encoder drops frames, which stretches the GOP in time,
    // never shrinks it.
    assert!((3.9..=8.0).contains(&k), "{k}");
    assert!(s["checkedAt"].is_string());
    let warnings: Vec<&str> = s["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("longer than preRollSeconds (2 s)")),
        "{warnings:?}"
    );
    assert!(warnings.iter().any(|w| w.contains("H.265")), "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("pcm_alaw audio is re-encoded")),
        "{warnings:?}"
    );

    let (done, _) = record(&api, &camera, 5).await;
    assert_eq!(done["codec"], "H.265");
    assert_eq!(done["browserPlayable"], false);
    // The clip starts at the keyframe at or before the pre-roll window's
    // start: at least 2 s before the trigger, at most a GOP (as measured)
    // more.
    let offset = done["triggerOffsetSec"].as_f64().unwrap();
    assert!((1.9..=2.5 + k).contains(&offset), "{offset}: {done}");
    assert_eq!(
        streams_of(done["videoUrl"].as_str().unwrap(), data.path()).await,
        vec![
            ("video".to_owned(), "hevc".to_owned()),
            ("audio".to_owned(), "aac".to_owned())
        ],
        "G.711 kept as AAC, not as opaque data"
    );
}

#[tokio::test]
async fn wrong_digest_credentials_say_so_everywhere_but_never_the_password() {
    const WRONG: &str = "not-the-pass-9";
    let cam = TestCamera::start_with(
        free_port(),
        &["--auth", "digest", "--credentials", "viewer:right-pass-7"],
    );
    let with = |creds: &str| cam.url().replace("rtsp://", &format!("rtsp://{creds}@"));
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("vigil.log");
    let server = Server::start_logged(data_env(data.path()), &log);
    let api = Api::login(&server.base).await;
    let camera = api
        .post(
            "/cameras",
            json!({"name": "Locked", "rtspUrl": with(&format!("viewer:{WRONG}"))}),
        )
        .await;
    let refused = stream_becomes(&api, &camera, "unauthorized").await;
    assert_eq!(
        refused["stream"]["lastError"],
        "camera unreachable: camera refused the credentials (401)"
    );

    let ev = api
        .post(
            "/events",
            json!({"cameraId": camera["id"], "type": "MOTION"}),
        )
        .await;
    let pb = ev["playbackId"].as_str().unwrap();
    let failed = api.wait_status(pb, "FAILED").await;
    let reason = failed["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.contains("camera refused the credentials (401)"),
        "{failed}"
    );
    assert!(failed["localPath"].is_null(), "nothing was kept: {failed}");

    // The right password: the camera is connected again, and records.
    let path = format!("/cameras/{}", camera["id"].as_str().unwrap());
    let r = api
        .http
        .patch(format!("{}{path}", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"rtspUrl": with("viewer:right-pass-7")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ok = stream_becomes(&api, &camera, "connected").await;
    assert!(ok["stream"]["lastError"].is_null(), "{ok}");
    let (done, _) = record(&api, &ok, 2).await;
    assert_eq!(done["codec"], "H.264");

    // Nothing the server said or logged holds either password.
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let said = [
        api.get(&path).await.to_string(),
        api.get("/cameras").await.to_string(),
        api.get(&format!("/playbacks/{pb}")).await.to_string(),
        api.get("/events").await.to_string(),
        metrics,
    ];
    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("camera stream probe failed"),
        "the log is read"
    );
    for text in said.iter().chain([&logged]) {
        assert!(!text.contains(WRONG), "a password leaked: {text}");
        assert!(!text.contains("right-pass-7"), "a password leaked: {text}");
    }
}

#[tokio::test]
async fn a_transcoded_h265_camera_gives_clips_chromium_plays() {
    let cam = TestCamera::start_with(free_port(), &["--video", "h265", "--audio", "pcma"]);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data_env(data.path()));
    let api = Api::login(&server.base).await;
    let camera = api
        .post(
            "/cameras",
            json!({"name": "Transcoded", "rtspUrl": cam.url(), "transcode": "h264"}),
        )
        .await;
    assert_eq!(camera["transcode"], "h264");
    let (done, _) = record(&api, &camera, 3).await;
    assert_eq!(done["codec"], "H.264", "{done}");
    assert_eq!(done["browserPlayable"], true);
    let url = done["videoUrl"].as_str().unwrap().to_owned();
    assert_eq!(
        streams_of(&url, data.path()).await,
        vec![
            ("video".to_owned(), "h264".to_owned()),
            ("audio".to_owned(), "aac".to_owned())
        ]
    );
    // The camera still reports what it sends, not what the clip holds.
    let c = stream_until(&api, &camera, |s| !s["videoCodec"].is_null()).await;
    assert_eq!(c["stream"]["videoCodec"], "H.265", "{c}");

    // And a browser plays it.
    let driver = browser::Driver::start().await;
    let b = driver.browser().await;
    let played = browser::plays(&b, &url).await;
    assert!(played["error"].is_null(), "{played}");
    assert!(played["width"].as_i64().unwrap() > 0, "{played}");
    assert!(played["time"].as_f64().unwrap() > 1.0, "{played}");
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_frozen_camera_is_offline_then_back_and_its_clip_is_one_with_a_gap() {
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data_env(data.path()));
    let api = Api::login(&server.base).await;
    let camera = api
        .post("/cameras", json!({"name": "Freezes", "rtspUrl": cam.url()}))
        .await;
    let ev = api
        .post(
            "/events",
            json!({"cameraId": camera["id"], "type": "MOTION"}),
        )
        .await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    api.wait_status(&pb, "RECORDING").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The socket stays open and nothing comes: the watchdog (bytes
    // written) or the socket timeout notices, and the camera is offline.
    cam.signal("-STOP");
    let away = stream_becomes(&api, &camera, "offline").await;
    assert!(away["stream"]["lastError"].is_string(), "{away}");
    cam.signal("-CONT");
    stream_becomes(&api, &camera, "connected").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    api.end(&ev).await;
    let done = api.wait_status(&pb, "COMPLETED").await;
    let gaps = done["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "one clip, one gap: {done}");
    assert!(gaps[0]["seconds"].as_f64().unwrap() >= 3.0, "{done}");
    assert!(gaps[0]["offsetSec"].as_f64().unwrap() >= 1.0, "{done}");
    assert!(done["durationSec"].as_f64().unwrap() >= 3.5, "{done}");
}

#[tokio::test]
async fn an_opus_camera_records_and_its_clip_keeps_opus() {
    let cam = TestCamera::start_with(free_port(), &["--audio", "opus"]);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data_env(data.path()));
    let api = Api::login(&server.base).await;
    let camera = api
        .post("/cameras", json!({"name": "Opus", "rtspUrl": cam.url()}))
        .await;
    let (done, _) = record(&api, &camera, 3).await;
    assert_eq!(done["codec"], "H.264");
    assert_eq!(done["browserPlayable"], true, "H.264 with Opus plays");
    assert_eq!(
        streams_of(done["videoUrl"].as_str().unwrap(), data.path()).await,
        vec![
            ("video".to_owned(), "h264".to_owned()),
            ("audio".to_owned(), "opus".to_owned())
        ]
    );
}

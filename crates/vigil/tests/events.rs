//! Events and clips as users want them, through the `vigil` binary (real
//! ffmpeg and the GStreamer test camera; SQLite with local storage, or
//! PostgreSQL with the S3 server): a late trigger (`occurredAt`) whose clip
//! starts before it by the pre-roll, from the warm camera's ring; one
//! trigger on three cameras; a flapping detector giving one clip; a
//! retained clip surviving the age and quota sweeps, which delete the
//! oldest first; the recording disk's free-space floor making room
//! instead of refusing (on a tmpfs); a share link that plays from S3 and
//! is then revoked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../recorder/tests/support/camera.rs"]
mod camera;
mod client;
mod server;

use camera::{frame_lumas, free_port, TestCamera};
use client::Api;
use serde_json::{json, Value};
use server::{r2_env, s3_endpoint, Server};
use std::{
    path::Path,
    time::{Duration, Instant},
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use vigil_persistence::testing::{Backend, TestDatabase};

fn ring_segments(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".ts"))
                .count()
        })
        .unwrap_or(0)
}

fn at(v: &Value, field: &str) -> OffsetDateTime {
    OffsetDateTime::parse(v[field].as_str().unwrap(), &Rfc3339).unwrap()
}

/// The camera is black until `painted`, white after. A detector reports,
/// 5 s late, something it saw 1 s after the paint: the clip starts 2 s
/// (the pre-roll) before that, so its first frames are black, from before
/// the paint; a trigger taken as "now" would have started all white.
#[tokio::test]
async fn a_late_trigger_gets_its_pre_roll_from_before_it() {
    let cam = TestCamera::start_black();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(vec![
        ("DATA_DIR".into(), data.path().display().to_string()),
        ("BACKDATE_MAX_SECONDS".into(), "20".into()),
    ]);
    let api = Api::login(&server.base).await;
    let camera = api
        .post(
            "/cameras",
            json!({"name": "Gate", "rtspUrl": cam.url(), "preRollSeconds": 2}),
        )
        .await;
    let ring = data
        .path()
        .join("recordings/ring")
        .join(camera["id"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while ring_segments(&ring) < 5 {
        assert!(Instant::now() < deadline, "the ring never filled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let painted = OffsetDateTime::now_utc();
    cam.paint(true);
    tokio::time::sleep(Duration::from_secs(6)).await;
    // The ring keeps max(2, 20) + 3 s: the 7 s since the paint are held.
    let seen = painted + time::Duration::seconds(1);
    let ev = api
        .post(
            "/events",
            json!({"cameraId": camera["id"], "type": "MOTION",
                   "occurredAt": seen.format(&Rfc3339).unwrap(), "postRollSeconds": 1}),
        )
        .await;
    assert_eq!(at(&ev, "occurredAt"), seen);
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    api.end(&ev).await;
    let done = api.wait_status(&pb, "COMPLETED").await;
    // The run-up is measured to the trigger the detector gave.
    let offset = done["triggerOffsetSec"].as_f64().unwrap();
    // 2 s of pre-roll, to the keyframe at or before it (1 s GOP; longer
    // when the loaded test camera drops frames).
    assert!((1.9..=5.0).contains(&offset), "{offset}: {done}");
    assert_eq!(at(&done["event"], "occurredAt"), seen);
    let lead = (at(&done, "createdAt") - at(&done, "clipStartAt")).as_seconds_f64();
    // Posted 6 s after the paint, for 1 s after it, with 2 s of pre-roll.
    assert!(
        lead >= 6.8,
        "the clip reaches back past the paint: {lead} s"
    );

    let bytes = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let clip = data.path().join("late.mp4");
    std::fs::write(&clip, &bytes).unwrap();
    let lumas = frame_lumas(&clip);
    assert!(lumas[0] < 64, "opens before the paint: {:?}", &lumas[..5]);
    assert!(*lumas.last().unwrap() > 192, "ends after it");
}

/// One trigger on three cameras records three clips, one per camera, in a
/// group the events list finds again.
#[tokio::test]
async fn a_group_of_three_cameras_gives_three_clips() {
    let cams = [
        TestCamera::start(),
        TestCamera::start(),
        TestCamera::start(),
    ];
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(vec![("DATA_DIR".into(), data.path().display().to_string())]);
    let api = Api::login(&server.base).await;
    let mut ids = Vec::new();
    for (i, cam) in cams.iter().enumerate() {
        let c = api
            .post(
                "/cameras",
                json!({"name": format!("Side {i}"), "rtspUrl": cam.url()}),
            )
            .await;
        ids.push(c["id"].clone());
    }
    let created = api
        .post("/events", json!({"cameraIds": ids, "type": "MOTION"}))
        .await;
    assert_eq!(created["total"], 3);
    let events = created["data"].as_array().unwrap().clone();
    for ev in &events {
        api.wait_status(ev["playbackId"].as_str().unwrap(), "RECORDING")
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for ev in &events {
        api.end(ev).await;
    }
    for (ev, id) in events.iter().zip(&ids) {
        let done = api
            .wait_status(ev["playbackId"].as_str().unwrap(), "COMPLETED")
            .await;
        assert_eq!(&done["cameraId"], id);
        assert!(done["durationSec"].as_f64().unwrap() >= 1.5, "{done}");
    }
    let group = events[0]["groupId"].as_str().unwrap();
    let listed = api.get(&format!("/events?groupId={group}")).await;
    assert_eq!(listed["total"], 3);
}

/// On PostgreSQL and S3: a share link opens the stored clip with no token
/// (a redirect to a fresh presigned URL), and answers 404 once revoked.
#[tokio::test]
async fn a_share_link_plays_from_s3_then_is_revoked_on_postgres() {
    let (db_url, _db) = TestDatabase::empty(Backend::Postgres).await;
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(r2_env(data.path(), db_url, &s3_endpoint().await, &[]));
    let api = Api::login(&server.base).await;
    let (ev, pb) = api.record_for_3s(&cam).await;
    api.end(&ev).await;
    let done = api.wait_status(&pb, "COMPLETED").await;
    let share = api
        .post(
            &format!("/playbacks/{pb}/shares"),
            json!({"expiresInSeconds": 600}),
        )
        .await;
    let url = share["url"].as_str().unwrap().to_owned();
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = anonymous.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.contains("X-Amz-Signature"), "a presigned URL: {to}");
    let clip = reqwest::get(&to).await.unwrap().bytes().await.unwrap();
    assert_eq!(clip.len() as i64, done["fileSizeBytes"].as_i64().unwrap());
    let path = data.path().join("shared.mp4");
    std::fs::write(&path, &clip).unwrap();
    assert!(!frame_lumas(&path).is_empty(), "it decodes");

    let r = api
        .http
        .delete(format!(
            "{}/shares/{}",
            api.base,
            share["id"].as_str().unwrap()
        ))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(anonymous.get(&url).send().await.unwrap().status(), 404);
}

/// A server on `backend`: SQLite with clips on local disk, or PostgreSQL
/// with clips in the S3 server.
async fn server_on(backend: Backend, data: &Path, db_url: &str, extra: &[(&str, &str)]) -> Server {
    let env = match backend {
        Backend::Sqlite => [
            ("DATA_DIR", data.display().to_string()),
            ("DATABASE_URL", db_url.to_owned()),
        ]
        .into_iter()
        .chain(extra.iter().map(|(k, v)| (*k, (*v).to_owned())))
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        Backend::Postgres => r2_env(data, db_url.to_owned(), &s3_endpoint().await, extra),
    };
    Server::start(env)
}

/// On, off, and on again within the camera's `mergeSeconds`: one clip,
/// recorded through the pause, closed once the window has passed after
/// the last end. A camera recorded per event on SQLite; one with a
/// pre-roll (clips from its ring) on PostgreSQL and S3.
async fn a_flapping_detector_gives_one_clip(backend: Backend, pre_roll: u32) {
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let (db_url, _db) = TestDatabase::empty(backend).await;
    let server = server_on(backend, data.path(), &db_url, &[]).await;
    let api = Api::login(&server.base).await;
    let camera = api
        .post(
            "/cameras",
            json!({"name": "Porch", "rtspUrl": cam.url(), "preRollSeconds": pre_roll,
                   "postRollSeconds": 1, "mergeSeconds": 3}),
        )
        .await;
    let motion = json!({"cameraId": camera["id"], "type": "MOTION"});
    let first = api.post("/events", motion.clone()).await;
    let pb = first["playbackId"].as_str().unwrap().to_owned();
    api.wait_status(&pb, "RECORDING").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = api.end(&first).await;
    assert_eq!(
        r["recordingStatus"], "RECORDING",
        "open for the window: {r}"
    );
    // The detector is off for a second, then on again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = api.post("/events", motion).await;
    assert_eq!(second["playbackId"], pb.as_str(), "joins the open clip");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let last_end = Instant::now();
    api.end(&second).await;
    let done = api.wait_status(&pb, "COMPLETED").await;
    assert!(
        last_end.elapsed() >= Duration::from_millis(2900),
        "the clip stays open for the 3 s window after the last end"
    );
    // 1 s, 1 s off, 1 s, 3 s of window (less the first frame's wait).
    let seconds = done["durationSec"].as_f64().unwrap();
    assert!(seconds >= 4.5, "one clip through the pause: {done}");
    assert_eq!(done["gaps"], json!([]), "the camera never left: {done}");
    let clips = api
        .get(&format!(
            "/playbacks?cameraId={}",
            camera["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(clips["total"], 1, "{clips}");
    let bytes = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let clip = data.path().join("merged.mp4");
    std::fs::write(&clip, &bytes).unwrap();
    assert!(
        frame_lumas(&clip).len() >= 100,
        "it decodes, 4 s and more at 25 fps"
    );
}

#[tokio::test]
async fn a_flapping_detector_gives_one_clip_on_sqlite() {
    a_flapping_detector_gives_one_clip(Backend::Sqlite, 0).await
}

#[tokio::test]
async fn a_flapping_detector_gives_one_clip_from_the_ring_on_postgres() {
    a_flapping_detector_gives_one_clip(Backend::Postgres, 1).await
}

/// Four clips A, B, C, D, oldest first, from a camera at a real camera's
/// bitrate; A is retained, A and B are made two days old. A restart with
/// `RETENTION_DAYS=1` and `RETENTION_MAX_BYTES` = A + D runs both sweeps:
/// the age sweep deletes B and keeps A; the quota deletes the oldest
/// unretained clip left, C, and stops there, so D stays.
async fn retention_keeps_the_retained_and_deletes_the_oldest(backend: Backend) {
    let cam = TestCamera::start_with(free_port(), &["--bitrate", "6000", "--cbr"]);
    let data = tempfile::tempdir().unwrap();
    let (db_url, _db) = TestDatabase::empty(backend).await;
    let server = server_on(backend, data.path(), &db_url, &[]).await;
    let api = Api::login(&server.base).await;
    let camera = api
        .post(
            "/cameras",
            json!({"name": "Dock", "rtspUrl": cam.url(), "preRollSeconds": 1}),
        )
        .await;
    let mut clips = Vec::new();
    for _ in 0..4 {
        clips.push(api.record_clip(&camera, 1.5).await);
    }
    let id = |i: usize| clips[i]["id"].as_str().unwrap().to_owned();
    let size = |i: usize| clips[i]["fileSizeBytes"].as_u64().unwrap();
    api.patch(&format!("/playbacks/{}", id(0)), json!({"retain": true}))
        .await;
    for i in [0, 1] {
        vigil_persistence::testing::age_playback(
            &db_url,
            id(i).parse().unwrap(),
            time::Duration::days(2),
        )
        .await;
    }
    let quota = size(0) + size(3);
    assert!(
        quota >= 1 << 20,
        "the clips are too small for a 1 MiB quota: {quota}"
    );
    let (mut env, old_base) = (server.env.clone(), server.base.clone());
    drop(server);
    env.push(("RETENTION_DAYS".into(), "1".into()));
    env.push(("RETENTION_MAX_BYTES".into(), quota.to_string()));
    let server = Server::start(env);
    let api = Api::login(&server.base).await;
    let status = |i: usize| {
        let (api, id) = (&api, id(i));
        async move {
            api.http
                .get(format!("{}/playbacks/{id}", api.base))
                .bearer_auth(&api.token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(1).await != 404 || status(2).await != 404 {
        assert!(
            Instant::now() < deadline,
            "the sweeps never deleted B and C"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in [0, 3] {
        let p = api.get(&format!("/playbacks/{}", id(i))).await;
        assert_eq!(p["recordingStatus"], "COMPLETED", "clip {i} kept: {p}");
        let r = reqwest::get(p["videoUrl"].as_str().unwrap()).await.unwrap();
        assert_eq!(r.status(), 200, "clip {i} still plays");
        assert_eq!(r.bytes().await.unwrap().len() as u64, size(i));
    }
    assert_eq!(
        api.get(&format!("/playbacks/{}", id(0))).await["retain"],
        true
    );
    // Their media went with them (a local clip's URL names the old port).
    for i in [1, 2] {
        let url = clips[i]["videoUrl"].as_str().unwrap();
        let r = reqwest::get(url.replace(&old_base, &api.base))
            .await
            .unwrap();
        assert_ne!(r.status(), 200, "clip {i}'s media is deleted");
    }
}

#[tokio::test]
async fn retention_keeps_the_retained_and_deletes_the_oldest_on_sqlite() {
    retention_keeps_the_retained_and_deletes_the_oldest(Backend::Sqlite).await
}

#[tokio::test]
async fn retention_keeps_the_retained_and_deletes_the_oldest_on_postgres() {
    retention_keeps_the_retained_and_deletes_the_oldest(Backend::Postgres).await
}

/// A tmpfs mounted for one test (this needs root, as CI has); unmounted
/// when dropped, after the server using it.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // `timeout`: every child has a deadline.
        let ok = std::process::Command::new("timeout")
            .args([
                "10",
                "mount",
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes}"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot mount a tmpfs (the disk-floor test needs root)");
        Tmpfs(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("timeout")
            .args(["10", "umount", "-l"])
            .arg(self.0.path())
            .status();
    }
}

/// Recording's free-space floor on `RECORD_DIR` is 1 GiB. On a disk with
/// 16 MiB above it, clips of a camera at a real camera's bitrate fill it:
/// each new event below the floor deletes the oldest unretained clips and
/// records; none is refused, the retained first clip stays, and what was
/// deleted is the oldest, in order.
#[tokio::test]
async fn the_disk_floor_frees_space_instead_of_refusing() {
    let disk = Tmpfs::mount((1 << 30) + (16 << 20));
    let cam = TestCamera::start_with(free_port(), &["--bitrate", "8000", "--cbr"]);
    let server = Server::start(vec![("DATA_DIR".into(), disk.path().display().to_string())]);
    let api = Api::login(&server.base).await;
    let camera = api
        .post("/cameras", json!({"name": "Lot", "rtspUrl": cam.url()}))
        .await;
    let mut ids = Vec::new();
    for i in 0..9 {
        // A refusal would be FAILED, never RECORDING: the helper says so.
        let pb = api.record_clip(&camera, 2.0).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if i == 0 {
            api.patch(&format!("/playbacks/{pb}"), json!({"retain": true}))
                .await;
        }
        ids.push(pb);
    }
    let mut kept = Vec::new();
    for pb in &ids {
        let r = api
            .http
            .get(format!("{}/playbacks/{pb}", api.base))
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        kept.push(r.status() == 200);
    }
    assert!(kept[0], "the retained clip stays: {kept:?}");
    assert!(kept[8], "the newest clip stays: {kept:?}");
    let deleted = kept.iter().filter(|k| !**k).count();
    assert!(
        deleted >= 1,
        "the floor was reached and room made: {kept:?}"
    );
    // Deleted: clips 1..=deleted, oldest first.
    assert!(
        kept[1..=deleted].iter().all(|k| !k) && kept[deleted + 1..].iter().all(|k| *k),
        "the oldest unretained go first: {kept:?}"
    );
}

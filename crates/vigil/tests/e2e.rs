//! The `vigil` binary end to end: real RTSP camera, real ffmpeg, SQLite with
//! local storage, and both databases with an S3 server (moto, from
//! `tools/test`). Faults: the server killed with SIGKILL mid-recording and
//! mid-upload (and with a warm pre-roll ring), the S3 server unreachable
//! for a while (a proxy in front of it refuses or stalls connections), and
//! an S3 server of the test's own (s3s-fs) killed with an upload in flight,
//! and a PostgreSQL of the test's own crashed while a recording ends;
//! in each case the restarted or still-running server ends the playback
//! COMPLETED with what was recorded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../recorder/tests/support/camera.rs"]
mod camera;
mod client;
mod fault_proxy;
mod server;

use camera::{frame_lumas, TestCamera};
use client::Api;
use fault_proxy::{FaultProxy, Mode};
use serde_json::{json, Value};
use server::{r2_env, s3_endpoint, sqlite_url, OwnS3, Server};
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};
use vigil_persistence::testing::{Backend, TestDatabase};

/// Waits until `cond` holds (a proxy counter, a file), failing after 30 s.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn recordings_left(data: &Path) -> usize {
    std::fs::read_dir(data.join("recordings")).unwrap().count()
}

fn probe_duration(bytes: &[u8], dir: &Path) -> f64 {
    let f = dir.join("downloaded.mp4");
    std::fs::write(&f, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&f)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn seed_flow_on_the_embedded_default() {
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let _server = Server::start(vec![("DATA_DIR".into(), data.path().display().to_string())]);
    let api = Api::login(&_server.base).await;
    let (ev, pb) = api.record_for_3s(&cam).await;
    let end = api.end(&ev).await;
    assert_eq!(end["recordingStatus"], "PROCESSING");
    let done = api.wait_status(&pb, "COMPLETED").await;
    assert_eq!(done["codec"], "H.264");
    let r = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "video/mp4");
    let d = probe_duration(&r.bytes().await.unwrap(), data.path());
    assert!((2.0..5.0).contains(&d), "{d}");
    assert!((d - done["durationSec"].as_f64().unwrap()).abs() < 0.1);
    assert_eq!(recordings_left(data.path()), 0, "temp files removed");
    // The thumbnail was made in SNAPSHOT_DIR (default $DATA_DIR/snapshots),
    // stored, and its working file removed.
    let thumb = reqwest::get(done["thumbnailUrl"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(thumb.status(), 200);
    assert!(
        thumb.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]),
        "a JPEG"
    );
    let snapshots = data.path().join("snapshots");
    assert!(snapshots.is_dir());
    assert_eq!(
        std::fs::read_dir(&snapshots).unwrap().count(),
        0,
        "working file removed"
    );

    let metrics = reqwest::get(format!("{}/metrics", _server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "vigil_recordings_started_total 1",
        "vigil_recordings_completed_total 1",
        "vigil_upload_duration_seconds_count 1",
        "vigil_event_to_recording_seconds_count 1",
        "vigil_event_to_recording_seconds_bucket{le=\"+Inf\"} 1",
        "vigil_playbacks{status=\"COMPLETED\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    for name in [
        "vigil_jobs_queued",
        "vigil_record_dir_free_bytes",
        "vigil_uploaded_bytes_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}

#[tokio::test]
async fn a_server_killed_mid_recording_finishes_it_after_restart_on_postgres_and_s3() {
    let (db_url, _db) = TestDatabase::empty(Backend::Postgres).await;
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let env = r2_env(data.path(), db_url, &s3_endpoint().await, &[]);
    let server = Server::start(env);
    let api = Api::login(&server.base).await;
    let (_, pb) = api.record_for_3s(&cam).await;

    let server = server.restart();
    let api = Api::login(&server.base).await;
    let done = api.wait_status(&pb, "COMPLETED").await;
    assert!(
        done["error"].as_str().unwrap().contains("restart"),
        "{done}"
    );
    let r = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = probe_duration(&r.bytes().await.unwrap(), data.path());
    assert!(d >= 2.5, "what was recorded before the kill is kept: {d}");
    assert_eq!(
        recordings_left(data.path()),
        0,
        "no temp files or orphan folders left"
    );
}

#[tokio::test]
async fn a_server_killed_mid_upload_resumes_it_after_restart_on_sqlite_and_s3() {
    let proxy = FaultProxy::start(&s3_endpoint().await);
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let env = r2_env(
        data.path(),
        sqlite_url(data.path()),
        &proxy.url,
        // The clip's own upload is what this test stalls: no live
        // segment may be the stalled request it waits for.
        &[("JOB_LEASE_SECONDS", "3"), ("LIVE_UPLOAD", "false")],
    );
    let server = Server::start(env);
    let api = Api::login(&server.base).await;
    let (ev, pb) = api.record_for_3s(&cam).await;

    // The store hangs: the upload starts and never ends.
    proxy.set(Mode::Stall);
    let end = api.end(&ev).await;
    assert_eq!(end["recordingStatus"], "PROCESSING");
    until("the upload reached the store", || proxy.stalled() > 0).await;

    let mut server = server;
    let env = std::mem::take(&mut server.env);
    server.kill_hard();
    drop(server);
    proxy.set(Mode::Forward);
    let server = Server::start(env);
    let api = Api::login(&server.base).await;
    let done = api.wait_status(&pb, "COMPLETED").await;
    assert!(
        done["error"].is_null(),
        "a finished recording, not an interrupted one: {done}"
    );
    let r = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = probe_duration(&r.bytes().await.unwrap(), data.path());
    assert!(
        (d - done["durationSec"].as_f64().unwrap()).abs() < 0.1,
        "{d} {done}"
    );
    assert!(d >= 2.5, "{d}");
    assert_eq!(recordings_left(data.path()), 0, "no temp files left");
}

#[tokio::test]
async fn an_upload_waits_while_s3_is_down_and_completes_when_it_is_back_on_postgres() {
    let proxy = FaultProxy::start(&s3_endpoint().await);
    let (db_url, _db) = TestDatabase::empty(Backend::Postgres).await;
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let env = r2_env(
        data.path(),
        db_url,
        &proxy.url,
        // The clip's upload is what the proxy counts (live segments under
        // faults: tests/live.rs).
        &[("UPLOAD_RETRY_SECONDS", "1"), ("LIVE_UPLOAD", "false")],
    );
    let server = Server::start(env);
    let api = Api::login(&server.base).await;
    let (ev, pb) = api.record_for_3s(&cam).await;

    proxy.set(Mode::Refuse);
    api.end(&ev).await;
    until("several upload attempts failed", || proxy.refused() >= 3).await;
    let waiting = api.get(&format!("/playbacks/{pb}")).await;
    assert_eq!(waiting["recordingStatus"], "PROCESSING", "{waiting}");
    assert_eq!(recordings_left(data.path()), 1, "the clip waits on disk");

    proxy.set(Mode::Forward);
    let done = api.wait_status(&pb, "COMPLETED").await;
    let r = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().len() as i64,
        done["fileSizeBytes"].as_i64().unwrap()
    );
    assert_eq!(recordings_left(data.path()), 0);
}

/// ffmpeg processes whose command line writes into `dir`.
fn ffmpegs_writing_into(dir: &Path) -> usize {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .filter(|c| {
            c.split('\0').next().is_some_and(|a| a.ends_with("ffmpeg")) && c.contains(&needle)
        })
        .count()
}

#[tokio::test]
async fn pre_roll_clips_start_before_their_events_and_the_ring_survives_a_kill() {
    let cam = TestCamera::start_black();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(vec![("DATA_DIR".into(), data.path().display().to_string())]);
    let api = Api::login(&server.base).await;
    let camera = api
        .post(
            "/cameras",
            json!({"name": "Gate", "rtspUrl": cam.url(), "preRollSeconds": 5, "postRollSeconds": 1}),
        )
        .await;
    assert_eq!(camera["preRollSeconds"], 5);
    let ring = data
        .path()
        .join("recordings/ring")
        .join(camera["id"].as_str().unwrap());
    let segments = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".ts"))
                    .count()
            })
            .unwrap_or(0)
    };
    until("6 s in the ring", || segments(&ring) >= 7).await;

    cam.paint(true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let motion = json!({"cameraId": camera["id"], "type": "MOTION"});
    let first = api.post("/events", motion.clone()).await;
    let pb1 = first["playbackId"].as_str().unwrap().to_owned();
    let now = api.get(&format!("/playbacks/{pb1}")).await;
    assert_eq!(now["recordingStatus"], "RECORDING", "at once: {now}");
    let at = |v: &Value, field: &str| {
        time::OffsetDateTime::parse(
            v[field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let lead = (at(&first, "createdAt") - at(&now, "startedAt")).as_seconds_f64();
    assert!(
        (4.5..=7.0).contains(&lead),
        "startedAt is the clip's first frame, {lead} s before the event"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = api.post("/events", motion.clone()).await;
    let pb2 = second["playbackId"].as_str().unwrap().to_owned();
    assert_ne!(
        pb1, pb2,
        "each event on a pre-roll camera gets its own clip"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    for ev in [&first, &second] {
        let end = api.end(ev).await;
        assert_eq!(end["recordingStatus"], "PROCESSING");
    }
    let done = api.wait_status(&pb1, "COMPLETED").await;
    api.wait_status(&pb2, "COMPLETED").await;
    let bytes = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let d = probe_duration(&bytes, data.path());
    assert!((9.5..=12.5).contains(&d), "5 s + 4 s + 1 s, got {d}");
    let clip = data.path().join("pre-roll.mp4");
    std::fs::write(&clip, &bytes).unwrap();
    let lumas = frame_lumas(&clip);
    assert!(
        lumas[0] < 64,
        "the clip opens before the paint, 2 s before the event"
    );
    assert!(*lumas.last().unwrap() > 192);

    let t = Instant::now();
    loop {
        let m = reqwest::get(format!("{}/metrics", server.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains("vigil_pre_roll_cameras{state=\"warm\"} 1") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "no warm camera in:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A kill -9: the restarted server stops the old ring ffmpeg, rebuilds
    // the ring from its recent segments and records from it at once.
    let server = server.restart();
    let api = Api::login(&server.base).await;
    assert!(ffmpegs_writing_into(&ring) <= 1, "the orphan was stopped");
    until("the ring's new ffmpeg", || ffmpegs_writing_into(&ring) == 1).await;
    let third = api.post("/events", motion).await;
    let pb3 = third["playbackId"].as_str().unwrap().to_owned();
    let now = api.get(&format!("/playbacks/{pb3}")).await;
    assert_eq!(
        now["recordingStatus"], "RECORDING",
        "at once after a restart: {now}"
    );
    api.post(&format!("/playbacks/{pb3}/stop"), json!({})).await;
    api.wait_status(&pb3, "COMPLETED").await;
    // Bounded: max(5 s of pre-roll, BACKDATE_MAX_SECONDS = 10 s) + 3 s of
    // margin, in 1 s segments, and the one being written.
    assert!(segments(&ring) <= 15, "{} segments", segments(&ring));
}

#[tokio::test]
async fn an_s3_server_killed_mid_upload_and_restarted_loses_nothing() {
    let mut s3 = OwnS3::start();
    let proxy = FaultProxy::start(&s3.url());
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let env = r2_env(
        data.path(),
        sqlite_url(data.path()),
        &proxy.url,
        // The clip's upload is what the proxy counts (live segments under
        // faults: tests/live.rs).
        &[("UPLOAD_RETRY_SECONDS", "1"), ("LIVE_UPLOAD", "false")],
    );
    let server = Server::start(env);
    let api = Api::login(&server.base).await;

    // One clip stored before the fault.
    let (ev, before) = api.record_for_3s(&cam).await;
    api.end(&ev).await;
    let stored = api.wait_status(&before, "COMPLETED").await;

    // The next upload is in flight when the S3 server dies.
    let (ev, pb) = api.record_for_3s(&cam).await;
    proxy.set(Mode::Stall);
    api.end(&ev).await;
    until("the upload reached the store", || proxy.stalled() > 0).await;
    s3.kill_hard();
    proxy.set(Mode::Forward); // to a dead server: connections fail
    until("attempts against the dead server", || {
        proxy.unreachable() >= 2
    })
    .await;
    let waiting = api.get(&format!("/playbacks/{pb}")).await;
    assert_eq!(waiting["recordingStatus"], "PROCESSING", "{waiting}");
    assert_eq!(recordings_left(data.path()), 1, "the clip waits on disk");

    s3.restart();
    let done = api.wait_status(&pb, "COMPLETED").await;
    for playback in [&done, &stored] {
        let r = reqwest::get(playback["videoUrl"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{playback}");
        assert_eq!(
            r.bytes().await.unwrap().len() as i64,
            playback["fileSizeBytes"].as_i64().unwrap()
        );
    }
    assert_eq!(recordings_left(data.path()), 0, "no temp files left");
}

/// A PostgreSQL owned by one test (`tools/pg.sh`), so the test can crash it
/// and start it again on the same port and data.
struct OwnPostgres {
    dir: tempfile::TempDir,
    url: String,
}

fn pg_sh(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/pg.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tools/pg.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl OwnPostgres {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The server runs as the postgres user when the tests run as root.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let url = pg_sh(&["start", &Self::data(&dir)]);
        OwnPostgres { dir, url }
    }

    fn data(dir: &tempfile::TempDir) -> String {
        dir.path().join("pg").display().to_string()
    }

    fn crash(&self) {
        pg_sh(&["kill", &Self::data(&self.dir)]);
    }

    fn resume(&self) {
        pg_sh(&["resume", &Self::data(&self.dir)]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/pg.sh"))
            .args(["stop", &Self::data(&self.dir)])
            .output();
    }
}

#[tokio::test]
async fn a_recording_that_ends_while_postgres_is_down_is_stored_when_it_is_back() {
    let pg = OwnPostgres::start();
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(vec![
        ("DATA_DIR".into(), data.path().display().to_string()),
        ("DATABASE_URL".into(), pg.url.clone()),
        ("MAX_RECORDING_SECONDS".into(), "6".into()),
    ]);
    let api = Api::login(&server.base).await;
    let (_, pb) = api.record_for_3s(&cam).await;

    // The database crashes; the recording reaches its length limit and is
    // finalized while it is down.
    pg.crash();
    let ready = reqwest::get(format!("{}/ready", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("database"));
    let clip = data.path().join("recordings").join(&pb).join("video.mp4");
    until("the clip joined while the database is down", || {
        clip.exists()
    })
    .await;

    pg.resume();
    let done = api.wait_status(&pb, "COMPLETED").await;
    let d = done["durationSec"].as_f64().unwrap();
    assert!((5.0..7.5).contains(&d), "the whole 6 s recording: {d}");
    let r = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(recordings_left(data.path()), 0, "no temp files left");
}

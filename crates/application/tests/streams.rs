//! The cameras' `stream` objects on the real capture mechanism, a real
//! camera and the real (SQLite) camera repository: a probe fills them, a
//! refusal says unauthorized, a take reports its camera's link and its
//! clip's measurements, and a camera deleted meanwhile is no error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../recorder/tests/support/mod.rs"]
mod support;

mod fakes;

use fakes::{DirStore, FlakyJobs, MemPlaybacks};
use std::{sync::Arc, time::Duration};
use support::{free_port, TestCamera};
use vigil_application::{CameraStreams, RecordingService, ServiceLimits};
use vigil_domain::{
    capture::Capture,
    ports::{CameraRepo, Recorder},
    Camera, CameraName, CameraStream, NewCamera, PlaybackId, RecordingStatus, RtspUrl, StreamState,
};
use vigil_persistence::testing::TestDatabase;
use vigil_recorder::{FfmpegCapture, FfmpegRecorder, RecorderConfig};

struct Fixture {
    _dir: tempfile::TempDir,
    db: TestDatabase,
    capture: Arc<dyn Capture>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (ffmpeg, ffprobe) = support::tools();
    let cfg = RecorderConfig::new(ffmpeg, ffprobe, dir.path().join("rec"));
    std::fs::create_dir_all(&cfg.record_dir).unwrap();
    Fixture {
        capture: Arc::new(FfmpegCapture::new(FfmpegRecorder::new(cfg.clone()))),
        db: TestDatabase::sqlite().await,
        _dir: dir,
    }
}

async fn add_camera(repo: &Arc<dyn CameraRepo>, url: &str) -> Camera {
    repo.create(NewCamera {
        name: CameraName::parse("Field").unwrap(),
        rtsp_url: RtspUrl::parse(url).unwrap(),
        n_channel_id: None,
        pre_roll: Default::default(),
        post_roll: Default::default(),
        retention: None,
        retention_max_bytes: None,
        merge: Default::default(),
        transcode: Default::default(),
    })
    .await
    .unwrap()
}

/// The stored stream once `done` holds of it (writes come from tasks with
/// no event to await; bounded).
async fn stream_until(
    repo: &Arc<dyn CameraRepo>,
    camera: &Camera,
    done: impl Fn(&CameraStream) -> bool,
) -> CameraStream {
    for _ in 0..400 {
        let s = repo.get(camera.id).await.unwrap().unwrap().stream;
        if done(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never: {:?}",
        repo.get(camera.id).await.unwrap().unwrap().stream
    );
}

#[tokio::test]
async fn a_probe_fills_the_stream_and_a_refused_one_says_unauthorized() {
    let f = fixture().await;
    let repo = f.db.db.cameras();
    let streams = CameraStreams::new(repo.clone(), f.capture.clone());

    let cam = TestCamera::start_with(free_port(), &["--video", "h265", "--gop", "2"]);
    let camera = add_camera(&repo, &cam.url()).await;
    streams.check(&camera);
    let s = stream_until(&repo, &camera, |s| s.state == StreamState::Connected).await;
    assert_eq!(s.facts.video_codec.as_deref(), Some("H.265"));
    assert_eq!(s.facts.audio_codec.as_deref(), Some("aac"));
    let k = s.facts.keyframe_interval_sec.unwrap();
    // A keyframe every 50 frames (2 s at 25 fps): under load the test
    // camera's live encoder drops frames, which stretches the GOP in time,
    // never shrinks it.
    assert!((1.9..=4.0).contains(&k), "{k}");
    assert!(s.checked_at.is_some());
    assert_eq!(s.last_error, None);

    let locked = TestCamera::start_with(
        free_port(),
        &["--auth", "digest", "--credentials", "viewer:right-pass-7"],
    );
    let wrong = locked
        .url()
        .replace("rtsp://", "rtsp://viewer:not-the-pass-9@");
    let refused = add_camera(&repo, &wrong).await;
    streams.check(&refused);
    let s = stream_until(&repo, &refused, |s| s.state == StreamState::Unauthorized).await;
    assert_eq!(
        s.last_error.as_deref(),
        Some("camera unreachable: camera refused the credentials (401)")
    );

    // Deleted while its probe runs: nothing is written, nothing fails.
    let gone = add_camera(&repo, &cam.url()).await;
    streams.check(&gone);
    assert!(repo.delete(gone.id).await.unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(repo.get(gone.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_take_reports_a_refusal_and_a_clip_its_measurements() {
    let f = fixture().await;
    let repo = f.db.db.cameras();
    let playbacks = Arc::new(MemPlaybacks::default());
    let objects = f._dir.path().join("objects");
    let store = Arc::new(DirStore::new(objects));
    let jobs = Arc::new(FlakyJobs::new(f.db.db.jobs()));
    let service = RecordingService::new(
        f.capture.clone(),
        playbacks.clone(),
        store,
        jobs,
        ServiceLimits::new(4, 0),
    )
    .with_streams(CameraStreams::new(repo.clone(), f.capture.clone()));
    let _ = service.start_jobs();

    let locked = TestCamera::start_with(
        free_port(),
        &["--auth", "basic", "--credentials", "viewer:right-pass-7"],
    );
    let wrong = locked
        .url()
        .replace("rtsp://", "rtsp://viewer:not-the-pass-9@");
    let camera = add_camera(&repo, &wrong).await;
    let id = PlaybackId::new();
    playbacks.insert(id, RecordingStatus::Pending);
    service
        .start(id, &camera, vigil_domain::RecordWindow::of(&camera))
        .await
        .unwrap();
    let s = stream_until(&repo, &camera, |s| s.state == StreamState::Unauthorized).await;
    assert!(s.last_error.unwrap().contains("(401)"));
    for _ in 0..100 {
        if playbacks.status(id) == RecordingStatus::Failed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = playbacks.get_now(id);
    assert_eq!(p.status, RecordingStatus::Failed);
    assert!(p
        .error
        .unwrap()
        .contains("camera refused the credentials (401)"));

    // A 2 s GOP camera: the finished clip measures it.
    let cam = TestCamera::start_with(free_port(), &["--gop", "2"]);
    let camera = add_camera(&repo, &cam.url()).await;
    let id = PlaybackId::new();
    playbacks.insert(id, RecordingStatus::Pending);
    service
        .start(id, &camera, vigil_domain::RecordWindow::of(&camera))
        .await
        .unwrap();
    let s = stream_until(&repo, &camera, |s| s.state == StreamState::Connected).await;
    assert_eq!(s.facts.keyframe_interval_sec, None, "not measured yet");
    tokio::time::sleep(Duration::from_secs(5)).await;
    service.stop(id).await.unwrap();
    let s = stream_until(&repo, &camera, |s| s.facts.keyframe_interval_sec.is_some()).await;
    let k = s.facts.keyframe_interval_sec.unwrap();
    // A keyframe every 50 frames (2 s at 25 fps): under load the test
    // camera's live encoder drops frames, which stretches the GOP in time,
    // never shrinks it.
    assert!((1.9..=4.0).contains(&k), "{k}");
    assert_eq!(s.facts.video_codec.as_deref(), Some("H.264"));
}

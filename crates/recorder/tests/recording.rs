//! The recorder against a real RTSP camera (GStreamer's RTSP server with a
//! test pattern, H.264 + AAC) and the real ffmpeg.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};
use support::{decode_errors, free_port, is_faststart, TestCamera};
use vigil_domain::RtspUrl;
use vigil_recorder::{FfmpegRecorder, RecordErrorKind, RecorderConfig, RecorderEvent};

fn recorder(dir: &std::path::Path) -> FfmpegRecorder {
    let (ffmpeg, ffprobe) = support::tools();
    let mut cfg = RecorderConfig::new(ffmpeg, ffprobe, dir.to_owned());
    cfg.io_timeout = Duration::from_secs(3);
    cfg.reconnect_window = Duration::from_secs(20);
    FfmpegRecorder::new(cfg)
}

async fn wait_media(rec: &mut vigil_recorder::Recording) {
    let ev = tokio::time::timeout(Duration::from_secs(20), rec.next_event())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev, RecorderEvent::MediaWritten);
}

#[tokio::test]
async fn five_seconds_make_a_faststart_clip_of_five_seconds() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let mut rec = recorder(dir.path())
        .start("clip-5s", RtspUrl::parse(&cam.url()).unwrap())
        .unwrap();
    wait_media(&mut rec).await;
    support::sleep(Duration::from_secs(5)).await;
    rec.stop();
    let clip = rec.finish().await.unwrap();
    let d = clip.info.media.duration_sec.unwrap();
    assert!((4.0..=6.5).contains(&d), "duration {d}");
    assert_eq!(clip.info.media.codec.as_deref(), Some("H.264"));
    assert_eq!(clip.info.media.resolution.as_deref(), Some("360p"));
    assert!(clip.info.has_audio);
    assert!(is_faststart(&clip.path), "moov must come first");
    assert_eq!(decode_errors(&clip.path), "");
    assert!(!clip.dir.join("manifest.json").exists());
    clip.remove_files().await.unwrap();
    assert!(!clip.dir.exists());
}

#[tokio::test]
async fn an_unreachable_camera_fails_clearly_and_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let url = RtspUrl::parse(&format!(
        "rtsp://user:pw-secret@127.0.0.1:{}/none",
        free_port()
    ))
    .unwrap();
    let started = Instant::now();
    let rec = recorder(dir.path()).start("down", url).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), rec.finish())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), RecordErrorKind::CameraUnreachable, "{err:?}");
    assert!(!err.to_string().contains("pw-secret"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_camera_that_drops_and_returns_gives_one_clip_of_both_parts() {
    let mut cam = TestCamera::start();
    let port = cam.port;
    let dir = tempfile::tempdir().unwrap();
    let mut rec = recorder(dir.path())
        .start("drop", RtspUrl::parse(&cam.url()).unwrap())
        .unwrap();
    wait_media(&mut rec).await;
    support::sleep(Duration::from_secs(3)).await;
    cam.kill();
    let ev = tokio::time::timeout(Duration::from_secs(20), rec.next_event())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(ev, RecorderEvent::Reconnecting { attempt: 1, .. }),
        "{ev:?}"
    );
    let _cam = TestCamera::start_on(port);
    // Wait until the second part has media on disk, then record a bit more.
    let before = std::fs::read_dir(rec.dir()).unwrap().count();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(rec.dir()).unwrap().count() <= before + 1 {
        assert!(
            Instant::now() < deadline,
            "no new parts after the camera came back"
        );
        support::sleep(Duration::from_millis(200)).await;
    }
    support::sleep(Duration::from_secs(3)).await;
    rec.stop();
    let clip = rec.finish().await.unwrap();
    assert!(clip.reconnects >= 1);
    let d = clip.info.media.duration_sec.unwrap();
    assert!(d >= 5.0, "both parts must be in the clip, got {d} s");
    // However many attempts it took, the time away is one gap.
    assert_eq!(clip.gaps.len(), 1, "{:?}", clip.gaps);
    assert!(is_faststart(&clip.path));
}

#[tokio::test]
async fn a_dropped_recording_stops_and_still_makes_its_clip() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let mut rec = recorder(dir.path())
        .start("dropped", RtspUrl::parse(&cam.url()).unwrap())
        .unwrap();
    wait_media(&mut rec).await;
    let folder = rec.dir().to_owned();
    drop(rec);
    let t = Instant::now();
    // The clip is made and the manifest removed once ffmpeg has exited.
    while !folder.join("video.mp4").exists() || folder.join("manifest.json").exists() {
        assert!(t.elapsed() < Duration::from_secs(20), "never stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(decode_errors(&folder.join("video.mp4")), "");
}

#[tokio::test]
async fn stopping_twice_and_after_the_end_is_harmless() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let mut rec = recorder(dir.path())
        .start("twice", RtspUrl::parse(&cam.url()).unwrap())
        .unwrap();
    wait_media(&mut rec).await;
    let h = rec.stop_handle();
    h.stop();
    h.stop();
    let clip = rec.finish().await.unwrap();
    h.stop();
    assert!(clip.info.media.duration_sec.unwrap() > 0.0);
}

#[tokio::test]
async fn the_length_limit_ends_a_recording_by_itself() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let (ffmpeg, ffprobe) = support::tools();
    let mut cfg = RecorderConfig::new(ffmpeg, ffprobe, dir.path().to_owned());
    cfg.max_duration = Duration::from_secs(3);
    let rec = FfmpegRecorder::new(cfg)
        .start("limit", RtspUrl::parse(&cam.url()).unwrap())
        .unwrap();
    let clip = tokio::time::timeout(Duration::from_secs(30), rec.finish())
        .await
        .unwrap()
        .unwrap();
    let d = clip.info.media.duration_sec.unwrap();
    assert!((1.0..=3.5).contains(&d), "{d}");
}

#[tokio::test]
async fn an_unrelated_ffmpeg_is_never_taken_for_ours() {
    // A bystander ffmpeg, and a manifest that names its pid and start time.
    let mut other = support::bystander_ffmpeg();
    let pid = other.id();
    let dir = tempfile::tempdir().unwrap();
    let url = RtspUrl::parse("rtsp://cam/live").unwrap();
    support::sleep(Duration::from_millis(200)).await;
    vigil_recorder::manifest::Manifest::write(dir.path(), "x", pid, &url).unwrap();
    let m = vigil_recorder::manifest::Manifest::read(dir.path()).unwrap();
    assert!(m.start_ticks.is_some());
    assert!(
        !m.process_is_ours(dir.path()),
        "its command line does not write into our folder"
    );
    assert!(
        other.try_wait().unwrap().is_none(),
        "the bystander still runs"
    );
    other.kill().unwrap();
    other.wait().unwrap();
}

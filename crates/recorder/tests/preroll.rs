//! The pre-roll ring against the real RTSP test camera and ffmpeg. The
//! camera films black until the test paints it white, so a clip's frames
//! show whether they were filmed before or after a moment the test chose.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    os::unix::fs::MetadataExt,
    path::Path,
    time::{Duration, Instant},
};
use support::{decode_errors, frame_lumas, is_faststart, TestCamera};
use vigil_domain::RtspUrl;
use vigil_recorder::{FfmpegRecorder, RecorderConfig, RecorderEvent, Ring};

const FPS: f64 = 25.0;

fn recorder(dir: &Path) -> FfmpegRecorder {
    let (ffmpeg, ffprobe) = support::tools();
    let mut cfg = RecorderConfig::new(ffmpeg, ffprobe, dir.to_owned());
    cfg.io_timeout = Duration::from_secs(3);
    FfmpegRecorder::new(cfg)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Polls `cond` until it holds; fails the test after `limit`.
async fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A warm ring holding at least `segments` closed segments.
async fn warm_ring(
    rec: &FfmpegRecorder,
    cam: &TestCamera,
    keep: Duration,
    segments: usize,
) -> Ring {
    let ring = rec
        .ring("cam1", RtspUrl::parse(&cam.url()).unwrap(), keep)
        .unwrap();
    until("a warm ring", secs(20), || ring.is_warm()).await;
    until("segments in the ring", secs(20), || {
        ring.disk_usage().0 > segments
    })
    .await;
    ring
}

/// The clip's first frame, when it turns white (seconds into the clip) and
/// its last frame.
fn white_from(lumas: &[u8]) -> Option<f64> {
    lumas.iter().position(|l| *l > 128).map(|i| i as f64 / FPS)
}

async fn expect_media_at_once(rec: &mut vigil_recorder::Recording) {
    let ev = tokio::time::timeout(Duration::from_millis(50), rec.next_event())
        .await
        .expect("a warm ring has media at once")
        .unwrap();
    assert_eq!(ev, RecorderEvent::MediaWritten);
}

#[tokio::test]
async fn a_clip_starts_before_its_trigger() {
    let cam = TestCamera::start_black();
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let ring = warm_ring(&rec, &cam, secs(8), 6).await;

    // Painted 2 s before the trigger: with 5 s of pre-roll the clip opens
    // on about 3 s of black.
    cam.paint(true);
    tokio::time::sleep(secs(2)).await;
    let trigger = std::time::SystemTime::now();
    let mut recording = ring.record("event-1", secs(5), secs(1)).unwrap();
    expect_media_at_once(&mut recording).await;
    let lead = trigger
        .duration_since(recording.media_since().unwrap())
        .unwrap()
        .as_secs_f64();
    assert!(
        (4.9..=6.5).contains(&lead),
        "the clip's first frame was filmed {lead} s before the trigger"
    );
    tokio::time::sleep(secs(4)).await;
    recording.stop();
    let clip = recording.finish().await.unwrap();

    let duration = clip.info.media.duration_sec.unwrap();
    // 5 s pre-roll + 4 s event + 1 s post-roll, each end cut at the
    // keyframe (1 s GOP) outside the window.
    assert!(
        (9.5..=12.5).contains(&duration),
        "clip of {duration} s, expected about 10"
    );
    assert!(is_faststart(&clip.path));
    assert_eq!(decode_errors(&clip.path), "");
    let lumas = frame_lumas(&clip.path);
    assert!(lumas[0] < 64, "the first frame was filmed before the paint");
    assert!(*lumas.last().unwrap() > 192, "the last one after it");
    let turn = white_from(&lumas).unwrap();
    assert!(
        (1.8..=4.5).contains(&turn),
        "the paint, 2 s before the trigger, shows {turn} s into the clip"
    );
    ring.remove().await;
}

#[tokio::test]
async fn overlapping_events_share_segments_and_get_their_own_clips() {
    let cam = TestCamera::start_black();
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let ring = warm_ring(&rec, &cam, secs(5), 3).await;

    let mut first = ring.record("event-a", secs(2), secs(0)).unwrap();
    expect_media_at_once(&mut first).await;
    tokio::time::sleep(secs(1)).await;
    cam.paint(true);
    tokio::time::sleep(secs(3)).await;
    // Opens 3 s after the paint with 1 s of pre-roll: all white.
    let mut second = ring.record("event-b", secs(1), secs(0)).unwrap();
    expect_media_at_once(&mut second).await;
    tokio::time::sleep(secs(2)).await;
    first.stop();
    tokio::time::sleep(secs(2)).await;
    second.stop();
    let (a, b) = (
        first.finish().await.unwrap(),
        second.finish().await.unwrap(),
    );

    // Segments both clips cover are one file on disk, linked twice.
    let inodes = |clip: &Path| -> Vec<u64> {
        let mut parts: Vec<_> = std::fs::read_dir(clip)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".ts"))
            .map(|e| (e.file_name(), e.metadata().unwrap().ino()))
            .collect();
        parts.sort();
        parts.into_iter().map(|p| p.1).collect()
    };
    let (ia, ib) = (inodes(&a.dir), inodes(&b.dir));
    assert!(
        ib.iter().any(|i| ia.contains(i)),
        "the overlap is shared, not copied"
    );

    assert_eq!(decode_errors(&a.path), "");
    assert_eq!(decode_errors(&b.path), "");
    let (la, lb) = (frame_lumas(&a.path), frame_lumas(&b.path));
    assert!(la[0] < 64 && *la.last().unwrap() > 192, "A spans the paint");
    assert!(lb[0] > 192, "B begins after the paint");
    let (da, db) = (
        a.info.media.duration_sec.unwrap(),
        b.info.media.duration_sec.unwrap(),
    );
    assert!((7.5..=10.5).contains(&da), "A: 2 s + 6 s, got {da}");
    assert!((4.5..=7.5).contains(&db), "B: 1 s + 4 s, got {db}");
    ring.remove().await;
}

#[tokio::test]
async fn the_ring_stays_bounded_while_a_long_clip_holds_its_segments() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let keep = secs(2);
    let ring = warm_ring(&rec, &cam, keep, 2).await;
    // A clip that is not finished (as if its upload were slow) holds links
    // to everything it covers.
    let recording = ring.record("long", secs(2), secs(0)).unwrap();
    let ring_files = || std::fs::read_dir(ring.dir()).unwrap().count();
    let mut most = 0;
    let t = Instant::now();
    while t.elapsed() < secs(15) {
        let (segments, _) = ring.disk_usage();
        most = most.max(segments).max(ring_files() - 1); // - the manifest
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // keep / 1 s segments + the open one + one that just closed.
    assert!(most <= 4, "the ring held {most} segments for a 2 s window");
    let held = std::fs::read_dir(recording.dir()).unwrap().count();
    assert!(held >= 15, "the clip kept its {held} segments");
    recording.stop();
    let clip = recording.finish().await.unwrap();
    assert!(clip.info.media.duration_sec.unwrap() >= 15.0);
    ring.remove().await;
    assert!(!ring.dir().exists());
}

#[tokio::test]
async fn a_restarted_ring_keeps_its_recent_segments() {
    let cam = TestCamera::start_black();
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let ring = warm_ring(&rec, &cam, secs(8), 3).await;
    cam.paint(true);
    // A server stop: the ffmpeg ends, the segments stay.
    until("a white segment", secs(5), || ring.disk_usage().0 > 5).await;
    ring.stop_and_wait().await;
    drop(ring);

    let ring = rec
        .ring("cam1", RtspUrl::parse(&cam.url()).unwrap(), secs(8))
        .unwrap();
    let (rebuilt, _) = ring.disk_usage();
    assert!(rebuilt >= 5, "segments from before the restart: {rebuilt}");
    // Pre-roll reaches back before the restart, to the black frames.
    let mut recording = ring.record("after-restart", secs(8), secs(0)).unwrap();
    expect_media_at_once(&mut recording).await;
    until("the ring warm again", secs(20), || ring.is_warm()).await;
    tokio::time::sleep(secs(1)).await;
    recording.stop();
    let clip = recording.finish().await.unwrap();
    assert_eq!(decode_errors(&clip.path), "", "joined across the restart");
    let lumas = frame_lumas(&clip.path);
    assert!(lumas[0] < 64, "the clip starts with pre-restart frames");
    assert!(*lumas.last().unwrap() > 192);
    ring.remove().await;
}

#[tokio::test]
async fn a_camera_drop_leaves_the_ring_running() {
    let mut cam = TestCamera::start();
    let port = cam.port;
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let ring = warm_ring(&rec, &cam, secs(4), 2).await;
    let mut recording = ring.record("across-drop", secs(2), secs(0)).unwrap();
    expect_media_at_once(&mut recording).await;
    cam.kill();
    until("the ring to notice", secs(20), || !ring.is_warm()).await;
    let cam = TestCamera::start_on(port);
    until("the ring back", secs(30), || ring.is_warm()).await;
    tokio::time::sleep(secs(2)).await;
    recording.stop();
    let (mut reconnects, mut resumed) = (0, 0);
    let clip = loop {
        match recording.next_event().await.unwrap() {
            RecorderEvent::Reconnecting { .. } => reconnects += 1,
            RecorderEvent::Resumed { .. } => resumed += 1,
            RecorderEvent::Finished(r) => break r.unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(reconnects >= 1);
    assert_eq!(clip.reconnects, reconnects);
    // The time the camera was away is a gap in the clip, reported when the
    // ring's first new segment was linked.
    assert_eq!(clip.gaps.len(), resumed, "{:?}", clip.gaps);
    assert!(resumed >= 1);
    assert!(clip.gaps[0].1 >= secs(1), "{:?}", clip.gaps);
    assert!(clip.info.media.duration_sec.unwrap() >= 3.0);
    drop(cam);
    ring.remove().await;
}

#[tokio::test]
async fn a_dropped_recording_from_the_ring_ends_and_still_makes_its_clip() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let ring = warm_ring(&rec, &cam, secs(4), 2).await;
    let recording = ring.record("dropped", secs(2), secs(0)).unwrap();
    let folder = recording.dir().to_owned();
    drop(recording);
    // The join starts only once the recording has ended.
    let clip = folder.join("video.mp4");
    until("the clip of a dropped recording", secs(20), || {
        clip.exists()
    })
    .await;
    ring.remove().await;
}

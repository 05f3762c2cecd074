//! Clips written while they record (`stream_clip`): against the real
//! camera and ffmpeg, the growing file only grows but for its first bytes,
//! the finished clip is that file (moov at the end) and decodes, and a
//! reconnect falls back to the join.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};
use support::{decode_errors, frame_lumas, is_faststart, TestCamera};
use vigil_domain::{capture::GROWING_CLIP_NAME, RtspUrl};
use vigil_recorder::{mp4, FfmpegRecorder, RecorderConfig, RecorderEvent};

fn recorder(dir: &std::path::Path) -> FfmpegRecorder {
    let (ffmpeg, ffprobe) = support::tools();
    let mut cfg = RecorderConfig::new(ffmpeg, ffprobe, dir.to_owned());
    cfg.io_timeout = Duration::from_secs(3);
    cfg.reconnect_window = Duration::from_secs(20);
    cfg.stream_clip = true;
    FfmpegRecorder::new(cfg)
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_media(rec: &mut vigil_recorder::Recording) {
    let ev = tokio::time::timeout(Duration::from_secs(20), rec.next_event())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev, RecorderEvent::MediaWritten);
}

/// The top-level boxes of an MP4, in order.
fn boxes(path: &std::path::Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut at = 0usize;
    let mut names = Vec::new();
    while at + 8 <= data.len() {
        let mut size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        names.push(String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned());
        if size == 1 {
            size = u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap()) as usize;
        }
        if size < 8 {
            break;
        }
        at += size;
    }
    names
}

#[tokio::test]
async fn the_clip_is_written_while_recording_and_only_its_first_bytes_change_at_the_end() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let mut rec = recorder(dir.path())
        .start("grow", RtspUrl::parse(&cam.url()).unwrap())
        .unwrap();
    wait_media(&mut rec).await;
    let recording = Instant::now();
    let growing = rec.dir().join(GROWING_CLIP_NAME);
    until("the growing clip", || {
        std::fs::metadata(&growing).is_ok_and(|m| m.len() > 100_000)
    })
    .await;
    let early = std::fs::read(&growing).unwrap();
    support::sleep(Duration::from_secs(3)).await;
    rec.stop();
    let clip = rec.finish().await.unwrap();

    assert!(clip.streamed, "the clip is the growing file, finished");
    assert!(!growing.exists());
    let done = std::fs::read(&clip.path).unwrap();
    assert!(done.len() > early.len());
    // Past the header (ftyp, free, the mdat size) nothing written while
    // recording changed.
    let header = 48;
    assert_eq!(
        done[header..early.len()],
        early[header..],
        "bytes rewritten"
    );
    assert_eq!(boxes(&clip.path), ["ftyp", "free", "mdat", "moov"]);
    assert!(!is_faststart(&clip.path));
    assert_eq!(decode_errors(&clip.path), "");
    let d = clip.info.media.duration_sec.unwrap();
    let took = recording.elapsed().as_secs_f64();
    assert!(
        d >= 3.0 && d <= took + 1.5,
        "duration {d} of {took} s recorded"
    );
    assert!(clip.info.has_audio);

    // Its faststart form with the header padded to a given length (as an
    // upload's first part) plays the same media.
    let head = mp4::faststart_head(&clip.path, Some(1 << 20)).unwrap();
    assert_eq!(head.header.len(), 1 << 20);
    let padded = dir.path().join("padded.mp4");
    let media = &done[head.media.start as usize..head.media.end as usize];
    std::fs::write(&padded, [head.header.as_slice(), media].concat()).unwrap();
    assert!(is_faststart(&padded));
    assert_eq!(decode_errors(&padded), "");
    assert_eq!(frame_lumas(&padded).len(), frame_lumas(&clip.path).len());
    // And rewritten in place.
    mp4::make_faststart(&clip.path).unwrap();
    assert_eq!(boxes(&clip.path), ["ftyp", "moov", "mdat"]);
    assert_eq!(decode_errors(&clip.path), "");
}

#[tokio::test]
async fn a_reconnect_gives_up_the_growing_clip_and_the_parts_are_joined() {
    let mut cam = TestCamera::start();
    let port = cam.port;
    let dir = tempfile::tempdir().unwrap();
    let mut rec = recorder(dir.path())
        .start("drop", RtspUrl::parse(&cam.url()).unwrap())
        .unwrap();
    wait_media(&mut rec).await;
    let growing = rec.dir().join(GROWING_CLIP_NAME);
    until("the growing clip", || growing.exists()).await;
    cam.kill();
    let ev = tokio::time::timeout(Duration::from_secs(20), rec.next_event())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ev, RecorderEvent::Reconnecting { .. }), "{ev:?}");
    let _cam = TestCamera::start_on(port);
    let ev = tokio::time::timeout(Duration::from_secs(30), rec.next_event())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ev, RecorderEvent::Resumed { .. }), "{ev:?}");
    until("the growing clip given up", || !growing.exists()).await;
    support::sleep(Duration::from_secs(2)).await;
    rec.stop();
    let clip = rec.finish().await.unwrap();
    assert!(!clip.streamed);
    assert!(is_faststart(&clip.path), "joined from the parts");
    assert_eq!(clip.gaps.len(), 1, "{:?}", clip.gaps);
}

#[tokio::test]
async fn a_clip_from_a_warm_ring_grows_from_its_pre_roll() {
    let cam = TestCamera::start_black();
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let ring = rec
        .ring(
            "cam1",
            RtspUrl::parse(&cam.url()).unwrap(),
            Duration::from_secs(8),
        )
        .unwrap();
    until("a warm ring with segments", || {
        ring.is_warm() && ring.disk_usage().0 > 4
    })
    .await;
    let recording = ring
        .record("event-1", Duration::from_secs(3), Duration::from_secs(1))
        .unwrap();
    cam.paint(true);
    support::sleep(Duration::from_secs(3)).await;
    recording.stop();
    let clip = recording.finish().await.unwrap();
    assert!(clip.streamed);
    assert_eq!(boxes(&clip.path), ["ftyp", "free", "mdat", "moov"]);
    assert_eq!(decode_errors(&clip.path), "");
    let d = clip.info.media.duration_sec.unwrap();
    // 3 s of pre-roll, 3 s, 1 s of post-roll, cut at keyframes.
    assert!((6.0..=9.5).contains(&d), "duration {d}");
    let lumas = frame_lumas(&clip.path);
    assert!(
        lumas[0] < 64,
        "opens on the pre-roll, filmed before the paint"
    );
    assert!(*lumas.last().unwrap() > 192);
    ring.remove().await;
}

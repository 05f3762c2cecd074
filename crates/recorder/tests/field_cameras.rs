//! The recorder against cameras as they are in the field (the test camera
//! with H.265 video, G.711 or Opus audio): video is copied as it comes,
//! audio MP4 players can't read is encoded to AAC, Opus is kept, and every
//! clip finishes and decodes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;
use support::{decode_errors, free_port, TestCamera};
use vigil_domain::RtspUrl;
use vigil_recorder::{stream_probe::probe_live, FfmpegRecorder, RecorderConfig, RecorderEvent};

fn recorder(dir: &std::path::Path) -> FfmpegRecorder {
    let (ffmpeg, ffprobe) = support::tools();
    FfmpegRecorder::new(RecorderConfig::new(ffmpeg, ffprobe, dir.to_owned()))
}

/// `(codec_type, codec_name)` of every stream of `path`.
fn streams(path: &std::path::Path) -> Vec<(String, String)> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
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

/// Records `seconds` of a camera started with `args`; returns the clip.
async fn record(args: &[&str], seconds: u64) -> (tempfile::TempDir, vigil_recorder::Clip) {
    let cam = TestCamera::start_with(free_port(), args);
    let dir = tempfile::tempdir().unwrap();
    let mut rec = recorder(dir.path())
        .start("field", RtspUrl::parse(&cam.url()).unwrap())
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), rec.next_event())
        .await
        .unwrap();
    assert_eq!(first, Some(RecorderEvent::MediaWritten));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    rec.stop();
    let clip = rec.finish().await.unwrap();
    (dir, clip)
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn h265_with_g711_a_law_is_copied_with_its_audio_encoded_to_aac() {
    let (_dir, clip) = record(&["--video", "h265", "--audio", "pcma"], 4).await;
    assert_eq!(clip.info.media.codec.as_deref(), Some("H.265"));
    assert_eq!(
        streams(&clip.path),
        owned(&[("video", "hevc"), ("audio", "aac")]),
        "no audio lost as opaque data"
    );
    let d = clip.info.media.duration_sec.unwrap();
    assert!((2.5..=6.0).contains(&d), "{d}");
    assert_eq!(decode_errors(&clip.path), "");
}

#[tokio::test]
async fn g711_mu_law_is_encoded_to_aac_too() {
    let (_dir, clip) = record(&["--audio", "pcmu"], 3).await;
    assert_eq!(
        streams(&clip.path),
        owned(&[("video", "h264"), ("audio", "aac")])
    );
    assert_eq!(decode_errors(&clip.path), "");
}

#[tokio::test]
async fn opus_audio_is_kept_and_the_clip_finishes() {
    let (_dir, clip) = record(&["--audio", "opus"], 3).await;
    assert_eq!(
        streams(&clip.path),
        owned(&[("video", "h264"), ("audio", "opus")])
    );
    assert!(clip.info.has_audio);
    assert_eq!(decode_errors(&clip.path), "");
}

#[tokio::test]
async fn a_warm_ring_on_a_g711_camera_gives_clips_with_aac_audio() {
    let cam = TestCamera::start_with(free_port(), &["--audio", "pcma"]);
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let url = RtspUrl::parse(&cam.url()).unwrap();
    let ring = rec.ring("g711", url, Duration::from_secs(6)).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !ring.is_warm() || ring.disk_usage().0 < 3 {
        assert!(tokio::time::Instant::now() < deadline, "ring never warmed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let take = ring
        .record("from-ring", Duration::from_secs(2), Duration::ZERO)
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    take.stop();
    let clip = take.finish().await.unwrap();
    assert_eq!(
        streams(&clip.path),
        owned(&[("video", "h264"), ("audio", "aac")])
    );
    assert_eq!(decode_errors(&clip.path), "");
    ring.remove().await;
}

/// A camera that freezes for 4 s (less than the socket timeout, so the
/// ring's ffmpeg keeps its connection) and comes back: the clip taken from
/// the ring across it is one clip with one gap, and no reconnect.
#[tokio::test]
async fn a_freeze_within_a_rings_run_is_a_gap_of_the_clip_taken_across_it() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let ring = rec
        .ring(
            "freeze",
            RtspUrl::parse(&cam.url()).unwrap(),
            Duration::from_secs(5),
        )
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !ring.is_warm() || ring.disk_usage().0 < 3 {
        assert!(tokio::time::Instant::now() < deadline, "ring never warmed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut take = ring
        .record("across", Duration::from_secs(1), Duration::ZERO)
        .unwrap();
    assert_eq!(take.next_event().await, Some(RecorderEvent::MediaWritten));
    tokio::time::sleep(Duration::from_secs(1)).await;
    cam.signal("-STOP");
    tokio::time::sleep(Duration::from_secs(4)).await;
    cam.signal("-CONT");
    // Reported once video has flowed 3 s again.
    let ev = tokio::time::timeout(Duration::from_secs(15), take.next_event())
        .await
        .unwrap();
    let Some(RecorderEvent::Resumed { away }) = ev else {
        panic!("{ev:?}");
    };
    assert!(away >= Duration::from_secs(3), "{away:?}");
    take.stop();
    let clip = take.finish().await.unwrap();
    assert_eq!(clip.reconnects, 0, "the connection held");
    assert_eq!(clip.gaps.len(), 1, "{:?}", clip.gaps);
    assert!(clip.gaps[0].1 >= Duration::from_secs(3), "{:?}", clip.gaps);
    assert_eq!(decode_errors(&clip.path), "");
    ring.remove().await;
}

#[tokio::test]
async fn digest_and_basic_credentials_in_the_url_work_and_wrong_ones_say_so() {
    for method in ["digest", "basic"] {
        let cam = TestCamera::start_with(
            free_port(),
            &["--auth", method, "--credentials", "viewer:right-pass-7"],
        );
        let dir = tempfile::tempdir().unwrap();
        let rec = recorder(dir.path());
        let with = |creds: &str| {
            RtspUrl::parse(&cam.url().replace("rtsp://", &format!("rtsp://{creds}@"))).unwrap()
        };
        let mut ok = rec.start("right", with("viewer:right-pass-7")).unwrap();
        let first = tokio::time::timeout(Duration::from_secs(20), ok.next_event())
            .await
            .unwrap();
        assert_eq!(first, Some(RecorderEvent::MediaWritten), "{method}");
        ok.stop();
        assert!(ok.finish().await.is_ok(), "{method}");

        let bad = rec.start("wrong", with("viewer:not-the-pass-9")).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(20), bad.finish())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err.message(),
            "camera refused the credentials (401)",
            "{method}: {err}"
        );
        assert!(!format!("{err:?}").contains("not-the-pass-9"));
        assert_eq!(err.kind(), vigil_recorder::RecordErrorKind::Refused);
    }
}

/// A "smart codec" camera (H.265, G.711, a keyframe every 4 s): the probe
/// measures what it sends from the packets, and a clip of it measures the
/// same keyframe interval.
#[tokio::test]
async fn a_probe_measures_codecs_and_the_keyframe_interval_from_packets() {
    let cam = TestCamera::start_with(
        free_port(),
        &["--video", "h265", "--audio", "pcma", "--gop", "4"],
    );
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let url = RtspUrl::parse(&cam.url()).unwrap();
    let facts = probe_live(rec.config(), &url, Duration::from_secs(9))
        .await
        .unwrap();
    assert_eq!(facts.video_codec.as_deref(), Some("H.265"));
    assert_eq!(facts.audio_codec.as_deref(), Some("pcm_alaw"));
    assert_eq!((facts.width, facts.height), (Some(640), Some(360)));
    assert_eq!(facts.fps, Some(25.0));
    let k = facts.keyframe_interval_sec.unwrap();
    // A keyframe every 100 frames (4 s at 25 fps): under load the test
    // camera's live encoder drops frames, which stretches the GOP in time,
    // never shrinks it.
    assert!((3.9..=8.0).contains(&k), "{k}");

    let mut take = rec.start("gop", url).unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), take.next_event())
        .await
        .unwrap();
    assert_eq!(first, Some(RecorderEvent::MediaWritten));
    tokio::time::sleep(Duration::from_secs(9)).await;
    take.stop();
    let clip = take.finish().await.unwrap();
    let seen = clip.stream.expect("the clip is measured");
    let k = seen.keyframe_interval_sec.unwrap();
    // A keyframe every 100 frames (4 s at 25 fps): under load the test
    // camera's live encoder drops frames, which stretches the GOP in time,
    // never shrinks it.
    assert!((3.9..=8.0).contains(&k), "{k}");
    assert_eq!(seen.video_codec.as_deref(), Some("H.265"));
}

/// Wrong Digest credentials are a refusal, said without the password;
/// nobody listening is "unreachable".
#[tokio::test]
async fn a_probe_tells_a_refusal_from_an_unreachable_camera() {
    let cam = TestCamera::start_with(
        free_port(),
        &["--auth", "digest", "--credentials", "viewer:right-pass-7"],
    );
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(dir.path());
    let wrong = RtspUrl::parse(
        &cam.url()
            .replace("rtsp://", "rtsp://viewer:not-the-pass-9@"),
    )
    .unwrap();
    let e = probe_live(rec.config(), &wrong, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), vigil_recorder::RecordErrorKind::Refused, "{e}");
    assert_eq!(e.message(), "camera refused the credentials (401)");
    let right =
        RtspUrl::parse(&cam.url().replace("rtsp://", "rtsp://viewer:right-pass-7@")).unwrap();
    let ok = probe_live(rec.config(), &right, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(ok.video_codec.as_deref(), Some("H.264"));

    let nobody = RtspUrl::parse(&format!(
        "rtsp://viewer:not-the-pass-9@127.0.0.1:{}/test",
        free_port()
    ))
    .unwrap();
    let e = probe_live(rec.config(), &nobody, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        vigil_recorder::RecordErrorKind::CameraUnreachable,
        "{e}"
    );
    assert!(!e.to_string().contains("not-the-pass-9"), "{e}");
}

/// A camera set to `transcode: h264` gives H.264 clips from its H.265.
#[tokio::test]
async fn a_transcoded_camera_gives_h264_clips() {
    use vigil_domain::capture::{Capture, TakeEvent};
    let cam = TestCamera::start_with(free_port(), &["--video", "h265", "--audio", "pcma"]);
    let dir = tempfile::tempdir().unwrap();
    let capture = vigil_recorder::FfmpegCapture::new(recorder(dir.path()));
    let camera = vigil_domain::Camera {
        id: vigil_domain::CameraId::new(),
        name: vigil_domain::CameraName::parse("Field").unwrap(),
        rtsp_url: RtspUrl::parse(&cam.url()).unwrap(),
        n_channel_id: None,
        pre_roll: Default::default(),
        post_roll: Default::default(),
        retention: None,
        retention_max_bytes: None,
        merge: Default::default(),
        transcode: vigil_domain::Transcode::H264,
        stream: Default::default(),
        created_at: time::OffsetDateTime::now_utc(),
        updated_at: time::OffsetDateTime::now_utc(),
    };
    let mut take = capture
        .record(
            "transcoded",
            &camera,
            vigil_domain::RecordWindow::of(&camera),
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), take.next_event())
        .await
        .unwrap();
    assert!(
        matches!(first, Some(TakeEvent::MediaStarted { .. })),
        "{first:?}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    take.stopper().stop();
    let clip = loop {
        match take.next_event().await {
            Some(TakeEvent::Finished(r)) => break r.unwrap(),
            Some(_) => continue,
            None => panic!("no end"),
        }
    };
    assert_eq!(clip.media.codec.as_deref(), Some("H.264"));
    assert_eq!(clip.media.browser_playable, Some(true));
    assert_eq!(
        streams(&clip.path),
        owned(&[("video", "h264"), ("audio", "aac")])
    );
    assert!(
        clip.stream.is_none(),
        "the encoder's stream is not the camera's"
    );
    assert_eq!(decode_errors(&clip.path), "");
    assert!(support::is_faststart(&clip.path));
}

#[tokio::test]
async fn a_camera_frozen_for_a_while_leaves_one_clip_that_goes_on_after_it() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let mut rec = recorder(dir.path())
        .start("frozen", RtspUrl::parse(&cam.url()).unwrap())
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), rec.next_event())
        .await
        .unwrap();
    assert_eq!(first, Some(RecorderEvent::MediaWritten));
    tokio::time::sleep(Duration::from_secs(2)).await;
    cam.signal("-STOP");
    // ffmpeg's socket timeout (5 s) or the watchdog notices.
    let ev = tokio::time::timeout(Duration::from_secs(20), rec.next_event())
        .await
        .unwrap();
    assert!(
        matches!(ev, Some(RecorderEvent::Reconnecting { attempt: 1, .. })),
        "{ev:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    cam.signal("-CONT");
    // Back: recording goes on into the same clip.
    let grew_from = support::parts_bytes(rec.dir());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while support::parts_bytes(rec.dir()) <= grew_from {
        assert!(tokio::time::Instant::now() < deadline, "never resumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    rec.stop();
    let clip = rec.finish().await.unwrap();
    assert!(clip.reconnects >= 1, "{clip:?}");
    let d = clip.info.media.duration_sec.unwrap();
    assert!(d >= 3.5, "both sides of the freeze are in the clip: {d}");
    // The freeze is one gap, of at least the time the camera was stopped.
    assert_eq!(clip.gaps.len(), 1, "{:?}", clip.gaps);
    assert!(clip.gaps[0].1 >= Duration::from_secs(3), "{:?}", clip.gaps);
    assert_eq!(decode_errors(&clip.path), "");
}

/// A warm camera's link as its ring sees it: unauthorized with the
/// reason while the credentials are wrong, connected once they are right.
#[tokio::test]
async fn a_warm_rings_link_says_unauthorized_then_connected() {
    use vigil_domain::{capture::Capture, StreamState};
    let cam = TestCamera::start_with(
        free_port(),
        &["--auth", "digest", "--credentials", "viewer:right-pass-7"],
    );
    let dir = tempfile::tempdir().unwrap();
    let capture = vigil_recorder::FfmpegCapture::new(recorder(dir.path()));
    let with = |creds: &str| {
        RtspUrl::parse(&cam.url().replace("rtsp://", &format!("rtsp://{creds}@"))).unwrap()
    };
    let mut camera = vigil_domain::Camera {
        id: vigil_domain::CameraId::new(),
        name: vigil_domain::CameraName::parse("Warm").unwrap(),
        rtsp_url: with("viewer:not-the-pass-9"),
        n_channel_id: None,
        pre_roll: vigil_domain::RollSeconds::parse("preRollSeconds", 2).unwrap(),
        post_roll: Default::default(),
        retention: None,
        retention_max_bytes: None,
        merge: Default::default(),
        transcode: Default::default(),
        stream: Default::default(),
        created_at: time::OffsetDateTime::now_utc(),
        updated_at: time::OffsetDateTime::now_utc(),
    };
    let link_becomes = |state: StreamState| {
        let capture = capture.clone();
        async move {
            // The ring has no event stream of its own: its link is read.
            for _ in 0..200 {
                if let Some(l) = capture.warm_links().into_iter().find(|l| l.state == state) {
                    return l;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("never {state:?}: {:?}", capture.warm_links());
        }
    };
    capture.keep_warm(&camera).await.unwrap();
    let refused = link_becomes(StreamState::Unauthorized).await;
    assert_eq!(refused.camera, camera.id);
    assert_eq!(
        refused.error.as_deref(),
        Some("camera refused the credentials (401)")
    );
    camera.rtsp_url = with("viewer:right-pass-7");
    capture.keep_warm(&camera).await.unwrap();
    let ok = link_becomes(StreamState::Connected).await;
    assert_eq!(ok.error, None);
    capture.cool(camera.id).await;
    assert!(capture.warm_links().is_empty());
}

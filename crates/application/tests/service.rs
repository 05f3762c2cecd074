//! The recording service (the server's `Recorder`) on the real capture
//! mechanism and a real camera, with the real (SQLite) job queue; playbacks
//! and the store are in memory, so failures can be injected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The test camera and clip checks, shared with the recorder's own tests.
#[path = "../../recorder/tests/support/mod.rs"]
mod support;

mod fakes;

use fakes::{DirStore, FlakyJobs, MemPlaybacks};
use std::{sync::Arc, time::Duration};
use support::{decode_errors, is_faststart, TestCamera};
use vigil_application::{RecordingService, ServiceLimits};
use vigil_domain::{
    ports::{JobQueue, Recorder},
    Camera, CameraId, CameraName, JobKind, NewJob, PlaybackId, RecordingStatus, RtspUrl,
};
use vigil_recorder::{args, manifest::Manifest, FfmpegCapture, FfmpegRecorder, RecorderConfig};

struct Fixture {
    _dir: tempfile::TempDir,
    record_dir: std::path::PathBuf,
    objects: std::path::PathBuf,
    playbacks: Arc<MemPlaybacks>,
    store: Arc<DirStore>,
    jobs: Arc<FlakyJobs>,
    service: RecordingService,
    cfg: RecorderConfig,
    _db: vigil_persistence::testing::TestDatabase,
}

async fn fixture(max_concurrent: usize) -> Fixture {
    fixture_with(max_concurrent, tempfile::tempdir().unwrap(), |_| {}).await
}

/// A fixture in `dir` whose recorder settings `adjust` changes.
async fn fixture_with(
    max_concurrent: usize,
    dir: tempfile::TempDir,
    adjust: impl FnOnce(&mut RecorderConfig),
) -> Fixture {
    let record_dir = dir.path().join("rec");
    let objects = dir.path().join("objects");
    std::fs::create_dir_all(&record_dir).unwrap();
    let (ffmpeg, ffprobe) = support::tools();
    let mut cfg = RecorderConfig::new(ffmpeg, ffprobe, record_dir.clone());
    adjust(&mut cfg);
    let playbacks = Arc::new(MemPlaybacks::default());
    let store = Arc::new(DirStore::new(objects.clone()));
    let db = vigil_persistence::testing::TestDatabase::sqlite().await;
    let jobs = Arc::new(FlakyJobs::new(db.db.jobs()));
    let service = service_on(&cfg, &playbacks, &store, &jobs, max_concurrent);
    let _ = service.start_jobs();
    Fixture {
        _dir: dir,
        record_dir,
        objects,
        playbacks,
        store,
        jobs,
        service,
        cfg,
        _db: db,
    }
}

/// A service on the given ports, its upload workers not yet started (so
/// recovery can run first, as the server does).
fn service_on(
    cfg: &RecorderConfig,
    playbacks: &Arc<MemPlaybacks>,
    store: &Arc<DirStore>,
    jobs: &Arc<FlakyJobs>,
    max_concurrent: usize,
) -> RecordingService {
    RecordingService::new(
        Arc::new(FfmpegCapture::new(FfmpegRecorder::new(cfg.clone()))),
        playbacks.clone(),
        store.clone(),
        jobs.clone(),
        ServiceLimits {
            upload_retry: Duration::from_millis(100),
            job_lease: Duration::from_secs(2),
            ..ServiceLimits::new(max_concurrent, 0)
        },
    )
}

/// A camera's own window (none of these cameras has a pre- or post-roll).
fn window() -> vigil_domain::RecordWindow {
    vigil_domain::RecordWindow {
        pre_roll: Duration::ZERO,
        post_roll: Duration::ZERO,
        trigger: None,
    }
}

fn camera(url: &str) -> Camera {
    Camera {
        id: CameraId::new(),
        name: CameraName::parse("Test").unwrap(),
        rtsp_url: RtspUrl::parse(url).unwrap(),
        n_channel_id: None,
        pre_roll: Default::default(),
        post_roll: Default::default(),
        retention: None,
        retention_max_bytes: None,
        merge: Default::default(),
        transcode: Default::default(),
        stream: Default::default(),
        created_at: time::OffsetDateTime::now_utc(),
        updated_at: time::OffsetDateTime::now_utc(),
    }
}

async fn wait_status(f: &Fixture, id: PlaybackId, s: RecordingStatus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while f.playbacks.status(id) != s {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} stuck in {:?}, wanted {s:?}",
            f.playbacks.status(id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a finished job has removed its folder and itself: the worker
/// does both just after it writes COMPLETED.
async fn wait_cleaned(f: &Fixture, dir: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while dir.exists() || f.jobs.len().await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "folder left: {}, jobs left: {}",
            dir.exists(),
            f.jobs.len().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_playback_goes_recording_processing_completed_and_leaves_no_files() {
    let cam = TestCamera::start();
    let f = fixture(4).await;
    let id = PlaybackId::new();
    f.playbacks.insert(id, RecordingStatus::Pending);
    f.service
        .start(id, &camera(&cam.url()), window())
        .await
        .unwrap();
    assert!(f.service.is_active(id));
    wait_status(&f, id, RecordingStatus::Recording).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        f.service.stop(id).await.unwrap(),
        Some(RecordingStatus::Processing)
    );
    wait_status(&f, id, RecordingStatus::Completed).await;
    let p = f.playbacks.get_now(id);
    assert_eq!(
        p.video_key.as_deref(),
        Some(format!("playbacks/{id}/video.mp4").as_str())
    );
    assert!(p.thumbnail_key.is_some());
    assert_eq!(p.local_path, None);
    let clip = f.objects.join(format!("playbacks/{id}/video.mp4"));
    assert!(is_faststart(&clip));
    assert_eq!(decode_errors(&clip), "");
    assert_eq!(
        p.media.file_size_bytes,
        Some(std::fs::metadata(&clip).unwrap().len() as i64)
    );
    // Temp files removed and its job done.
    wait_cleaned(&f, &f.record_dir.join(id.to_string())).await;
    assert_eq!(
        f.service.stop(id).await.unwrap(),
        None,
        "stopping again is harmless"
    );
}

#[tokio::test]
async fn capacity_refuses_with_a_reason() {
    let cam = TestCamera::start();
    let f = fixture(1).await;
    let (a, b) = (PlaybackId::new(), PlaybackId::new());
    f.playbacks.insert(a, RecordingStatus::Pending);
    f.playbacks.insert(b, RecordingStatus::Pending);
    f.service
        .start(a, &camera(&cam.url()), window())
        .await
        .unwrap();
    let e = f
        .service
        .start(b, &camera(&cam.url()), window())
        .await
        .unwrap_err();
    assert!(
        e.message().contains("MAX_CONCURRENT_RECORDINGS"),
        "{}",
        e.message()
    );
    f.service.shutdown(Duration::from_secs(30)).await;
    assert_eq!(f.service.active_count(), 0);
}

#[tokio::test]
async fn an_orphan_left_by_a_killed_server_is_found_stopped_and_stored() {
    let cam = TestCamera::start();
    let f = fixture(4).await;
    let id = PlaybackId::new();
    f.playbacks.insert(id, RecordingStatus::Recording);
    // What a server killed with SIGKILL leaves: an ffmpeg still recording
    // into the playback's folder, named by its manifest.
    let dir = f.record_dir.join(id.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let url = RtspUrl::parse(&cam.url()).unwrap();
    let mut orphan = std::process::Command::new("ffmpeg")
        .args(args::record(
            &f.cfg,
            url.expose_with_credentials(),
            &dir,
            0,
            args::AudioMode::Copy,
        ))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Manifest::write(&dir, &id.to_string(), orphan.id(), &url).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".ts")
        })
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "orphan wrote nothing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A bystander in another folder must survive recovery.
    let other_id = PlaybackId::new();
    let other_dir = f.record_dir.join(other_id.to_string());
    std::fs::create_dir_all(&other_dir).unwrap();
    let mut bystander = support::bystander_ffmpeg();
    Manifest::write(&other_dir, &other_id.to_string(), bystander.id(), &url).unwrap();

    let report = f.service.recover().await.unwrap();
    assert_eq!(report.orphans_stopped, 1, "{report:?}");
    assert_eq!(report.queued, 1, "{report:?}");
    assert!(
        orphan.try_wait().unwrap().is_some(),
        "the orphan was stopped"
    );
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "the bystander still runs"
    );
    bystander.kill().unwrap();
    bystander.wait().unwrap();

    let _ = f.service.start_jobs();
    wait_status(&f, id, RecordingStatus::Completed).await;
    let p = f.playbacks.get_now(id);
    assert_eq!(p.status, RecordingStatus::Completed);
    assert!(p.error.unwrap().contains("restart"));
    let clip = f.objects.join(format!("playbacks/{id}/video.mp4"));
    assert!(p.media.duration_sec.unwrap() >= 2.0);
    assert_eq!(decode_errors(&clip), "");
    wait_cleaned(&f, &dir).await;
    assert!(!other_dir.exists(), "folders cleaned");
}

#[tokio::test]
async fn recovery_fails_in_flight_playbacks_with_nothing_recorded() {
    let f = fixture(4).await;
    let (pending, processing) = (PlaybackId::new(), PlaybackId::new());
    f.playbacks.insert(pending, RecordingStatus::Pending);
    f.playbacks.insert(processing, RecordingStatus::Processing);
    let report = f.service.recover().await.unwrap();
    assert_eq!(report.rebuilt, 2, "{report:?}");
    let _ = f.service.start_jobs();
    for id in [pending, processing] {
        wait_status(&f, id, RecordingStatus::Failed).await;
        let p = f.playbacks.get_now(id);
        assert_eq!(p.status, RecordingStatus::Failed);
        assert!(p.error.unwrap().contains("restarted"));
    }
}

/// The segments stored while `id` records, by name.
fn live_segments(f: &Fixture, id: PlaybackId) -> Vec<vigil_domain::LiveSegment> {
    let dir = f.objects.join(format!("playbacks/{id}/live"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .map(|n| vigil_domain::LiveSegment::parse(n).unwrap())
        .collect()
}

#[tokio::test]
async fn live_segments_are_stored_while_recording_and_removed_with_the_clip() {
    let cam = TestCamera::start();
    let f = fixture(4).await;
    let id = PlaybackId::new();
    f.playbacks.insert(id, RecordingStatus::Pending);
    f.service
        .start(id, &camera(&cam.url()), window())
        .await
        .unwrap();
    wait_status(&f, id, RecordingStatus::Recording).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while live_segments(&f, id).len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no live segments");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(f.playbacks.get_now(id).status, RecordingStatus::Recording);
    let segments = live_segments(&f, id);
    for (i, s) in segments.iter().enumerate() {
        assert_eq!(s.seq, i as u32);
        // 2 s parts from the recorder, at least 2 s per segment.
        assert!(s.millis >= 1_500, "{s:?}");
    }
    assert!(!segments[1].discontinuity, "{segments:?}");
    f.service.stop(id).await.unwrap();
    wait_status(&f, id, RecordingStatus::Completed).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !live_segments(&f, id).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "segments left after the clip was stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(f.objects.join(format!("playbacks/{id}/video.mp4")).exists());
}

#[tokio::test]
async fn a_clip_is_stored_in_parts_while_it_records_and_only_its_ends_are_left() {
    let cam = TestCamera::start();
    let f = fixture_with(4, tempfile::tempdir().unwrap(), |c| c.stream_clip = true).await;
    // Small parts, so a few seconds of the test camera make several.
    f.store
        .part_size
        .store(48 * 1024, std::sync::atomic::Ordering::SeqCst);
    let id = PlaybackId::new();
    f.playbacks.insert(id, RecordingStatus::Pending);
    f.service
        .start(id, &camera(&cam.url()), window())
        .await
        .unwrap();
    wait_status(&f, id, RecordingStatus::Recording).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !f.store.parts_log.lock().unwrap().contains(&3) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no clip parts stored while recording"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(f.playbacks.get_now(id).status, RecordingStatus::Recording);
    assert!(
        !f.store.parts_log.lock().unwrap().contains(&1),
        "part 1 (its header is patched at the end) waits for the end"
    );
    f.service.stop(id).await.unwrap();
    wait_status(&f, id, RecordingStatus::Completed).await;

    let log = f.store.parts_log.lock().unwrap().clone();
    let first = log.iter().position(|n| *n == 1).expect("part 1 stored");
    assert!(log[..first].contains(&3), "{log:?}");
    let video = f.objects.join(format!("playbacks/{id}/video.mp4"));
    // Stored faststart: part 1 holds the index, made at the end, and the
    // media before part 2; the media stored while recording was not sent
    // again.
    assert!(is_faststart(&video), "the index first");
    assert_eq!(decode_errors(&video), "");
    assert_eq!(log.iter().filter(|n| **n == 2).count(), 1, "{log:?}");
    let p = f.playbacks.get_now(id);
    assert_eq!(
        p.media.file_size_bytes,
        Some(std::fs::metadata(&video).unwrap().len() as i64)
    );
    assert!(p.media.duration_sec.unwrap() > 2.0);
    let open = std::fs::read_dir(f.objects.join(".uploads"))
        .unwrap()
        .count();
    assert_eq!(open, 0, "no upload left open");
}

#[tokio::test]
async fn recovery_rebuilds_a_lost_folder_from_the_stored_segments() {
    let f = fixture(4).await;
    let id = PlaybackId::new();
    f.playbacks.insert(id, RecordingStatus::Recording);
    // Two 2 s segments as live upload stores them; the take's folder is
    // gone.
    let live = f.objects.join(format!("playbacks/{id}/live"));
    std::fs::create_dir_all(&live).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
        ])
        .args(["-t", "4", "-c:v", "libx264", "-g", "25", "-f", "segment"])
        .args(["-segment_time", "2"])
        .arg(live.join("src-%d.ts"))
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::rename(live.join("src-0.ts"), live.join("000000-2000.ts")).unwrap();
    std::fs::rename(live.join("src-1.ts"), live.join("000001-2000.ts")).unwrap();
    let report = f.service.recover().await.unwrap();
    assert_eq!(report.rebuilt, 1, "{report:?}");
    wait_status(&f, id, RecordingStatus::Completed).await;
    let p = f.playbacks.get_now(id);
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .contains("rebuilt from the 2 segment(s)"),
        "{p:?}"
    );
    let d = p.media.duration_sec.unwrap();
    assert!((3.5..=4.5).contains(&d), "{d}");
    let clip = f.objects.join(format!("playbacks/{id}/video.mp4"));
    assert_eq!(decode_errors(&clip), "");
    wait_cleaned(&f, &f.record_dir.join(id.to_string())).await;
}

/// A playback recorded for about 2 s, then stopped.
async fn record_two_seconds(f: &Fixture, cam: &TestCamera) -> PlaybackId {
    let id = PlaybackId::new();
    f.playbacks.insert(id, RecordingStatus::Pending);
    f.service
        .start(id, &camera(&cam.url()), window())
        .await
        .unwrap();
    wait_status(f, id, RecordingStatus::Recording).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    f.service.stop(id).await.unwrap();
    id
}

#[tokio::test]
async fn a_clip_waits_on_disk_while_the_store_is_down_then_is_stored() {
    let cam = TestCamera::start();
    let f = fixture(4).await;
    f.store
        .fail_puts
        .store(3, std::sync::atomic::Ordering::SeqCst);
    let id = record_two_seconds(&f, &cam).await;
    wait_status(&f, id, RecordingStatus::Completed).await;
    assert_eq!(
        f.store.fail_puts.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "every injected failure was met"
    );
    assert!(f.objects.join(format!("playbacks/{id}/video.mp4")).exists());
    wait_cleaned(&f, &f.record_dir.join(id.to_string())).await;
    assert_eq!(
        f.service.active_count(),
        0,
        "a clip being stored does not hold a recording slot"
    );
}

#[tokio::test]
async fn a_clip_finished_while_the_database_is_down_is_queued_when_it_is_back() {
    let cam = TestCamera::start();
    let f = fixture(4).await;
    f.jobs
        .fail_enqueues
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let id = record_two_seconds(&f, &cam).await;
    wait_status(&f, id, RecordingStatus::Completed).await;
    assert_eq!(
        f.jobs
            .fail_enqueues
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "both refused hand-offs were tried again"
    );
    assert!(f.objects.join(format!("playbacks/{id}/video.mp4")).exists());
    assert_eq!(f.service.active_count(), 0);
}

/// Parts as a recording leaves them: 2 s MPEG-TS segments of H.264.
fn write_parts(dir: &std::path::Path, seconds: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let (ffmpeg, _) = support::tools();
    let out = std::process::Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=duration={seconds}:size=320x240:rate=25"))
        .args([
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-f",
            "segment",
            "-segment_time",
            "2",
        ])
        .arg(dir.join(format!("{}%05d.ts", args::PART_PREFIX)))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test]
async fn an_upload_a_crash_interrupted_is_resumed_once_its_lease_runs_out() {
    let f = fixture(4).await;
    // This fixture's own workers must not take the job the crashed server
    // holds below.
    f.service.shutdown(Duration::ZERO).await;
    let id = PlaybackId::new();
    f.playbacks.insert(id, RecordingStatus::Processing);
    let dir = f.record_dir.join(id.to_string());
    write_parts(&dir, 5);
    // The crashed server had queued the job and was holding it.
    f.jobs
        .enqueue(NewJob {
            playback_id: id,
            kind: JobKind::Finalize,
            dir: dir.to_string_lossy().into_owned(),
            note: None,
        })
        .await
        .unwrap();
    f.jobs
        .claim("crashed-server", Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();

    // The next server, on the same queue.
    let next = service_on(&f.cfg, &f.playbacks, &f.store, &f.jobs, 4);
    let report = next.recover().await.unwrap();
    assert_eq!(
        (report.resumed, report.folders_removed),
        (1, 0),
        "{report:?}"
    );
    assert!(dir.exists(), "the job's folder is kept for it");
    let _ = next.start_jobs();
    wait_status(&f, id, RecordingStatus::Completed).await;
    let p = f.playbacks.get_now(id);
    assert!((p.media.duration_sec.unwrap() - 5.0).abs() < 0.5, "{p:?}");
    assert_eq!(
        decode_errors(&f.objects.join(format!("playbacks/{id}/video.mp4"))),
        ""
    );
    wait_cleaned(&f, &dir).await;
}

#[tokio::test]
async fn a_job_whose_playback_was_deleted_removes_its_folder_and_objects() {
    let f = fixture(4).await;
    let id = PlaybackId::new();
    let dir = f.record_dir.join(id.to_string());
    write_parts(&dir, 2);
    let stale = f.objects.join(format!("playbacks/{id}/video.mp4"));
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, b"half an upload").unwrap();
    f.jobs
        .enqueue(NewJob {
            playback_id: id,
            kind: JobKind::Upload,
            dir: dir.to_string_lossy().into_owned(),
            note: None,
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while f.jobs.len().await > 0 {
        assert!(std::time::Instant::now() < deadline, "job never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!dir.exists() && !stale.exists());
}

/// A tool that hangs when its arguments contain `trigger` (and is the real
/// one otherwise), noting its pid in `<dir>/<name>.pid` first.
fn hanging_tool(dir: &std::path::Path, name: &str, trigger: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let pid = dir.join(format!("{name}.pid"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncase \"$*\" in *{trigger}*) echo $$ > '{}'; exec sleep 600;; esac\nexec {name} \"$@\"\n",
            pid.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Waits until the hung tool noted in `pid_file` is gone (killed and reaped,
/// or at least a zombie).
async fn wait_killed(pid_file: &std::path::Path) {
    let pid = std::fs::read_to_string(pid_file).unwrap().trim().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let alive = state.is_some_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        });
        if !alive {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hung tool {pid} still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_hung_ffprobe_is_killed_and_the_clip_is_stored_without_its_metadata() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let ffprobe = hanging_tool(dir.path(), "ffprobe", "video.mp4");
    let f = fixture_with(4, dir, |cfg| {
        cfg.ffprobe = ffprobe;
        cfg.probe_timeout = Duration::from_secs(1);
    })
    .await;
    let id = record_two_seconds(&f, &cam).await;
    wait_status(&f, id, RecordingStatus::Completed).await;
    let p = f.playbacks.get_now(id);
    assert!(f.objects.join(format!("playbacks/{id}/video.mp4")).exists());
    assert_eq!(p.media.codec, None, "nothing was probed");
    assert!(
        p.media.file_size_bytes.is_some_and(|n| n > 0),
        "the stored size is known"
    );
    let note = p.error.unwrap_or_default();
    assert!(
        note.contains("metadata could not be read") && note.contains("did not finish within 1 s"),
        "{note}"
    );
    wait_killed(&f._dir.path().join("ffprobe.pid")).await;
}

#[tokio::test]
async fn a_hung_join_is_killed_and_fails_the_playback_keeping_its_parts() {
    let cam = TestCamera::start();
    let dir = tempfile::tempdir().unwrap();
    let ffmpeg = hanging_tool(dir.path(), "ffmpeg", "ffconcat");
    let f = fixture_with(4, dir, |cfg| {
        cfg.ffmpeg = ffmpeg;
        cfg.join_timeout = Duration::from_secs(1);
    })
    .await;
    let id = record_two_seconds(&f, &cam).await;
    wait_status(&f, id, RecordingStatus::Failed).await;
    let p = f.playbacks.get_now(id);
    let reason = p.error.unwrap_or_default();
    assert!(
        reason.contains("ffmpeg did not finish within 1 s"),
        "{reason}"
    );
    let kept = p.local_path.expect("the parts are kept for inspection");
    assert!(std::fs::read_dir(&kept).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".ts")));
    wait_killed(&f._dir.path().join("ffmpeg.pid")).await;
    assert_eq!(f.service.active_count(), 0);
}

#[tokio::test]
async fn a_frozen_camera_leaves_a_gap_the_stored_playback_shows() {
    let cam = TestCamera::start();
    let f = fixture(4).await;
    let id = PlaybackId::new();
    f.playbacks.insert(id, RecordingStatus::Pending);
    f.service
        .start(id, &camera(&cam.url()), window())
        .await
        .unwrap();
    wait_status(&f, id, RecordingStatus::Recording).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cam.signal("-STOP");
    // Frozen past ffmpeg's socket timeout, then back.
    tokio::time::sleep(Duration::from_secs(8)).await;
    cam.signal("-CONT");
    let dir = f.record_dir.join(id.to_string());
    let before = support::parts_bytes(&dir);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while support::parts_bytes(&dir) <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the camera never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    f.service.stop(id).await.unwrap();
    wait_status(&f, id, RecordingStatus::Completed).await;
    let p = f.playbacks.get_now(id);
    assert_eq!(p.gaps.len(), 1, "{p:?}");
    assert!(p.gaps[0].seconds >= 3.0, "{:?}", p.gaps);
    assert!(p.started_at.is_some_and(|s| p.gaps[0].at > s));
    assert_eq!(p.media.browser_playable, Some(true));
    wait_cleaned(&f, &dir).await;
}

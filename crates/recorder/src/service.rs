//! The recorder behind Vigil's `Recorder` port: starts a supervised ffmpeg
//! per playback, moves the playback through its statuses as the recording
//! really progresses (RECORDING when media is on disk, not at spawn), and
//! when it ends, probes, stores the clip and its thumbnail, and removes the
//! temporary files. At start it finishes what a crashed server left behind.
//!
//! It uses only the domain's ports (`PlaybackRepo`, `ObjectStore`), never a
//! database or HTTP crate.

use crate::{parts, probe, FfmpegRecorder, RecordError, RecorderEvent, StopHandle};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};
use time::OffsetDateTime;
use vigil_domain::{
    ports::{ObjectStore, PlaybackRepo, Recorder, Result},
    Camera, Error, ErrorKind, MediaInfo, Playback, PlaybackId, PlaybackUpdate, RecordingStatus,
};

/// Refusals before a recording starts.
#[derive(Debug, Clone, Copy)]
pub struct ServiceLimits {
    pub max_concurrent: usize,
    /// A new recording is refused when `record_dir` has less free space.
    pub min_free_bytes: u64,
    /// First wait before storing a clip again when the object store is
    /// down; it doubles up to 10 minutes.
    pub upload_retry: Duration,
    /// After this long the playback is FAILED, the clip kept on disk.
    pub upload_give_up: Duration,
}

impl ServiceLimits {
    pub fn new(max_concurrent: usize, min_free_bytes: u64) -> Self {
        Self {
            max_concurrent,
            min_free_bytes,
            upload_retry: Duration::from_secs(30),
            upload_give_up: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecordingService {
    recorder: FfmpegRecorder,
    playbacks: Arc<dyn PlaybackRepo>,
    store: Arc<dyn ObjectStore>,
    limits: ServiceLimits,
    active: Arc<Mutex<HashMap<PlaybackId, StopHandle>>>,
    /// Finished recordings whose clip is being stored.
    storing: Arc<std::sync::atomic::AtomicUsize>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Free bytes on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

impl RecordingService {
    pub fn new(
        recorder: FfmpegRecorder,
        playbacks: Arc<dyn PlaybackRepo>,
        store: Arc<dyn ObjectStore>,
        limits: ServiceLimits,
    ) -> Self {
        Self {
            recorder,
            playbacks,
            store,
            limits,
            active: Arc::default(),
            storing: Arc::default(),
        }
    }

    pub fn active_count(&self) -> usize {
        lock(&self.active).len()
    }

    /// Stops every recording and waits (up to `grace`) until each one is
    /// finalized and stored.
    pub async fn shutdown(&self, grace: Duration) {
        let handles: Vec<_> = lock(&self.active).values().cloned().collect();
        for h in &handles {
            h.stop();
        }
        let deadline = tokio::time::Instant::now() + grace;
        let busy = || {
            self.active_count() > 0 || self.storing.load(std::sync::atomic::Ordering::SeqCst) > 0
        };
        while busy() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Moves a playback to `to` through the states in between, so events
    /// that raced (a stop before the first frame was reported) still land.
    async fn advance(
        &self,
        id: PlaybackId,
        to: RecordingStatus,
        update: PlaybackUpdate,
    ) -> Result<()> {
        use RecordingStatus::*;
        let Some(p) = self.playbacks.get(id).await? else {
            return Err(Error::not_found("playback"));
        };
        let path: &[RecordingStatus] = match (p.status, to) {
            (Pending, Processing) => &[Recording, Processing],
            (Pending, Completed) => &[Recording, Processing, Completed],
            (Recording, Completed) => &[Processing, Completed],
            (from, to) if from == to => &[],
            _ => std::slice::from_ref(&to),
        };
        for (i, step) in path.iter().enumerate() {
            let u = if i + 1 == path.len() {
                update.clone()
            } else {
                PlaybackUpdate::default()
            };
            self.playbacks.transition(id, *step, u).await?;
        }
        Ok(())
    }

    async fn fail(&self, id: PlaybackId, reason: String, local_path: Option<String>) {
        let u = PlaybackUpdate {
            error: Some(reason),
            ended_at: Some(OffsetDateTime::now_utc()),
            local_path: Some(local_path),
            ..Default::default()
        };
        if let Err(e) = self
            .playbacks
            .transition(id, RecordingStatus::Failed, u)
            .await
        {
            if e.kind() != ErrorKind::Conflict && e.kind() != ErrorKind::NotFound {
                tracing::error!(playback_id = %id, error = %e.chain(), "cannot mark playback FAILED");
            }
        }
    }

    /// Follows one recording to its end.
    async fn drive(self, id: PlaybackId, mut rec: crate::Recording) {
        let dir = rec.dir().to_owned();
        while let Some(ev) = rec.next_event().await {
            match ev {
                RecorderEvent::MediaWritten => {
                    let u = PlaybackUpdate {
                        started_at: Some(OffsetDateTime::now_utc()),
                        local_path: Some(Some(dir.to_string_lossy().into_owned())),
                        ..Default::default()
                    };
                    if let Err(e) = self
                        .playbacks
                        .transition(id, RecordingStatus::Recording, u)
                        .await
                    {
                        tracing::warn!(playback_id = %id, error = %e.chain(), "cannot mark playback RECORDING");
                    }
                }
                RecorderEvent::Reconnecting { attempt, reason } => {
                    tracing::warn!(playback_id = %id, attempt, %reason, "camera dropped; reconnecting");
                }
                RecorderEvent::Finished(result) => {
                    // `complete` frees the recording slot once the row is
                    // PROCESSING: storing the clip does not count against
                    // MAX_CONCURRENT_RECORDINGS.
                    self.storing
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    self.complete(id, &dir, result).await;
                    self.storing
                        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
            }
        }
        lock(&self.active).remove(&id);
    }

    async fn complete(
        &self,
        id: PlaybackId,
        dir: &Path,
        result: std::result::Result<crate::Clip, RecordError>,
    ) {
        match result {
            Ok(clip) => {
                let stopped = PlaybackUpdate {
                    ended_at: Some(OffsetDateTime::now_utc()),
                    ..Default::default()
                };
                let advanced = self.advance(id, RecordingStatus::Processing, stopped).await;
                // Only now, with the row PROCESSING, does the recording stop
                // counting as active: a stop racing with the end must not
                // find it RECORDING and unheld.
                lock(&self.active).remove(&id);
                if let Err(e) = advanced {
                    if e.kind() == ErrorKind::NotFound {
                        // Deleted while recording: nothing to keep.
                        let _ = clip.remove_files().await;
                        return;
                    }
                }
                // The clip skips the time the camera was away; say so.
                let note = (clip.reconnects > 0).then(|| {
                    format!(
                        "the camera connection dropped {} time(s); the clip skips the time it was away",
                        clip.reconnects
                    )
                });
                self.store_clip(id, &clip.path, clip.info.media.clone(), note)
                    .await;
            }
            Err(
                e @ (RecordError::CameraUnreachable(_)
                | RecordError::NoMedia(_)
                | RecordError::Spawn(_)),
            ) => {
                let _ = tokio::fs::remove_dir_all(dir).await;
                self.fail(id, e.to_string(), None).await;
                lock(&self.active).remove(&id);
            }
            Err(e) => {
                // The parts stay on disk for inspection; the row says where.
                self.fail(id, e.to_string(), Some(dir.to_string_lossy().into_owned()))
                    .await;
                lock(&self.active).remove(&id);
            }
        }
    }

    /// Uploads a finished clip and its thumbnail, completes the playback and
    /// removes the local files. Failed uploads keep the files.
    async fn store_clip(
        &self,
        id: PlaybackId,
        clip: &Path,
        media: MediaInfo,
        note: Option<String>,
    ) {
        // While the store is down the playback stays PROCESSING and the clip
        // waits on disk; a restart in the meantime resumes it (recovery).
        let give_up = tokio::time::Instant::now() + self.limits.upload_give_up;
        let mut delay = self.limits.upload_retry;
        loop {
            let e = match self
                .try_store_clip(id, clip, media.clone(), note.clone())
                .await
            {
                Ok(()) => return,
                Err(e) => e,
            };
            let gone = matches!(self.playbacks.get(id).await, Ok(None));
            if gone {
                if let Some(dir) = clip.parent() {
                    let _ = tokio::fs::remove_dir_all(dir).await;
                }
                return;
            }
            if e.kind() != ErrorKind::Unavailable || tokio::time::Instant::now() + delay > give_up {
                tracing::error!(playback_id = %id, error = %e.chain(), "upload failed for good");
                self.fail(
                    id,
                    format!("upload failed: {}; the clip is kept", e.message()),
                    Some(clip.to_string_lossy().into_owned()),
                )
                .await;
                return;
            }
            tracing::warn!(playback_id = %id, error = %e.chain(), retry_in = ?delay, "object store unavailable; the clip waits on disk");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(600));
        }
    }

    /// One attempt at storing a clip (with a few quick retries inside).
    async fn try_store_clip(
        &self,
        id: PlaybackId,
        clip: &Path,
        media: MediaInfo,
        note: Option<String>,
    ) -> Result<()> {
        let dir = clip.parent().map(Path::to_path_buf).unwrap_or_default();
        let video_key = Playback::video_key_for(id);
        let size = self.upload(&video_key, clip, "video/mp4").await?;
        let thumbnail_key = self
            .thumbnail(id, clip, &dir, media.duration_sec.unwrap_or(0.0))
            .await;
        let u = PlaybackUpdate {
            video_key: Some(video_key.clone()),
            thumbnail_key,
            media: Some(MediaInfo {
                file_size_bytes: Some(size as i64),
                ..media
            }),
            local_path: Some(None),
            error: note,
            ..Default::default()
        };
        match self
            .playbacks
            .transition(id, RecordingStatus::Completed, u)
            .await
        {
            Ok(_) => {
                tracing::info!(playback_id = %id, bytes = size, "recording completed");
                let _ = tokio::fs::remove_dir_all(&dir).await;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Deleted while uploading: the objects must go too.
                let _ = self.store.delete(&video_key).await;
                let _ = self.store.delete(&Playback::thumbnail_key_for(id)).await;
                let _ = tokio::fs::remove_dir_all(&dir).await;
            }
            Err(e) => {
                tracing::error!(playback_id = %id, error = %e.chain(), "cannot mark playback COMPLETED")
            }
        }
        Ok(())
    }

    /// Transient failures are retried by the store itself (S3) and by
    /// [`Self::store_clip`]'s backoff.
    async fn upload(&self, key: &str, path: &Path, content_type: &str) -> Result<u64> {
        self.store.put_file(key, path, content_type).await
    }

    async fn thumbnail(
        &self,
        id: PlaybackId,
        clip: &Path,
        dir: &Path,
        duration: f64,
    ) -> Option<String> {
        let out = dir.join("thumbnail.jpg");
        let at = (duration / 2.0).min(1.0);
        let cfg = self.recorder.config();
        let ok = tokio::process::Command::new(&cfg.ffmpeg)
            .args(crate::args::thumbnail(clip, at, &out))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            tracing::warn!(playback_id = %id, "no thumbnail could be made");
            return None;
        }
        let key = Playback::thumbnail_key_for(id);
        match self.upload(&key, &out, "image/jpeg").await {
            Ok(_) => Some(key),
            Err(e) => {
                tracing::warn!(playback_id = %id, error = %e.chain(), "thumbnail upload failed");
                None
            }
        }
    }

    /// Finishes what a previous run left: recordings whose ffmpeg still
    /// runs (ours by pid, start time and command line) are stopped with one
    /// SIGINT; every in-flight playback is then completed from its parts,
    /// or failed with the reason. Folders of unknown or finished playbacks
    /// are removed. Nothing Vigil did not start is touched.
    pub async fn recover(&self) -> Result<RecoveryReport> {
        let cfg = self.recorder.config().clone();
        let mut report = RecoveryReport::default();
        let mut dirs: HashMap<PlaybackId, PathBuf> = HashMap::new();
        if let Ok(mut rd) = tokio::fs::read_dir(&cfg.record_dir).await {
            while let Ok(Some(entry)) = rd.next_entry().await {
                let name = entry.file_name();
                if let Some(id) = name.to_str().and_then(|n| n.parse::<PlaybackId>().ok()) {
                    dirs.insert(id, entry.path());
                }
            }
        }
        for dir in dirs.values() {
            if let Some(m) = crate::manifest::Manifest::read(dir) {
                if m.process_is_ours(dir) {
                    stop_orphan(m.pid, dir, cfg.stop_timeout).await;
                    report.orphans_stopped += 1;
                }
            }
        }
        for status in [
            RecordingStatus::Pending,
            RecordingStatus::Recording,
            RecordingStatus::Processing,
        ] {
            for p in self.playbacks.in_status(status).await? {
                if lock(&self.active).contains_key(&p.id) {
                    continue;
                }
                match dirs.remove(&p.id) {
                    Some(dir) => {
                        let clip = match parts::join(&cfg, &dir).await {
                            Ok(path) => probe::probe(&cfg.ffprobe, &path)
                                .await
                                .map(|info| (path, info)),
                            Err(e) => Err(e),
                        };
                        match clip {
                            Ok((path, info)) => {
                                let u = PlaybackUpdate {
                                    ended_at: Some(OffsetDateTime::now_utc()),
                                    error: Some("recording was interrupted by a server restart; the clip holds what was recorded until then".into()),
                                    ..Default::default()
                                };
                                let _ = self.advance(p.id, RecordingStatus::Processing, u).await;
                                self.store_clip(p.id, &path, info.media, None).await;
                                report.completed += 1;
                            }
                            Err(e) => {
                                let _ = tokio::fs::remove_dir_all(&dir).await;
                                self.fail(
                                    p.id,
                                    format!("server restarted during the recording: {e}"),
                                    None,
                                )
                                .await;
                                report.failed += 1;
                            }
                        }
                    }
                    None => {
                        self.fail(
                            p.id,
                            "server restarted before anything was recorded".into(),
                            None,
                        )
                        .await;
                        report.failed += 1;
                    }
                }
            }
        }
        for (_, dir) in dirs {
            // Left by a playback that is finished or deleted.
            let _ = tokio::fs::remove_dir_all(&dir).await;
            report.folders_removed += 1;
        }
        Ok(report)
    }
}

/// What start-up recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub orphans_stopped: usize,
    pub completed: usize,
    pub failed: usize,
    pub folders_removed: usize,
}

/// One SIGINT (ffmpeg then finalizes its open part), SIGKILL only after the
/// timeout.
async fn stop_orphan(pid: u32, dir: &Path, timeout: Duration) {
    use nix::{
        sys::signal::{kill, Signal},
        unistd::Pid,
    };
    let pid_t = Pid::from_raw(pid as i32);
    tracing::warn!(pid, dir = %dir.display(), "stopping an ffmpeg left by a previous run");
    let _ = kill(pid_t, Signal::SIGINT);
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if crate::manifest::process_start_ticks(pid).is_none() || is_zombie(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = kill(pid_t, Signal::SIGKILL);
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[async_trait::async_trait]
impl Recorder for RecordingService {
    async fn start(&self, playback: PlaybackId, camera: &Camera) -> Result<()> {
        {
            let active = lock(&self.active);
            if active.len() >= self.limits.max_concurrent {
                return Err(Error::unavailable(format!(
                    "at capacity: {} recordings are running (MAX_CONCURRENT_RECORDINGS)",
                    active.len()
                )));
            }
        }
        let record_dir = &self.recorder.config().record_dir;
        if let Some(free) = free_bytes(record_dir) {
            if free < self.limits.min_free_bytes {
                return Err(Error::unavailable(format!(
                    "not enough free space in RECORD_DIR ({} MiB left, {} MiB needed)",
                    free >> 20,
                    self.limits.min_free_bytes >> 20
                )));
            }
        }
        let rec = self
            .recorder
            .start(&playback.to_string(), camera.rtsp_url.clone())
            .map_err(|e| Error::unavailable(e.to_string()))?;
        lock(&self.active).insert(playback, rec.stop_handle());
        tokio::spawn(self.clone().drive(playback, rec));
        Ok(())
    }

    async fn stop(&self, playback: PlaybackId) -> Result<Option<RecordingStatus>> {
        let Some(handle) = lock(&self.active).get(&playback).cloned() else {
            return Ok(None);
        };
        let current = self.playbacks.get(playback).await?.map(|p| p.status);
        let left_in = match current {
            Some(RecordingStatus::Recording) => {
                let u = PlaybackUpdate {
                    ended_at: Some(OffsetDateTime::now_utc()),
                    ..Default::default()
                };
                match self
                    .playbacks
                    .transition(playback, RecordingStatus::Processing, u)
                    .await
                {
                    Ok(p) => Some(p.status),
                    Err(_) => self.playbacks.get(playback).await?.map(|p| p.status),
                }
            }
            other => other,
        };
        handle.stop();
        Ok(left_in)
    }

    fn is_active(&self, playback: PlaybackId) -> bool {
        lock(&self.active).contains_key(&playback)
    }

    fn active_count(&self) -> usize {
        RecordingService::active_count(self)
    }
}

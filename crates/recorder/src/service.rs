//! The recorder behind Vigil's `Recorder` port: starts a supervised ffmpeg
//! per playback, moves the playback through its statuses as the recording
//! really progresses (RECORDING when media is on disk, not at spawn), and
//! when it ends hands the clip to the durable job queue (`jobs.rs` uploads
//! it; `recovery.rs` finishes what a crashed server left behind).
//!
//! It uses only the domain's ports (`PlaybackRepo`, `ObjectStore`,
//! `JobQueue`), never a database or HTTP crate.

use crate::{FfmpegRecorder, RecordError, RecordErrorKind, RecorderEvent, Ring, StopHandle};
use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};
use time::OffsetDateTime;
use vigil_domain::{
    ports::{JobQueue, ObjectStore, PlaybackRepo, Recorder, Result},
    Camera, CameraId, Error, ErrorKind, JobKind, NewJob, PlaybackId, PlaybackUpdate,
    RecordingStatus,
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
    /// How long a claimed job is held without renewal; a crashed server's
    /// jobs are taken up again after it.
    pub job_lease: Duration,
    /// Clips uploaded at once.
    pub upload_workers: usize,
}

impl ServiceLimits {
    pub fn new(max_concurrent: usize, min_free_bytes: u64) -> Self {
        Self {
            max_concurrent,
            min_free_bytes,
            upload_retry: Duration::from_secs(30),
            upload_give_up: Duration::from_secs(24 * 3600),
            job_lease: Duration::from_secs(60),
            upload_workers: 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecordingService {
    pub(crate) recorder: FfmpegRecorder,
    pub(crate) playbacks: Arc<dyn PlaybackRepo>,
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) jobs: Arc<dyn JobQueue>,
    pub(crate) limits: ServiceLimits,
    pub(crate) active: Arc<Mutex<HashMap<PlaybackId, Active>>>,
    /// Warm cameras (those with a pre-roll), by camera.
    pub(crate) rings: Arc<tokio::sync::Mutex<HashMap<CameraId, Ring>>>,
    pub(crate) workers: crate::jobs::Workers,
}

/// A recording running here.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    stop: StopHandle,
    /// Waited after a stop before stopping ffmpeg; zero for recordings
    /// taken from a ring, which keep their post-roll themselves.
    post_roll: Duration,
}

/// Segments a ring keeps beyond the pre-roll: the clip starts at the
/// keyframe before `trigger − pre-roll`, and a slow tick must not evict
/// what a tap is about to link.
const RING_MARGIN: Duration = Duration::from_secs(3);

/// First wait before handing a finished clip to the queue again while the
/// database is unavailable; it doubles up to [`HANDOFF_RETRY_MAX`].
const HANDOFF_RETRY: Duration = Duration::from_secs(1);
const HANDOFF_RETRY_MAX: Duration = Duration::from_secs(30);

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Free bytes on the filesystem holding `dir`.
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

impl RecordingService {
    pub fn new(
        recorder: FfmpegRecorder,
        playbacks: Arc<dyn PlaybackRepo>,
        store: Arc<dyn ObjectStore>,
        jobs: Arc<dyn JobQueue>,
        limits: ServiceLimits,
    ) -> Self {
        Self {
            recorder,
            playbacks,
            store,
            jobs,
            limits,
            active: Arc::default(),
            rings: Arc::default(),
            workers: crate::jobs::Workers::default(),
        }
    }

    pub fn active_count(&self) -> usize {
        lock(&self.active).len()
    }

    /// Stops every recording, so each is finalized and queued for upload,
    /// then lets running uploads finish for up to `grace`. What is left
    /// stays in the durable queue, its leases released so the next start
    /// (or another server) takes it up at once.
    pub async fn shutdown(&self, grace: Duration) {
        let handles: Vec<_> = lock(&self.active).values().cloned().collect();
        for h in &handles {
            h.stop.stop();
        }
        // Taps end with the segments they have (no post-roll) once their
        // ring stops.
        let rings: Vec<_> = self.rings.lock().await.drain().map(|(_, r)| r).collect();
        for r in &rings {
            r.stop_and_wait().await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.active_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.stop_jobs(deadline).await;
    }

    /// Moves a playback to `to` through the states in between, so events
    /// that raced (a stop before the first frame was reported) still land.
    pub(crate) async fn advance(
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

    /// Hands a stopped recording to the durable queue. If even that fails
    /// (database down), the folder and the PROCESSING row remain and the
    /// next start's recovery queues it.
    pub(crate) async fn queue(
        &self,
        id: PlaybackId,
        kind: JobKind,
        dir: &Path,
        note: Option<String>,
    ) {
        if let Err(e) = self.try_queue(id, kind, dir, note).await {
            tracing::error!(playback_id = %id, error = %e.chain(), "cannot queue the upload; the next start will");
        }
    }

    async fn try_queue(
        &self,
        id: PlaybackId,
        kind: JobKind,
        dir: &Path,
        note: Option<String>,
    ) -> Result<()> {
        let job = NewJob {
            playback_id: id,
            kind,
            dir: dir.to_string_lossy().into_owned(),
            note,
        };
        self.jobs.enqueue(job).await?;
        self.workers.wake();
        Ok(())
    }

    pub(crate) async fn fail(
        &self,
        id: PlaybackId,
        label: &'static str,
        reason: String,
        local_path: Option<String>,
    ) {
        let u = PlaybackUpdate {
            error: Some(reason),
            ended_at: Some(OffsetDateTime::now_utc()),
            local_path: Some(local_path),
            ..Default::default()
        };
        match self
            .playbacks
            .transition(id, RecordingStatus::Failed, u)
            .await
        {
            Ok(_) => crate::telemetry::failed(label),
            Err(e) => {
                if e.kind() != ErrorKind::Conflict && e.kind() != ErrorKind::NotFound {
                    tracing::error!(playback_id = %id, error = %e.chain(), "cannot mark playback FAILED");
                }
            }
        }
    }

    /// Follows one recording to its end.
    async fn drive(self, id: PlaybackId, mut rec: crate::Recording, mut first_media: bool) {
        let dir = rec.dir().to_owned();
        let started = std::time::Instant::now();
        while let Some(ev) = rec.next_event().await {
            match ev {
                RecorderEvent::MediaWritten => {
                    if std::mem::take(&mut first_media) {
                        crate::telemetry::time_to_recording(started.elapsed());
                        self.mark_recording(id, &dir, rec.media_since()).await;
                    }
                }
                RecorderEvent::Reconnecting { attempt, reason } => {
                    crate::telemetry::ffmpeg_restart();
                    tracing::warn!(playback_id = %id, attempt, %reason, "camera dropped; reconnecting");
                }
                RecorderEvent::Finished(result) => {
                    // `complete` frees the recording slot once the row is
                    // PROCESSING: storing the clip does not count against
                    // MAX_CONCURRENT_RECORDINGS.
                    self.complete(id, &dir, result).await;
                    return;
                }
            }
        }
        lock(&self.active).remove(&id);
    }

    /// Moves a finished recording to PROCESSING and queues its upload.
    /// A playback deleted while recording leaves nothing to keep.
    async fn hand_off(
        &self,
        id: PlaybackId,
        clip: &crate::Clip,
        note: Option<String>,
    ) -> Result<()> {
        let stopped = PlaybackUpdate {
            ended_at: Some(OffsetDateTime::now_utc()),
            ..Default::default()
        };
        match self.advance(id, RecordingStatus::Processing, stopped).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let _ = clip.remove_files().await;
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
            // A conflict means it is already past RECORDING: queue anyway.
            _ => {}
        }
        // Only now, with the row PROCESSING, does the recording stop
        // counting as active: a stop racing with the end must not find it
        // RECORDING and unheld.
        lock(&self.active).remove(&id);
        self.try_queue(id, JobKind::Upload, &clip.dir, note).await
    }

    /// RECORDING, with `startedAt` when the clip's first frame was filmed
    /// (before the event, for a clip with pre-roll).
    async fn mark_recording(
        &self,
        id: PlaybackId,
        dir: &Path,
        since: Option<std::time::SystemTime>,
    ) {
        let u = PlaybackUpdate {
            started_at: Some(since.map_or_else(OffsetDateTime::now_utc, OffsetDateTime::from)),
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

    /// The camera's ring, started (or restarted for a new URL) as needed.
    async fn ring_of(&self, camera: &Camera) -> std::result::Result<Ring, RecordError> {
        let keep = Duration::from_secs(camera.pre_roll.get().into()) + RING_MARGIN;
        let mut rings = self.rings.lock().await;
        if let Some(ring) = rings.get(&camera.id) {
            if ring.url() == &camera.rtsp_url {
                ring.set_keep(keep);
                return Ok(ring.clone());
            }
            // A new URL: the old ffmpeg stops (its taps end with what they
            // have) before a new ring takes over the folder.
            tracing::info!(camera_id = %camera.id, "camera URL changed; reconnecting its ring");
            ring.stop_and_wait().await;
        }
        let ring = self
            .recorder
            .ring(&camera.id.to_string(), camera.rtsp_url.clone(), keep)?;
        tracing::info!(camera_id = %camera.id, keep_s = keep.as_secs(), "camera kept warm for pre-roll");
        rings.insert(camera.id, ring.clone());
        Ok(ring)
    }

    /// Keeps warm exactly the cameras of `cameras` that have a pre-roll,
    /// and removes ring folders of cameras that are gone. Run at start.
    pub async fn watch_all(&self, cameras: &[Camera]) {
        for camera in cameras {
            if let Err(e) = Recorder::watch(self, camera).await {
                tracing::warn!(camera_id = %camera.id, error = %e.chain(), "cannot keep the camera warm");
            }
        }
        let ring_root = self.recorder.config().record_dir.join(crate::RING_DIR);
        let known: Vec<String> = self
            .rings
            .lock()
            .await
            .keys()
            .map(|c| c.to_string())
            .collect();
        if let Ok(rd) = std::fs::read_dir(&ring_root) {
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !known.contains(&name) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }

    async fn complete(
        &self,
        id: PlaybackId,
        dir: &Path,
        result: std::result::Result<crate::Clip, RecordError>,
    ) {
        match result {
            Ok(clip) => {
                // The clip skips the time the camera was away; say so.
                let note = (clip.reconnects > 0).then(|| {
                    format!(
                        "the camera connection dropped {} time(s); the clip skips the time it was away",
                        clip.reconnects
                    )
                });
                // The clip is on disk; until the database takes the
                // hand-off, keep trying: a database restart must not leave
                // the playback stuck until the next start of the server.
                let mut delay = HANDOFF_RETRY;
                loop {
                    match self.hand_off(id, &clip, note.clone()).await {
                        Err(e) if e.kind() == ErrorKind::Unavailable => {
                            if delay == HANDOFF_RETRY {
                                tracing::warn!(playback_id = %id, error = %e.chain(), "cannot hand the clip to the queue; retrying");
                            }
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(HANDOFF_RETRY_MAX);
                        }
                        Err(e) => {
                            tracing::error!(playback_id = %id, error = %e.chain(), "cannot queue the upload; the next start will");
                            break;
                        }
                        Ok(()) => break,
                    }
                }
                // In any case the recording no longer runs here.
                lock(&self.active).remove(&id);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    RecordErrorKind::CameraUnreachable
                        | RecordErrorKind::NoMedia
                        | RecordErrorKind::Spawn
                ) =>
            {
                let _ = tokio::fs::remove_dir_all(dir).await;
                self.fail(id, crate::telemetry::reason_of(&e), e.to_string(), None)
                    .await;
                lock(&self.active).remove(&id);
            }
            Err(e) => {
                // The parts stay on disk for inspection; the row says where.
                self.fail(
                    id,
                    crate::telemetry::reason_of(&e),
                    e.to_string(),
                    Some(dir.to_string_lossy().into_owned()),
                )
                .await;
                lock(&self.active).remove(&id);
            }
        }
    }
}

#[async_trait::async_trait]
impl Recorder for RecordingService {
    async fn start(&self, playback: PlaybackId, camera: &Camera) -> Result<()> {
        let asked = std::time::Instant::now();
        {
            let active = lock(&self.active);
            if active.len() >= self.limits.max_concurrent {
                crate::telemetry::refused("capacity");
                return Err(Error::unavailable(format!(
                    "at capacity: {} recordings are running (MAX_CONCURRENT_RECORDINGS)",
                    active.len()
                )));
            }
        }
        let record_dir = &self.recorder.config().record_dir;
        if let Some(free) = free_bytes(record_dir) {
            if free < self.limits.min_free_bytes {
                crate::telemetry::refused("disk_space");
                return Err(Error::unavailable(format!(
                    "not enough free space in RECORD_DIR ({} MiB left, {} MiB needed)",
                    free >> 20,
                    self.limits.min_free_bytes >> 20
                )));
            }
        }
        let pre_roll = Duration::from_secs(camera.pre_roll.get().into());
        let post_roll = Duration::from_secs(camera.post_roll.get().into());
        let id = playback.to_string();
        let started = if pre_roll.is_zero() {
            self.recorder
                .start(&id, camera.rtsp_url.clone())
                .map(|rec| (rec, post_roll))
        } else {
            self.ring_of(camera)
                .await
                .and_then(|ring| ring.record(&id, pre_roll, post_roll))
                .map(|rec| (rec, Duration::ZERO))
        };
        let (mut rec, post_roll) = started.map_err(|e| {
            crate::telemetry::refused("spawn");
            Error::from(e)
        })?;
        crate::telemetry::started();
        let active = Active {
            stop: rec.stop_handle(),
            post_roll,
        };
        lock(&self.active).insert(playback, active);
        // A warm ring already has media: the playback is RECORDING before
        // the event's response is sent.
        let mut first_media = true;
        if let Ok(RecorderEvent::MediaWritten) = rec.events.try_recv() {
            first_media = false;
            self.mark_recording(playback, rec.dir(), rec.media_since())
                .await;
            crate::telemetry::time_to_recording(asked.elapsed());
        }
        tokio::spawn(self.clone().drive(playback, rec, first_media));
        Ok(())
    }

    async fn stop(&self, playback: PlaybackId) -> Result<Option<RecordingStatus>> {
        let Some(active) = lock(&self.active).get(&playback).cloned() else {
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
        if active.post_roll.is_zero() {
            active.stop.stop();
        } else {
            let stop = active.stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(active.post_roll).await;
                stop.stop();
            });
        }
        Ok(left_in)
    }

    fn is_active(&self, playback: PlaybackId) -> bool {
        lock(&self.active).contains_key(&playback)
    }

    fn active_count(&self) -> usize {
        RecordingService::active_count(self)
    }

    async fn watch(&self, camera: &Camera) -> Result<()> {
        if camera.pre_roll.get() == 0 {
            self.forget(camera.id).await;
            return Ok(());
        }
        self.ring_of(camera).await.map(|_| ()).map_err(Error::from)
    }

    async fn forget(&self, camera: CameraId) {
        let ring = self.rings.lock().await.remove(&camera);
        if let Some(ring) = ring {
            tracing::info!(camera_id = %camera, "camera no longer kept warm");
            ring.remove().await;
        }
    }
}

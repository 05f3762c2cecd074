//! The recorder behind Vigil's `Recorder` port: admits a recording (a slot
//! under MAX_CONCURRENT_RECORDINGS, free space on RECORD_DIR), asks the
//! capture mechanism for a take, and follows the take to its end, telling
//! the [`Lifecycle`] what happened (RECORDING when media is really on
//! disk, not at spawn). A finished take goes to the durable job queue
//! (`jobs.rs` stores it; `recovery.rs` finishes what a crash left).

use crate::lifecycle::{Happened, Lifecycle};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use vigil_domain::{
    capture::{Capture, ClipFile, StopTake, Take, TakeEvent},
    ports::{JobQueue, ObjectStore, PlaybackRepo, Recorder, Result},
    Camera, CameraId, Error, ErrorKind, JobKind, NewJob, PlaybackId, RecordError, RecordingStatus,
};

/// Refusals before a recording starts, and how clips are stored.
#[derive(Debug, Clone)]
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
    /// Where thumbnails are made before they are stored (`SNAPSHOT_DIR`);
    /// none: in the take's own folder.
    pub snapshot_dir: Option<std::path::PathBuf>,
    /// Store takes' parts while they record (`LIVE_UPLOAD`; off, clips
    /// reach the store only when they end), and keep them once the clip is
    /// stored (`LIVE_SEGMENTS_KEEP`).
    pub live: crate::live::LiveSettings,
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
            snapshot_dir: None,
            live: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecordingService {
    pub(crate) capture: Arc<dyn Capture>,
    pub(crate) playbacks: Arc<dyn PlaybackRepo>,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) jobs: Arc<dyn JobQueue>,
    pub(crate) limits: ServiceLimits,
    /// Takes running here, by playback.
    pub(crate) active: Arc<Mutex<HashMap<PlaybackId, (CameraId, StopTake)>>>,
    /// Registered when a take is driven, notified when it ends: shutdown
    /// waits on it instead of polling.
    pub(crate) idle: Arc<tokio::sync::Notify>,
    pub(crate) workers: crate::jobs::Workers,
    /// Live uploads still storing ended takes' backlogs.
    pub(crate) live_tails: crate::live::Tails,
    /// Clip uploads begun while their takes recorded, for the upload jobs
    /// to finish.
    pub(crate) begun_uploads: crate::clip_upload::BegunUploads,
    /// Where takes report their camera's link and clips what they measured;
    /// none for a service without a camera repository (tests).
    pub(crate) streams: Option<crate::streams::CameraStreams>,
    /// With several nodes, the camera leases (only the rings of the
    /// cameras this node owns run here); None: every camera is this node's.
    pub(crate) cluster: Option<crate::cluster::Cluster>,
    /// What resuming a lost node's recording needs (with several nodes).
    pub(crate) resume: Option<crate::resume::ResumePorts>,
    /// Adopted recordings waiting for their camera to be resumed here, and
    /// since when.
    pub(crate) resuming: Arc<Mutex<HashMap<PlaybackId, std::time::Instant>>>,
    /// Held while a recording is offered for resuming, and by a stop of
    /// one waiting, so the stop never falls between the two.
    pub(crate) resume_gate: Arc<tokio::sync::Mutex<()>>,
}

/// First wait before handing a finished clip to the queue again while the
/// database is unavailable; it doubles up to [`HANDOFF_RETRY_MAX`].
const HANDOFF_RETRY: Duration = Duration::from_secs(1);
const HANDOFF_RETRY_MAX: Duration = Duration::from_secs(30);

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RecordingService {
    pub fn new(
        capture: Arc<dyn Capture>,
        playbacks: Arc<dyn PlaybackRepo>,
        store: Arc<dyn ObjectStore>,
        jobs: Arc<dyn JobQueue>,
        limits: ServiceLimits,
    ) -> Self {
        Self {
            capture,
            lifecycle: Lifecycle::new(playbacks.clone()),
            playbacks,
            store,
            jobs,
            limits,
            active: Arc::default(),
            idle: Arc::default(),
            workers: crate::jobs::Workers::default(),
            live_tails: Default::default(),
            begun_uploads: Default::default(),
            streams: None,
            cluster: None,
            resume: None,
            resuming: Arc::default(),
            resume_gate: Arc::default(),
        }
    }

    /// Resumes lost nodes' recordings here (`resume.rs`).
    pub fn with_resume(mut self, ports: crate::resume::ResumePorts) -> Self {
        self.resume = Some(ports);
        self
    }

    /// Queues the job that finishes an adopted playback here: a join when
    /// its folder is on this disk (the node's id changed), a rebuild from
    /// the store otherwise.
    pub async fn finish_adopted(&self, id: PlaybackId) -> Result<()> {
        let dir = self.capture.take_dir(&id.to_string());
        let kind = if dir.exists() {
            JobKind::Finalize
        } else {
            JobKind::Rebuild
        };
        let me = self
            .cluster
            .as_ref()
            .map_or_else(|| "this node".to_owned(), |c| c.me().to_string());
        let note = format!("its node stopped answering while it recorded; {me} finished it");
        // PROCESSING first: a stop from now on finds it being finished.
        match self.lifecycle.apply(id, Happened::Interrupted).await {
            Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
            _ => {}
        }
        self.queue(id, kind, &dir, Some(note)).await
    }

    /// Keeps the cameras' `stream` objects from what takes see.
    pub fn with_streams(mut self, streams: crate::streams::CameraStreams) -> Self {
        self.streams = Some(streams);
        self
    }

    /// Keeps rings of the cameras this node owns only.
    pub fn with_cluster(mut self, cluster: crate::cluster::Cluster) -> Self {
        self.cluster = Some(cluster);
        self
    }

    pub fn active_count(&self) -> usize {
        lock(&self.active).len()
    }

    /// The playbacks whose takes run here.
    pub fn active_ids(&self) -> Vec<PlaybackId> {
        lock(&self.active).keys().copied().collect()
    }

    /// Stops every recording, so each is finalized and queued for upload,
    /// then lets running uploads finish until `grace` has passed. What is
    /// left stays in the durable queue, its leases released so the next
    /// start (or another server) takes it up at once.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let stops: Vec<_> = lock(&self.active)
            .values()
            .map(|(_, s)| s.clone())
            .collect();
        for stop in &stops {
            stop.stop();
        }
        // Takes from rings end with the segments they have (no post-roll)
        // once their ring stops.
        self.capture.stop_warm().await;
        loop {
            let idle = self.idle.notified();
            if self.active_count() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        self.stop_jobs(deadline).await;
    }

    /// Hands a stopped recording to the durable queue.
    pub(crate) async fn queue(
        &self,
        id: PlaybackId,
        kind: JobKind,
        dir: &std::path::Path,
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
        kept: Option<&std::path::Path>,
    ) {
        if self.lifecycle.fail(id, reason, kept).await {
            crate::telemetry::failed(label);
        }
    }

    fn release(&self, id: PlaybackId) {
        lock(&self.active).remove(&id);
        self.idle.notify_waiters();
    }

    /// Follows one take to its end.
    async fn drive(
        self,
        id: PlaybackId,
        camera: CameraId,
        mut take: Box<dyn Take>,
        mut first_media: bool,
        resumed_from: Option<u32>,
    ) {
        let started = std::time::Instant::now();
        let dir = take.dir().to_owned();
        let live = self.limits.live.enabled.then(|| {
            crate::live::LiveUpload::start(
                self.capture.clone(),
                self.store.clone(),
                id,
                &dir,
                resumed_from.unwrap_or(0),
            )
        });
        // A resumed take's clip is joined with the media stored before it,
        // so it is not uploaded as it grows.
        let mut clip_upload = (self.limits.live.enabled && resumed_from.is_none())
            .then(|| crate::clip_upload::ClipUpload::start(self.store.clone(), id, &dir))
            .flatten();
        while let Some(ev) = take.next_event().await {
            match ev {
                TakeEvent::MediaStarted { since } => {
                    if std::mem::take(&mut first_media) {
                        if resumed_from.is_some() {
                            crate::resume::Resumed::media_started(id, &dir, since).await;
                        }
                        crate::telemetry::time_to_recording(started.elapsed());
                        self.mark_recording(id, &dir, since).await;
                        if let Some(s) = &self.streams {
                            s.connected(camera).await;
                        }
                    }
                }
                TakeEvent::Interrupted { attempt, reason } => {
                    tracing::warn!(playback_id = %id, attempt, %reason, "camera dropped; reconnecting");
                    if let Some(s) = &self.streams {
                        s.offline(camera, reason).await;
                    }
                }
                TakeEvent::Resumed { away } => {
                    tracing::info!(playback_id = %id, away_s = away.as_secs_f64(), "camera back; recording goes on");
                    if let Some(s) = &self.streams {
                        s.connected(camera).await;
                    }
                }
                TakeEvent::Finished(result) => {
                    // The last part is closed now: it is stored before the
                    // clip is handed on (and the folder perhaps removed).
                    if let Some(live) = live {
                        self.live_tails.keep(id, live.finish().await);
                    }
                    if let Some(upload) = clip_upload.take() {
                        self.keep_begun(id, upload, &result).await;
                    }
                    if let Some(s) = &self.streams {
                        match &result {
                            Ok(clip) => s.clip(camera, clip.stream.as_deref().cloned()).await,
                            Err(e) => s.take_failed(camera, e).await,
                        }
                    }
                    // `complete` frees the recording slot once the row is
                    // PROCESSING: storing the clip does not count against
                    // MAX_CONCURRENT_RECORDINGS.
                    self.complete(id, &dir, result, resumed_from.is_some())
                        .await;
                    return;
                }
            }
        }
        if let Some(live) = live {
            self.live_tails.keep(id, live.finish().await);
        }
        if let Some(upload) = clip_upload {
            if let Some(begun) = upload.finish().await {
                crate::clip_upload::abort(self.store.as_ref(), &begun).await;
            }
        }
        self.release(id);
    }

    /// Keeps the upload begun while the take recorded for the clip's upload
    /// job, when the clip is the file it was reading; drops it otherwise.
    async fn keep_begun(
        &self,
        id: PlaybackId,
        upload: crate::clip_upload::ClipUpload,
        result: &std::result::Result<ClipFile, vigil_domain::RecordError>,
    ) {
        let Some(begun) = upload.finish().await else {
            return;
        };
        match result {
            Ok(clip) if clip.streamed => self.begun_uploads.keep(id, begun),
            _ => {
                let store = self.store.clone();
                tokio::spawn(
                    async move { crate::clip_upload::abort(store.as_ref(), &begun).await },
                );
            }
        }
    }

    /// Moves a finished take to PROCESSING and queues its upload. A
    /// playback deleted while recording leaves nothing to keep.
    async fn hand_off(&self, id: PlaybackId, clip: &ClipFile, note: Option<String>) -> Result<()> {
        match self.lifecycle.apply(id, Happened::Stopped).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.live_tails.drop_tail(id);
                if let Some(begun) = self.begun_uploads.take(id) {
                    crate::clip_upload::abort(self.store.as_ref(), &begun).await;
                }
                let _ = tokio::fs::remove_dir_all(&clip.dir).await;
                crate::live::remove_segments(self.store.as_ref(), id).await;
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
            // Another node took the playback over while this one could not
            // reach the database (docs/design/cluster.md, invariant 6):
            // its clip is the stored one. This take's stays on this disk
            // for an operator, and is not uploaded over it.
            Err(e)
                if e.kind() == ErrorKind::Conflict
                    && self.playbacks.recorded_elsewhere(id).await? =>
            {
                tracing::warn!(playback_id = %id, dir = %clip.dir.display(), error = %e.chain(), "the playback is another node's now; this take's clip is kept here, not stored");
                self.live_tails.drop_tail(id);
                if let Some(begun) = self.begun_uploads.take(id) {
                    crate::clip_upload::abort(self.store.as_ref(), &begun).await;
                }
                self.release(id);
                return Ok(());
            }
            // A conflict means it is already past RECORDING: queue anyway.
            _ => {}
        }
        // The folder travels with the job (and survives a restart): what
        // the take knows of its gaps goes with it.
        crate::jobs::write_gaps(&clip.dir, &clip.gaps).await;
        // Only now, with the row PROCESSING, does the recording stop
        // counting as active: a stop racing with the end must not find it
        // RECORDING and unheld.
        self.release(id);
        self.queue(id, JobKind::Upload, &clip.dir, note).await
    }

    /// RECORDING, with `startedAt` when the clip's first frame was filmed
    /// (before the event, for a clip with pre-roll).
    async fn mark_recording(
        &self,
        id: PlaybackId,
        dir: &std::path::Path,
        since: std::time::SystemTime,
    ) {
        let what = Happened::MediaStarted {
            since,
            dir: dir.to_string_lossy().into_owned(),
        };
        if let Err(e) = self.lifecycle.apply(id, what).await {
            tracing::warn!(playback_id = %id, error = %e.chain(), "cannot mark playback RECORDING");
        }
    }

    /// Keeps warm exactly the cameras of `cameras` that have a pre-roll,
    /// and removes the recent video of cameras that are gone. Run at start.
    pub async fn watch_all(&self, cameras: &[Camera]) {
        for camera in cameras {
            // With several nodes, the leasing pass starts the rings of the
            // cameras this node takes.
            if self.cluster.is_some() {
                continue;
            }
            if let Err(e) = Recorder::watch(self, camera).await {
                tracing::warn!(camera_id = %camera.id, error = %e.chain(), "cannot keep the camera warm");
            }
        }
        self.capture.remove_cold().await;
    }

    async fn complete(
        &self,
        id: PlaybackId,
        dir: &std::path::Path,
        result: std::result::Result<ClipFile, RecordError>,
        resumed: bool,
    ) {
        match result {
            // Another node goes on recording it (this node is stopping).
            Ok(_) if self.hand_over(id).await => {}
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
            }
            // A resumed take that recorded nothing (stopped before its
            // first frame, the camera gone): the clip is what the store
            // holds from before.
            Err(e) if resumed && e.kind().nothing_recorded() => {
                tracing::warn!(playback_id = %id, error = %e, "the resumed take recorded nothing; the clip is rebuilt from the store");
                let _ = tokio::fs::remove_dir_all(dir).await;
                if let Err(e) = self.finish_adopted(id).await {
                    tracing::error!(playback_id = %id, error = %e.chain(), "cannot queue the rebuild; the next start will");
                }
            }
            Err(e) if e.kind().nothing_recorded() => {
                // Nothing worth keeping was recorded.
                let _ = tokio::fs::remove_dir_all(dir).await;
                self.fail(id, e.kind().label(), e.to_string(), None).await;
            }
            Err(e) => {
                // The parts stay on disk for inspection; the row says where.
                self.fail(id, e.kind().label(), e.to_string(), Some(dir))
                    .await;
            }
        }
        // In any case the recording no longer runs here.
        self.release(id);
    }
}

impl RecordingService {
    /// Admits and starts a take for `playback`; `resumed` when it resumes
    /// another node's recording of it.
    pub(crate) async fn start_take(
        &self,
        playback: PlaybackId,
        camera: &Camera,
        window: vigil_domain::RecordWindow,
        resumed: Option<crate::resume::Resumed>,
    ) -> Result<()> {
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
        if let Some(free) = self.capture.free_bytes() {
            if free < self.limits.min_free_bytes {
                crate::telemetry::refused("disk_space");
                return Err(Error::unavailable(format!(
                    "not enough free space in RECORD_DIR ({} MiB left, {} MiB needed)",
                    free >> 20,
                    self.limits.min_free_bytes >> 20
                )));
            }
        }
        let mut take = self
            .capture
            .record(&playback.to_string(), camera, window)
            .await
            .map_err(|e| {
                crate::telemetry::refused("spawn");
                Error::from(e)
            })?;
        let resumed_from = resumed.as_ref().map(|r| r.base);
        if let Some(r) = &resumed {
            if let Err(e) = r.write(take.dir()).await {
                take.stopper().stop();
                return Err(Error::internal(format!(
                    "cannot mark the resumed take: {e}"
                )));
            }
        }
        crate::telemetry::started();
        lock(&self.active).insert(playback, (camera.id, take.stopper()));
        // A warm ring already has media: the playback is RECORDING before
        // the event's response is sent.
        let mut first_media = true;
        if let Some(TakeEvent::MediaStarted { since }) = take.try_next_event() {
            first_media = false;
            if resumed_from.is_some() {
                crate::resume::Resumed::media_started(playback, take.dir(), since).await;
            }
            self.mark_recording(playback, take.dir(), since).await;
            crate::telemetry::time_to_recording(asked.elapsed());
        }
        tokio::spawn(
            self.clone()
                .drive(playback, camera.id, take, first_media, resumed_from),
        );
        Ok(())
    }
}

#[async_trait::async_trait]
impl Recorder for RecordingService {
    async fn start(
        &self,
        playback: PlaybackId,
        camera: &Camera,
        window: vigil_domain::RecordWindow,
    ) -> Result<()> {
        self.start_take(playback, camera, window, None).await
    }

    async fn stop(&self, playback: PlaybackId) -> Result<Option<RecordingStatus>> {
        // Waiting to be resumed: an attempt under way ends first.
        let waiting = lock(&self.resuming).contains_key(&playback);
        let _gate = match waiting {
            true => Some(self.resume_gate.lock().await),
            false => None,
        };
        let Some((_, stop)) = lock(&self.active).get(&playback).cloned() else {
            if self.let_go(playback) {
                // Adopted and waiting for its camera: finished from the
                // store with what was recorded.
                let left_in = self.lifecycle.apply(playback, Happened::StopAsked).await?;
                self.finish_adopted(playback).await?;
                return Ok(Some(left_in.status));
            }
            return Ok(None);
        };
        let left_in = match self.lifecycle.apply(playback, Happened::StopAsked).await {
            Ok(p) => Some(p.status),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
            Err(_) => self.playbacks.get(playback).await?.map(|p| p.status),
        };
        stop.stop();
        Ok(left_in)
    }

    fn is_active(&self, playback: PlaybackId) -> bool {
        // An adopted recording waiting for its camera is held here too.
        lock(&self.active).contains_key(&playback) || lock(&self.resuming).contains_key(&playback)
    }

    fn records(&self, camera: CameraId) -> bool {
        lock(&self.active).values().any(|(c, _)| *c == camera)
    }

    async fn fence(&self, camera: CameraId) {
        let stops: Vec<_> = lock(&self.active)
            .values()
            .filter(|(c, _)| *c == camera)
            .map(|(_, s)| s.clone())
            .collect();
        for stop in stops {
            stop.stop();
        }
        self.capture.cool(camera).await;
    }

    fn active_count(&self) -> usize {
        RecordingService::active_count(self)
    }

    async fn watch(&self, camera: &Camera) -> Result<()> {
        // Of several nodes, only the camera's owner keeps its ring; a
        // camera nobody holds (just created) is taken here.
        if let Some(c) = &self.cluster {
            match c.take_if_free(camera.id).await {
                Ok((crate::cluster::Owner::Here, _)) => {}
                Ok((crate::cluster::Owner::Node(_), _)) => {
                    self.capture.cool(camera.id).await;
                    return Ok(());
                }
                Err(e) => {
                    self.capture.cool(camera.id).await;
                    return Err(e);
                }
            }
        }
        self.capture.keep_warm(camera).await.map_err(Error::from)
    }

    async fn forget(&self, camera: CameraId) {
        self.capture.cool(camera).await;
    }

    fn space_short(&self) -> u64 {
        self.capture
            .free_bytes()
            .map_or(0, |free| self.limits.min_free_bytes.saturating_sub(free))
    }

    fn check_stream(&self, camera: &Camera) {
        if let Some(s) = &self.streams {
            s.check(camera);
        }
    }
}

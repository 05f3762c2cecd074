//! The upload workers: they take jobs from the durable queue, join the parts
//! when a crash left them unjoined, upload the clip and its thumbnail, and
//! report the clip ready. A job whose store is down goes back to the queue
//! with a growing delay; after `upload_give_up` the playback is FAILED with
//! the clip kept on disk. While a worker holds a job it renews the lease,
//! so only a crashed (or stopped) server's jobs are taken up by others.

use crate::{lifecycle::Happened, service::RecordingService};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use vigil_domain::{
    capture::CLIP_NAME, ports::Result, ErrorKind, Job, JobId, JobKind, MediaInfo, Playback,
    PlaybackId, RecordErrorKind, RecordingStatus,
};

/// How often idle workers look for jobs that became due (delays, expired
/// leases of other servers) without being woken.
const POLL: Duration = Duration::from_secs(1);
/// How often the gauges are sampled.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

/// The workers' shared state.
#[derive(Debug, Clone)]
pub(crate) struct Workers {
    /// Names this process as a lease holder.
    owner: Arc<str>,
    wake: Arc<Notify>,
    /// Cancelled at shutdown: claim nothing more.
    stopping: CancellationToken,
    /// Cancelled when the grace period is over: drop the jobs in hand
    /// (their leases are released; the next holder starts them again).
    abandon: CancellationToken,
    tasks: TaskTracker,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            owner: format!("vigil-{}-{}", std::process::id(), JobId::new()).into(),
            wake: Arc::default(),
            stopping: CancellationToken::new(),
            abandon: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }
}

impl Workers {
    /// Whether the process is stopping (nothing more is claimed).
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_waiters();
        self.wake.notify_one();
    }
}

/// What became of one job.
enum Outcome {
    Done,
    /// Try again after this delay.
    Later(Duration, String),
}

impl RecordingService {
    /// Starts the upload workers and the gauge sampler, and returns their
    /// handles for the owner to watch: each runs until shutdown, so one
    /// that ends before it has failed. Call after
    /// [`RecordingService::recover`]; calling again starts nothing.
    pub fn start_jobs(&self) -> Vec<(&'static str, tokio::task::JoinHandle<()>)> {
        if !self.workers.tasks.is_empty() || self.workers.stopping.is_cancelled() {
            return Vec::new();
        }
        let mut tasks: Vec<_> = (0..self.limits.upload_workers.max(1))
            .map(|_| {
                (
                    "upload worker",
                    self.workers.tasks.spawn(self.clone().work()),
                )
            })
            .collect();
        tasks.push((
            "gauge sampler",
            self.workers.tasks.spawn(self.clone().sample_gauges()),
        ));
        tasks
    }

    /// Keeps the queue-depth, free-space and warm-camera gauges current.
    async fn sample_gauges(self) {
        loop {
            let depth = self.jobs.depth().await.ok();
            crate::telemetry::gauges(depth, self.capture.free_bytes());
            crate::telemetry::rings(self.capture.warm_stats());
            if let Some(s) = &self.streams {
                s.sync_warm().await;
            }
            tokio::select! {
                _ = self.workers.stopping.cancelled() => return,
                _ = tokio::time::sleep(GAUGE_EVERY) => {}
            }
        }
    }

    /// The process's shutdown signal: cancelling it makes the workers claim
    /// nothing more; the owner of the other tasks stops them on it too, so
    /// one token stops everything.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.workers.stopping.clone()
    }

    /// Lets running jobs finish until `deadline`, then drops what is still
    /// in hand and releases this process's leases.
    pub(crate) async fn stop_jobs(&self, deadline: tokio::time::Instant) {
        self.workers.stopping.cancel();
        self.workers.tasks.close();
        if tokio::time::timeout_at(deadline, self.workers.tasks.wait())
            .await
            .is_err()
        {
            self.workers.abandon.cancel();
            self.workers.tasks.wait().await;
        }
        match self.jobs.release_all(&self.workers.owner).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "uploads left in the queue for the next start"),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "cannot release job leases; they expire on their own")
            }
        }
    }

    async fn work(self) {
        let stopping = self.workers.stopping.clone();
        while !stopping.is_cancelled() {
            // Registered before claiming, so a wake between an empty claim
            // and the wait is not lost.
            let notified = self.workers.wake.notified();
            let job = match self
                .jobs
                .claim(&self.workers.owner, self.limits.job_lease)
                .await
            {
                Ok(job) => job,
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "cannot read the job queue");
                    None
                }
            };
            let Some(job) = job else {
                tokio::select! {
                    _ = stopping.cancelled() => return,
                    _ = tokio::time::timeout(POLL, notified) => {}
                }
                continue;
            };
            let span = tracing::info_span!("job", playback_id = %job.playback_id, kind = %job.kind, attempt = job.attempts);
            tokio::select! {
                _ = self.workers.abandon.cancelled() => return,
                _ = tracing::Instrument::instrument(self.run_held(job), span) => {}
            }
        }
    }

    /// Runs a claimed job, renewing its lease meanwhile (until this future
    /// ends or is dropped, as when shutdown abandons it).
    async fn run_held(&self, job: Job) {
        let renew = {
            let (jobs, owner, lease, id) = (
                self.jobs.clone(),
                self.workers.owner.clone(),
                self.limits.job_lease,
                job.id,
            );
            tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    match jobs.renew(id, &owner, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!("lost the lease of a running job");
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e.chain(), "cannot renew a job lease"),
                    }
                }
            }))
        };
        let outcome = self.run(&job).await;
        drop(renew);
        let res = match outcome {
            Outcome::Done => self.jobs.finish(job.id).await,
            Outcome::Later(after, why) => {
                crate::telemetry::upload_retry();
                tracing::warn!(retry_in = ?after, error = %why, "object store unavailable; the clip waits on disk");
                self.jobs
                    .retry_later(job.id, &self.workers.owner, after, &why)
                    .await
            }
        };
        if let Err(e) = res {
            // The lease runs out and the job is tried again: storing twice
            // is harmless (same keys, the row is COMPLETED once).
            tracing::warn!(error = %e.chain(), "cannot update the job queue");
        }
    }

    async fn run(&self, job: &Job) -> Outcome {
        let id = job.playback_id;
        let mut dir = PathBuf::from(&job.dir);
        // A job whose folder is not on this disk was queued by a node that
        // is lost (the queue gives this node only its own jobs and those):
        // its take is rebuilt here from what live upload stored.
        let adopted;
        let job = if job.kind != JobKind::Rebuild && self.limits.live.enabled && !dir.exists() {
            tracing::warn!(folder = %dir.display(), "the take's folder is not on this disk; rebuilding it from the store");
            dir = self.capture.take_dir(&id.to_string());
            adopted = Job {
                kind: JobKind::Rebuild,
                ..job.clone()
            };
            &adopted
        } else {
            job
        };
        let playback = match self.playbacks.get(id).await {
            Ok(p) => p,
            Err(e) => return Outcome::Later(self.limits.upload_retry, e.message().to_owned()),
        };
        let Some(playback) = playback else {
            // Deleted meanwhile: what was uploaded goes too.
            self.forget(id, &dir).await;
            return Outcome::Done;
        };
        match playback.status {
            RecordingStatus::Completed => {
                let _ = tokio::fs::remove_dir_all(&dir).await;
                return Outcome::Done;
            }
            RecordingStatus::Failed => return Outcome::Done,
            RecordingStatus::Pending | RecordingStatus::Recording => {
                let _ = self.lifecycle.apply(id, Happened::Stopped).await;
            }
            RecordingStatus::Processing => {}
        }
        let rebuilt = if job.kind == JobKind::Rebuild {
            match self.rebuild(id, &dir).await {
                Ok(Some(note)) => Some(note),
                Ok(None) => return Outcome::Done,
                Err(e) => {
                    return Outcome::Later(
                        backoff(self.limits.upload_retry, job.attempts),
                        e.message().to_owned(),
                    )
                }
            }
        } else {
            None
        };
        // A take that resumed a lost node's recording: the media stored
        // before it goes in front of its own.
        let resumed = match self.merge_stored(id, &dir).await {
            Ok(note) => note,
            Err(e) if e.kind() == ErrorKind::Unavailable => {
                return Outcome::Later(
                    backoff(self.limits.upload_retry, job.attempts),
                    e.message().to_owned(),
                )
            }
            Err(e) => {
                tracing::error!(error = %e.chain(), "cannot put the stored media in front of the resumed take; the clip holds the take alone");
                Some(format!(
                    "the media recorded before its node stopped answering could not be joined to it: {}",
                    e.message()
                ))
            }
        };
        let joined = dir.join(CLIP_NAME);
        if resumed.is_some() && job.kind == JobKind::Upload {
            // Written while the take alone recorded: joined again below.
            let _ = tokio::fs::remove_file(&joined).await;
        }
        let (path, media, unread) = match self.clip(job, &dir).await {
            Ok(clip) => clip,
            Err(reason) => {
                let _ = tokio::fs::remove_dir_all(&dir).await;
                self.fail(id, "finalize", reason, None).await;
                return Outcome::Done;
            }
        };
        let note = [job.note.clone(), rebuilt, resumed, unread]
            .into_iter()
            .flatten()
            .reduce(|a, b| format!("{a}; {b}"));
        match self.store_clip(id, &path, media, note).await {
            Ok(()) => Outcome::Done,
            Err(e) => {
                let waited = OffsetDateTime::now_utc() - job.created_at;
                let delay = backoff(self.limits.upload_retry, job.attempts);
                let give_up = waited + delay > self.limits.upload_give_up;
                if e.kind() != ErrorKind::Unavailable || give_up {
                    tracing::error!(error = %e.chain(), "upload failed for good");
                    self.fail(
                        id,
                        "upload",
                        format!("upload failed: {}; the clip is kept", e.message()),
                        Some(&path),
                    )
                    .await;
                    Outcome::Done
                } else {
                    Outcome::Later(delay, e.message().to_owned())
                }
            }
        }
    }

    /// The joined, probed clip: joined now if the job says the parts were
    /// never joined (or the clip went missing). A probe that ran past its
    /// deadline leaves the metadata empty and says so; the clip is whole.
    async fn clip(
        &self,
        job: &Job,
        dir: &Path,
    ) -> std::result::Result<(PathBuf, MediaInfo, Option<String>), String> {
        let joined = dir.join(CLIP_NAME);
        let path = if job.kind != JobKind::Upload || !joined.exists() {
            self.capture
                .finalize(dir)
                .await
                .map_err(|e| format!("the recording could not be finalized: {e}"))?
        } else {
            joined
        };
        match self.capture.probe(&path).await {
            Ok(media) => Ok((path, media, None)),
            Err(e) if e.kind() == RecordErrorKind::Timeout => Ok((
                path,
                MediaInfo::default(),
                Some(format!("the clip's metadata could not be read: {e}")),
            )),
            Err(e) => Err(format!("the clip could not be read: {e}")),
        }
    }

    /// Fills the lost folder of `id` from the segments stored while it
    /// recorded, and says so for the playback's note; `None` when the
    /// store holds none (the playback is FAILED then). An unavailable
    /// store is retried.
    async fn rebuild(&self, id: PlaybackId, dir: &Path) -> Result<Option<String>> {
        match crate::live::fetch_segments(self.store.as_ref(), id, dir).await {
            Ok((0, _)) => {
                let _ = tokio::fs::remove_dir_all(dir).await;
                self.fail(
                    id,
                    "restart",
                    "server restarted before anything was recorded".into(),
                    None,
                )
                .await;
                Ok(None)
            }
            Ok((n, seconds)) => {
                tracing::info!(segments = n, seconds, "clip rebuilt from the store");
                Ok(Some(format!(
                    "the recorder's local files were lost; the clip was rebuilt from the {n} segment(s) ({seconds:.1} s) stored while it recorded, and misses the last seconds before the interruption"
                )))
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => Err(e),
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(dir).await;
                self.fail(
                    id,
                    "restart",
                    format!("the clip could not be rebuilt: {}", e.message()),
                    None,
                )
                .await;
                Ok(None)
            }
        }
    }

    /// Removes the objects and folder of a playback deleted meanwhile.
    /// Uploads the clip in one go, its index first (a clip written while it
    /// recorded has it last: it is moved in one pass over the file first).
    async fn put_whole(&self, key: &str, clip: &Path) -> Result<u64> {
        if let Err(e) = self.capture.make_faststart(clip).await {
            // The evidence matters more than its layout.
            tracing::warn!(error = %e, "cannot move the clip's index first; storing it as it is");
        }
        self.store.put_file(key, clip, "video/mp4").await
    }

    async fn forget(&self, id: PlaybackId, dir: &Path) {
        self.live_tails.drop_tail(id);
        if let Some(begun) = self.begun_uploads.take(id) {
            crate::clip_upload::abort(self.store.as_ref(), &begun).await;
        }
        let _ = self.store.delete(&Playback::video_key_for(id)).await;
        let _ = self.store.delete(&Playback::thumbnail_key_for(id)).await;
        crate::live::remove_segments(self.store.as_ref(), id).await;
        let _ = tokio::fs::remove_dir_all(dir).await;
    }

    /// Uploads the clip and its thumbnail, reports the clip ready and
    /// removes the folder.
    async fn store_clip(
        &self,
        id: PlaybackId,
        clip: &Path,
        media: MediaInfo,
        note: Option<String>,
    ) -> Result<()> {
        let dir = clip.parent().map(Path::to_path_buf).unwrap_or_default();
        let video_key = Playback::video_key_for(id);
        let began = std::time::Instant::now();
        let size = match self.begun_uploads.take(id) {
            // Most of the clip went up while it recorded.
            Some(begun) => match crate::clip_upload::complete(
                self.store.as_ref(),
                self.capture.as_ref(),
                &begun,
                clip,
            )
            .await
            {
                Ok(size) => size,
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "cannot finish the upload begun while recording; uploading the clip whole");
                    crate::clip_upload::abort(self.store.as_ref(), &begun).await;
                    self.put_whole(&video_key, clip).await?
                }
            },
            None => self.put_whole(&video_key, clip).await?,
        };
        let thumbnail_key = self
            .thumbnail(id, clip, &dir, media.duration_sec.unwrap_or(0.0))
            .await;
        let ready = Happened::ClipReady {
            video_key,
            thumbnail_key,
            media: MediaInfo {
                file_size_bytes: Some(size as i64),
                ..media
            },
            note,
            gaps: read_gaps(&dir).await,
        };
        match self.lifecycle.apply(id, ready).await {
            Ok(_) => {
                crate::telemetry::uploaded(began.elapsed(), size);
                crate::telemetry::completed();
                tracing::info!(bytes = size, "recording completed");
                // The take's live backlog reads the folder's parts, and
                // its segments must be stored before they are removed.
                self.live_tails.settle(id).await;
                let _ = tokio::fs::remove_dir_all(&dir).await;
                if !self.limits.live.keep {
                    // The clip holds them all now.
                    crate::live::remove_segments(self.store.as_ref(), id).await;
                }
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.forget(id, &dir).await;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Conflict => {
                // Finished some other way (FAILED by a stop of a stale row).
                tracing::warn!(error = %e.chain(), "playback left PROCESSING before its upload ended");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn thumbnail(
        &self,
        id: PlaybackId,
        clip: &Path,
        dir: &Path,
        duration: f64,
    ) -> Option<String> {
        let out = match &self.limits.snapshot_dir {
            Some(snapshots) => snapshots.join(format!("{id}.jpg")),
            None => dir.join("thumbnail.jpg"),
        };
        let at = (duration / 2.0).min(1.0);
        let made = self.capture.thumbnail(clip, at, &out).await;
        let stored = match made {
            Err(e) => {
                tracing::warn!(error = %e, "no thumbnail could be made");
                None
            }
            Ok(()) => Some(self.store_thumbnail(id, &out).await),
        };
        // The working file is ours either way (a killed ffmpeg may have
        // left half of one).
        let _ = tokio::fs::remove_file(&out).await;
        stored.flatten()
    }

    async fn store_thumbnail(&self, id: PlaybackId, file: &Path) -> Option<String> {
        let key = Playback::thumbnail_key_for(id);
        match self.store.put_file(&key, file, "image/jpeg").await {
            Ok(_) => Some(key),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "thumbnail upload failed");
                None
            }
        }
    }
}

/// The take's gaps, kept in its folder from hand-off to upload.
const GAPS_FILE: &str = "gaps.json";

pub(crate) async fn write_gaps(dir: &Path, gaps: &[vigil_domain::Gap]) {
    if gaps.is_empty() {
        return;
    }
    let written = match serde_json::to_vec(gaps) {
        Ok(json) => tokio::fs::write(dir.join(GAPS_FILE), json).await,
        Err(e) => Err(std::io::Error::other(e)),
    };
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot note the clip's gaps; it is stored without them");
    }
}

/// None written (or unreadable): no gaps known.
pub(crate) async fn read_gaps(dir: &Path) -> Vec<vigil_domain::Gap> {
    match tokio::fs::read(dir.join(GAPS_FILE)).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// `first`, doubled per attempt already made, at most 10 minutes.
fn backoff(first: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    (first * 2u32.pow(doublings)).min(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(30), 1), s(30));
        assert_eq!(backoff(s(30), 2), s(60));
        assert_eq!(backoff(s(30), 3), s(120));
        assert_eq!(backoff(s(30), 40), s(600));
    }
}

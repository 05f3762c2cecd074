//! Start-up recovery: finishes what a crashed (or killed) server left.
//! Recordings whose ffmpeg still runs (ours by pid, start time and command
//! line) are stopped by the capture mechanism. Every playback still in
//! flight is then handed to the job queue with what was recorded (or
//! FAILED when nothing was). Folders nobody refers to are removed. Nothing
//! Vigil did not start is touched.

use crate::{lifecycle::Happened, service::RecordingService};
use std::{collections::HashMap, path::PathBuf};
use vigil_domain::{ports::Result, JobKind, PlaybackId, RecordingStatus};

/// What start-up recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub orphans_stopped: usize,
    /// In-flight playbacks handed to the upload queue with what was recorded.
    pub queued: usize,
    /// Playbacks whose job was already queued (e.g. an upload a crash
    /// interrupted); the workers resume them.
    pub resumed: usize,
    /// In-flight playbacks with no folder left, handed to the queue to be
    /// rebuilt from the segments stored while they recorded (or failed
    /// when none were).
    pub rebuilt: usize,
    pub folders_removed: usize,
}

const INTERRUPTED: &str =
    "recording was interrupted by a server restart; the clip holds what was recorded until then";

impl RecordingService {
    /// Run once at start, before [`RecordingService::start_jobs`] and
    /// before taking requests.
    pub async fn recover(&self) -> Result<RecoveryReport> {
        let mut report = RecoveryReport {
            orphans_stopped: self.capture.stop_orphans().await,
            ..Default::default()
        };
        let mut dirs: HashMap<PlaybackId, PathBuf> = self
            .capture
            .takes_on_disk()
            .into_iter()
            .filter_map(|(name, dir)| Some((name.parse::<PlaybackId>().ok()?, dir)))
            .collect();
        // Every in-flight playback is read before any is touched: handing
        // one to the queue moves it to PROCESSING, and a list read after
        // that (with the upload workers already running) would meet it
        // again, its job perhaps already done, and queue it twice.
        let mut in_flight = Vec::new();
        for status in [
            RecordingStatus::Pending,
            RecordingStatus::Recording,
            RecordingStatus::Processing,
        ] {
            in_flight.extend(self.playbacks.in_status(status).await?);
        }
        let mut seen = std::collections::HashSet::new();
        in_flight.retain(|p| seen.insert(p.id));
        for p in in_flight {
            if self.is_running_here(p.id) {
                continue;
            }
            let dir = dirs.remove(&p.id);
            if self.jobs.has_job(p.id).await? {
                report.resumed += 1;
                continue;
            }
            match dir {
                Some(dir) => {
                    let _ = self.lifecycle.apply(p.id, Happened::Interrupted).await;
                    if let Err(e) = self
                        .queue(p.id, JobKind::Finalize, &dir, Some(INTERRUPTED.into()))
                        .await
                    {
                        tracing::error!(playback_id = %p.id, error = %e.chain(), "cannot queue the upload; the next start will");
                    }
                    report.queued += 1;
                }
                None => {
                    // The folder is gone (never made, or lost with
                    // its disk): what was stored live rebuilds the
                    // clip; with nothing stored, the job fails it.
                    let _ = self.lifecycle.apply(p.id, Happened::Interrupted).await;
                    let dir = self.capture.take_dir(&p.id.to_string());
                    if let Err(e) = self
                        .queue(p.id, JobKind::Rebuild, &dir, Some(INTERRUPTED.into()))
                        .await
                    {
                        tracing::error!(playback_id = %p.id, error = %e.chain(), "cannot queue the rebuild; the next start will");
                    }
                    report.rebuilt += 1;
                }
            }
        }
        for (id, dir) in dirs {
            // A queued job still needs its folder (its playback may have been
            // deleted; the job then removes folder and objects itself).
            if self.jobs.has_job(id).await? {
                continue;
            }
            let _ = tokio::fs::remove_dir_all(&dir).await;
            report.folders_removed += 1;
        }
        Ok(report)
    }

    fn is_running_here(&self, id: PlaybackId) -> bool {
        crate::service::lock(&self.active).contains_key(&id)
    }
}

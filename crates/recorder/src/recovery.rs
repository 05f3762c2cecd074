//! Start-up recovery: finishes what a crashed (or killed) server left.
//! Recordings whose ffmpeg still runs — ours by pid, start time and command
//! line, from the manifest — are stopped with one SIGINT. Every playback
//! still in flight is then handed to the job queue with what was recorded
//! (or FAILED when nothing was). Folders nobody refers to are removed.
//! Nothing Vigil did not start is touched.

use crate::{manifest::Manifest, service::RecordingService};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::Duration,
};
use time::OffsetDateTime;
use vigil_domain::{ports::Result, JobKind, PlaybackId, PlaybackUpdate, RecordingStatus};

/// What start-up recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub orphans_stopped: usize,
    /// In-flight playbacks handed to the upload queue with what was recorded.
    pub queued: usize,
    /// Playbacks whose job was already queued (e.g. an upload a crash
    /// interrupted); the workers resume them.
    pub resumed: usize,
    pub failed: usize,
    pub folders_removed: usize,
}

const INTERRUPTED: &str =
    "recording was interrupted by a server restart; the clip holds what was recorded until then";

impl RecordingService {
    /// Run once at start, before [`RecordingService::start_jobs`] and
    /// before taking requests.
    pub async fn recover(&self) -> Result<RecoveryReport> {
        let cfg = self.recorder.config().clone();
        let mut report = RecoveryReport::default();
        report.orphans_stopped +=
            crate::ring::stop_orphans(&cfg.record_dir, cfg.stop_timeout).await;
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
            if let Some(m) = Manifest::read(dir) {
                if m.process_is_ours(dir) {
                    stop_orphan(m.pid, dir, cfg.stop_timeout).await;
                    report.orphans_stopped += 1;
                }
                Manifest::remove(dir);
            }
        }
        for status in [
            RecordingStatus::Pending,
            RecordingStatus::Recording,
            RecordingStatus::Processing,
        ] {
            for p in self.playbacks.in_status(status).await? {
                if crate::service::lock(&self.active).contains_key(&p.id) {
                    continue;
                }
                let dir = dirs.remove(&p.id);
                if self.jobs.has_job(p.id).await? {
                    report.resumed += 1;
                    continue;
                }
                match dir {
                    Some(dir) => {
                        let u = PlaybackUpdate {
                            ended_at: Some(OffsetDateTime::now_utc()),
                            ..Default::default()
                        };
                        let _ = self.advance(p.id, RecordingStatus::Processing, u).await;
                        self.queue(p.id, JobKind::Finalize, &dir, Some(INTERRUPTED.into()))
                            .await;
                        report.queued += 1;
                    }
                    None => {
                        self.fail(
                            p.id,
                            "restart",
                            "server restarted before anything was recorded".into(),
                            None,
                        )
                        .await;
                        report.failed += 1;
                    }
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
}

/// One SIGINT (ffmpeg then finalizes its open part), SIGKILL only after the
/// timeout.
pub(crate) async fn stop_orphan(pid: u32, dir: &Path, timeout: Duration) {
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

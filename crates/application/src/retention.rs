//! Retention: finished (COMPLETED or FAILED), unretained playbacks older than their
//! camera's `retentionDays`, or the server-wide `RETENTION_DAYS` when the
//! camera sets none, are deleted — objects first, then the row — the same
//! way `DELETE /playbacks/{id}` does. Events stay (they are small and are
//! the audit trail); recordings in flight are never touched.

use crate::recordings::Recordings;
use std::time::Duration;
use time::OffsetDateTime;
use vigil_domain::{Error, RetentionDays};

/// Playbacks deleted per query, so one sweep never holds many rows.
const BATCH: u64 = 100;

#[derive(Debug, Clone)]
pub struct Retention {
    pub flow: Recordings,
    /// Applies to cameras without their own `retentionDays`; None: keep.
    pub global: Option<RetentionDays>,
    /// Bytes of stored clips kept in all (`RETENTION_MAX_BYTES`); None:
    /// no store-wide quota.
    pub max_bytes: Option<u64>,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub deleted: u64,
    pub failed: u64,
}

impl Retention {
    async fn cameras(&self) -> Result<Vec<vigil_domain::Camera>, Error> {
        crate::cameras::all_cameras(self.flow.cameras.as_ref()).await
    }

    /// Deletes what is past its retention at `now`.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<SweepReport, Error> {
        let mut report = SweepReport::default();
        for cam in self.cameras().await? {
            let Some(days) = cam.retention.or(self.global) else {
                continue;
            };
            let cutoff = now - days.as_duration();
            loop {
                let old = self
                    .flow
                    .playbacks
                    .finished_before(cam.id, cutoff, BATCH)
                    .await?;
                let n = old.len() as u64;
                let mut progressed = false;
                for p in old {
                    match self.flow.delete_playback(p.id, false).await {
                        Ok(_) => {
                            report.deleted += 1;
                            progressed = true;
                        }
                        // Retained since it was listed: kept.
                        Err(e) if e.kind() == vigil_domain::ErrorKind::Conflict => {}
                        Err(e) => {
                            report.failed += 1;
                            tracing::warn!(playback_id = %p.id, camera_id = %cam.id, error = %e.chain(), "retention could not delete a playback; next sweep tries again");
                        }
                    }
                }
                if n < BATCH || !progressed {
                    break;
                }
            }
        }
        Ok(report)
    }

    /// Deletes the oldest finished, unretained playbacks of each camera over
    /// its `retentionMaxBytes`, then of all over `RETENTION_MAX_BYTES`.
    pub async fn enforce_quotas(&self) -> Result<SweepReport, Error> {
        let mut report = SweepReport::default();
        for cam in self.cameras().await? {
            if let Some(max) = cam.retention_max_bytes {
                self.trim(Some(cam.id), max, &mut report).await?;
            }
        }
        if let Some(max) = self.max_bytes {
            self.trim(None, max, &mut report).await?;
        }
        Ok(report)
    }

    /// Deletes oldest first until what `camera` (or all) stores is within
    /// `max`, or nothing deletable is left.
    async fn trim(
        &self,
        camera: Option<vigil_domain::CameraId>,
        max: u64,
        report: &mut SweepReport,
    ) -> Result<(), Error> {
        let mut stored = self.flow.playbacks.stored_bytes(camera).await?;
        while stored > max {
            let oldest = self.flow.playbacks.oldest_finished(camera, BATCH).await?;
            if oldest.is_empty() {
                tracing::warn!(camera_id = ?camera.map(|c| c.to_string()), stored, max, "over the storage quota with nothing left to delete (retained clips are kept)");
                break;
            }
            let mut progressed = false;
            for p in oldest {
                if stored <= max {
                    break;
                }
                let size = p.media.file_size_bytes.unwrap_or(0).max(0) as u64;
                match self.flow.delete_playback(p.id, false).await {
                    Ok(_) => {
                        report.deleted += 1;
                        progressed = true;
                        stored = stored.saturating_sub(size);
                        tracing::info!(playback_id = %p.id, bytes = size, "deleted for the storage quota");
                    }
                    Err(e) if e.kind() == vigil_domain::ErrorKind::Conflict => {}
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(playback_id = %p.id, error = %e.chain(), "the quota could not delete a playback; next time");
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(())
    }

    /// Enforces the quotas each time a clip is stored (a COMPLETED status
    /// on `events`), until `stop` is cancelled; the hourly sweep covers
    /// what a lagging subscriber missed.
    pub async fn on_completed(
        self,
        events: crate::PlaybackEvents,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut rx = events.subscribe();
        loop {
            let got = tokio::select! {
                _ = stop.cancelled() => return,
                got = rx.recv() => got,
            };
            let stored = match got {
                Ok(p) => p.status == vigil_domain::RecordingStatus::Completed,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            if stored {
                if let Err(e) = self.enforce_quotas().await {
                    tracing::warn!(error = %e.chain(), "storage quota check failed");
                }
            }
        }
    }

    /// Sweeps now and then every `every`, until `stop` is cancelled. A sweep
    /// cut short there is finished by the next one (a playback whose
    /// objects went but whose row stayed is deleted again, harmlessly).
    pub async fn run(self, every: Duration, stop: tokio_util::sync::CancellationToken) {
        loop {
            let sweep = async {
                match self.sweep(OffsetDateTime::now_utc()).await {
                    Ok(r) if r.deleted > 0 || r.failed > 0 => {
                        tracing::info!(deleted = r.deleted, failed = r.failed, "retention sweep")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e.chain(), "retention sweep failed"),
                }
                match self.enforce_quotas().await {
                    Ok(r) if r.deleted > 0 || r.failed > 0 => {
                        tracing::info!(
                            deleted = r.deleted,
                            failed = r.failed,
                            "storage quota sweep"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e.chain(), "storage quota sweep failed"),
                }
                tokio::time::sleep(every).await;
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = sweep => {}
            }
        }
    }
}

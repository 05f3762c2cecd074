//! Retention: finished (COMPLETED or FAILED), unretained playbacks older than their
//! camera's `retentionDays`, or the server-wide `RETENTION_DAYS` when the
//! camera sets none, are deleted — objects first, then the row — the same
//! way `DELETE /playbacks/{id}` does. Events stay (they are small and are
//! the audit trail); recordings in flight are never touched.

use crate::recordings::Recordings;
use std::time::Duration;
use time::OffsetDateTime;
use vigil_domain::{Error, Page, RetentionDays};

/// Playbacks deleted per query, so one sweep never holds many rows.
const BATCH: u64 = 100;

#[derive(Debug, Clone)]
pub struct Retention {
    pub flow: Recordings,
    /// Applies to cameras without their own `retentionDays`; None: keep.
    pub global: Option<RetentionDays>,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub deleted: u64,
    pub failed: u64,
}

impl Retention {
    /// Deletes what is past its retention at `now`.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<SweepReport, Error> {
        let mut report = SweepReport::default();
        let mut offset = 0i64;
        loop {
            let page =
                Page::parse(Some(Page::MAX_LIMIT as i64), Some(offset)).map_err(Error::internal)?;
            let cameras = self.flow.cameras.list(page).await?.rows;
            if cameras.is_empty() {
                break;
            }
            offset += cameras.len() as i64;
            for cam in cameras {
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
        }
        Ok(report)
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
                tokio::time::sleep(every).await;
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = sweep => {}
            }
        }
    }
}

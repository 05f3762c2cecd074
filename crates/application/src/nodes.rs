//! This process's heartbeat as a node: every third of the lease it
//! records that it is alive, with the cameras it records and the
//! recordings running on it (`GET /nodes` shows them). On one node it
//! records every camera.
//!
//! With each beat it also adopts the work of lost nodes (not heard of
//! within the lease): their in-flight playbacks become this node's, and
//! each gets a job that finishes it here, from the segments live upload
//! stored (docs/design/cluster.md, invariant 4), so nothing stays
//! RECORDING or PROCESSING when a node dies with its disk.

use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;
use vigil_domain::{
    ports::{CameraRepo, NodeRepo, Recorder},
    NodeBeat, NodeId, Page,
};

#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub nodes: Arc<dyn NodeRepo>,
    pub cameras: Arc<dyn CameraRepo>,
    pub recorder: Arc<dyn Recorder>,
    pub id: NodeId,
    pub started_at: time::OffsetDateTime,
    /// `NODE_LEASE_SECONDS`: a node not heard of for this long is not alive.
    pub lease: Duration,
    /// Where lost nodes' playbacks are adopted from and their jobs queued.
    pub orphans: Option<Orphans>,
    /// The cameras this node owns, with several nodes; None: all of them.
    pub owned: Option<crate::cluster::Ownership>,
}

/// What adopting a lost node's playbacks needs.
#[derive(Debug, Clone)]
pub struct Orphans {
    pub playbacks: Arc<dyn vigil_domain::ports::PlaybackRepo>,
    pub jobs: Arc<dyn vigil_domain::ports::JobQueue>,
    pub capture: Arc<dyn vigil_domain::capture::Capture>,
}

impl Orphans {
    /// Adopts the lost nodes' in-flight playbacks and queues, for each one
    /// without a job, one that finishes it here: a join when its folder is
    /// on this disk (the node's id changed), a rebuild from the store
    /// otherwise. A PROCESSING one's own job is taken by this node's queue
    /// as it is (its folder missing here, it rebuilds too).
    pub async fn adopt(&self, me: &NodeId) -> vigil_domain::ports::Result<usize> {
        let adopted = self.playbacks.adopt_orphans().await?;
        for p in &adopted {
            if self.jobs.has_job(p.id).await? {
                continue;
            }
            let dir = self.capture.take_dir(&p.id.to_string());
            let kind = if dir.exists() {
                vigil_domain::JobKind::Finalize
            } else {
                vigil_domain::JobKind::Rebuild
            };
            self.jobs
                .enqueue(vigil_domain::NewJob {
                    playback_id: p.id,
                    kind,
                    dir: dir.to_string_lossy().into_owned(),
                    note: Some(format!(
                        "its node stopped answering while it recorded; {me} finished it"
                    )),
                })
                .await?;
        }
        Ok(adopted.len())
    }
}

impl Heartbeat {
    /// Beats until `stop`; a failed beat is logged and tried at the next.
    pub async fn run(self, stop: CancellationToken) {
        let mut failing = false;
        loop {
            match self.beat().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(node_id = %self.id, "node heartbeat recorded again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(node_id = %self.id, error = %e.chain(), "cannot record the node heartbeat");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.lease / 3) => {}
            }
        }
    }

    async fn beat(&self) -> vigil_domain::ports::Result<()> {
        self.record_beat().await?;
        if let Some(o) = &self.orphans {
            o.adopt(&self.id).await?;
        }
        Ok(())
    }

    async fn record_beat(&self) -> vigil_domain::ports::Result<()> {
        let cameras = match &self.owned {
            Some(o) => o.count() as u64,
            None => {
                let one = Page::parse(Some(1), Some(0)).map_err(vigil_domain::Error::internal)?;
                self.cameras.list(one).await?.total
            }
        };
        self.nodes
            .beat(&NodeBeat {
                id: self.id.clone(),
                started_at: self.started_at,
                cameras: u32::try_from(cameras).unwrap_or(u32::MAX),
                recordings: u32::try_from(self.recorder.active_count()).unwrap_or(u32::MAX),
            })
            .await
    }
}

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
    NodeBeat, NodeId, Page, Signal,
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
    /// Signals from the other nodes: one that stopped is adopted from at
    /// once (its recordings resumed), not at the next beat.
    pub wake: Option<tokio::sync::broadcast::Sender<Signal>>,
}

/// What adopting a lost node's playbacks needs.
#[derive(Debug, Clone)]
pub struct Orphans {
    pub playbacks: Arc<dyn vigil_domain::ports::PlaybackRepo>,
    pub service: crate::RecordingService,
}

impl Orphans {
    /// Adopts the lost nodes' in-flight playbacks, but those of cameras
    /// another live node holds (the lost node's own lease included, until
    /// it runs out). One whose event is
    /// still open is resumed here when its camera can be had (`resume.rs`;
    /// asked again each beat while the lost node's lease runs out); the
    /// others without a job get one that finishes them here from what was
    /// stored. A PROCESSING one's own job is taken by this node's queue as
    /// it is (its folder missing here, it rebuilds).
    pub async fn adopt(&self, me: &NodeId) -> vigil_domain::ports::Result<usize> {
        // The recordings of cameras another live node holds are left to it:
        // the camera's owner adopts them, so it can resume them.
        let leave: Vec<_> = match &self.service.cluster {
            Some(c) => {
                let now = time::OffsetDateTime::now_utc();
                c.leases
                    .all()
                    .await?
                    .into_iter()
                    .filter(|l| l.held(now) && &l.node != me)
                    .map(|l| l.camera)
                    .collect()
            }
            None => Vec::new(),
        };
        let adopted = self.playbacks.adopt_orphans(&leave).await?;
        let ids: Vec<_> = adopted.iter().map(|p| p.id).collect();
        // Those still waiting from earlier beats, then the new ones.
        let mut offered: Vec<_> = self.service.waiting_to_resume();
        self.service.hold_adopted(&ids);
        for id in ids {
            match self.service.jobs.has_job(id).await {
                // Its job (the queue's now) finishes it.
                Ok(true) => {
                    self.service.let_go(id);
                }
                _ => offered.push(id),
            }
        }
        for id in offered {
            self.service.offer_resume(id).await;
        }
        Ok(adopted.len())
    }
}

impl Heartbeat {
    /// Beats until `stop`; a failed beat is logged and tried at the next.
    pub async fn run(self, stop: CancellationToken) {
        let mut failing = false;
        let mut heard = self.wake.as_ref().map(|w| w.subscribe());
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
            let period = self.lease / 3;
            let go_on = match &mut heard {
                Some(heard) => {
                    let me = &self.id;
                    let woken = |s: &Signal| matches!(s, Signal::Released { by } if by != me);
                    crate::cluster::nap(heard, period, &stop, woken).await
                }
                None => tokio::select! {
                    _ = stop.cancelled() => false,
                    _ = tokio::time::sleep(period) => true,
                },
            };
            if !go_on {
                return;
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

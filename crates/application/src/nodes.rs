//! This process's heartbeat as a node: every third of the lease it
//! records that it is alive, with the cameras it records and the
//! recordings running on it (`GET /nodes` shows them). On one node it
//! records every camera.

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
        let one = Page::parse(Some(1), Some(0)).map_err(vigil_domain::Error::internal)?;
        let cameras = self.cameras.list(one).await?.total;
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

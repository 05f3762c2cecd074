//! Playback status changes as a stream, for `GET /playbacks/stream`.
//! [`NotifyingPlaybacks`] wraps the playback repository: every status change
//! that is written (by a handler or by the recorder) is also published on a
//! broadcast channel, so clients need not poll.

use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::broadcast;
use vigil_domain::{
    ports::{Listed, PlaybackRepo, Result},
    CameraId, Page, Playback, PlaybackFilter, PlaybackId, PlaybackUpdate, RecordingStatus,
};

/// Where status changes are published. Slow subscribers skip ahead rather
/// than hold anyone up.
#[derive(Debug, Clone)]
pub struct PlaybackEvents(broadcast::Sender<Playback>);

impl PlaybackEvents {
    pub fn new() -> Self {
        Self(broadcast::channel(1024).0)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Playback> {
        self.0.subscribe()
    }

    fn publish(&self, p: &Playback) {
        // No subscriber is not an error.
        let _ = self.0.send(p.clone());
    }
}

impl Default for PlaybackEvents {
    fn default() -> Self {
        Self::new()
    }
}

/// Publishes here, until `stop`, the status changes other nodes made, so
/// `/playbacks/stream` on any node carries every node's (webhooks and MQTT
/// were told by the node that made the change). Cached counts are dropped
/// on each.
pub async fn relay(
    playbacks: Arc<dyn PlaybackRepo>,
    events: PlaybackEvents,
    cluster: crate::cluster::Cluster,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut heard = cluster.heard.subscribe();
    loop {
        let signal = tokio::select! {
            _ = stop.cancelled() => return,
            s = heard.recv() => s,
        };
        match signal {
            Ok(vigil_domain::Signal::Changed {
                playback,
                status,
                by,
            }) if &by != cluster.me() => {
                playbacks.changed_elsewhere(playback);
                match playbacks.get(playback).await {
                    Ok(Some(mut p)) => {
                        // The status the signal was sent for: the row may
                        // have moved on already, and each step is news.
                        p.status = status;
                        events.publish(&p);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(playback_id = %playback, error = %e.chain(), "cannot read a playback another node changed")
                    }
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "status changes of other nodes were missed by this stream"
                )
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// A [`PlaybackRepo`] that publishes every status change it writes.
#[derive(Debug)]
pub struct NotifyingPlaybacks {
    inner: Arc<dyn PlaybackRepo>,
    events: PlaybackEvents,
    /// Webhooks and MQTT hear of the changes they care for.
    push: crate::push::Push,
    /// The other nodes hear of every change, for their streams.
    cluster: Option<crate::cluster::Cluster>,
}

impl NotifyingPlaybacks {
    pub fn new(inner: Arc<dyn PlaybackRepo>, events: PlaybackEvents) -> Self {
        Self {
            inner,
            events,
            push: crate::push::Push::none(),
            cluster: None,
        }
    }

    pub fn with_cluster(mut self, cluster: crate::cluster::Cluster) -> Self {
        self.cluster = Some(cluster);
        self
    }

    pub fn with_push(mut self, push: crate::push::Push) -> Self {
        self.push = push;
        self
    }
}

#[async_trait]
impl PlaybackRepo for NotifyingPlaybacks {
    async fn get(&self, id: PlaybackId) -> Result<Option<Playback>> {
        self.inner.get(id).await
    }

    async fn list(&self, filter: PlaybackFilter, page: Page) -> Result<Listed<Playback>> {
        self.inner.list(filter, page).await
    }

    async fn transition(
        &self,
        id: PlaybackId,
        to: RecordingStatus,
        update: PlaybackUpdate,
    ) -> Result<Playback> {
        let p = self.inner.transition(id, to, update).await?;
        self.events.publish(&p);
        if let Some(c) = &self.cluster {
            c.tell(vigil_domain::Signal::Changed {
                playback: id,
                status: p.status,
                by: c.me().clone(),
            })
            .await;
        }
        // Queued before the change is acknowledged, so a webhook's news is
        // as durable as the change itself (short of a crash in between).
        self.push.playback(&p).await;
        Ok(p)
    }

    async fn in_status(&self, status: RecordingStatus) -> Result<Vec<Playback>> {
        self.inner.in_status(status).await
    }

    async fn adopt_orphans(&self, leave: &[CameraId]) -> Result<Vec<Playback>> {
        self.inner.adopt_orphans(leave).await
    }

    async fn recorded_elsewhere(&self, id: PlaybackId) -> Result<bool> {
        self.inner.recorded_elsewhere(id).await
    }

    async fn request_stop(&self, id: PlaybackId) -> Result<()> {
        self.inner.request_stop(id).await
    }

    async fn stop_requested(&self, ids: &[PlaybackId]) -> Result<Vec<PlaybackId>> {
        self.inner.stop_requested(ids).await
    }

    async fn hand_off(
        &self,
        id: PlaybackId,
        node: &vigil_domain::NodeId,
        window: &vigil_domain::RecordWindow,
    ) -> Result<()> {
        self.inner.hand_off(id, node, window).await
    }

    async fn handoffs(&self, cameras: &[CameraId]) -> Result<Vec<(PlaybackId, CameraId)>> {
        self.inner.handoffs(cameras).await
    }

    async fn take_handoff(&self, id: PlaybackId) -> Result<Option<vigil_domain::RecordWindow>> {
        self.inner.take_handoff(id).await
    }

    async fn release_handoffs(&self) -> Result<u64> {
        self.inner.release_handoffs().await
    }

    fn changed_elsewhere(&self, id: PlaybackId) {
        self.inner.changed_elsewhere(id)
    }

    async fn finished_before(
        &self,
        camera: vigil_domain::CameraId,
        cutoff: time::OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<Playback>> {
        self.inner.finished_before(camera, cutoff, limit).await
    }

    async fn stored_bytes(&self, camera: Option<CameraId>) -> Result<u64> {
        self.inner.stored_bytes(camera).await
    }

    async fn oldest_finished(&self, camera: Option<CameraId>, limit: u64) -> Result<Vec<Playback>> {
        self.inner.oldest_finished(camera, limit).await
    }

    async fn set_retain(&self, id: PlaybackId, retain: bool) -> Result<Option<Playback>> {
        self.inner.set_retain(id, retain).await
    }

    async fn delete(&self, id: PlaybackId) -> Result<bool> {
        self.inner.delete(id).await
    }
}

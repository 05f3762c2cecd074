//! Cameras spread over the nodes sharing one PostgreSQL
//! (docs/design/cluster.md, invariants 5, 6, 8 and 10).
//!
//! Each camera is owned by one live node through a lease with a TTL
//! (`NODE_LEASE_SECONDS`); the owner runs its ring and records it. Every
//! third of the lease a node renews what it holds, takes free or run-out
//! cameras up to its fair share, and gives back idle ones above it. A node
//! that could not renew for half the lease stops acting as owner before
//! its leases can run out (self-fencing). Signals (`NOTIFY`) wake
//! the other nodes at once; the passes and pollers make up for a missed
//! one.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use vigil_domain::{
    ports::{CameraRepo, LeaseRepo, NodeRepo, PlaybackRepo, Recorder, Signals},
    CameraId, CameraLease, NodeId, Signal,
};

/// The cameras this node owns, with the epoch each is held at.
#[derive(Debug, Clone)]
pub struct Ownership {
    me: NodeId,
    state: Arc<Mutex<Owned>>,
}

#[derive(Debug, Default)]
struct Owned {
    cameras: HashMap<CameraId, u64>,
    /// The last renewal that reached the database.
    renewed: Option<Instant>,
}

impl Ownership {
    pub fn new(me: NodeId) -> Self {
        Self {
            me,
            state: Arc::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn me(&self) -> &NodeId {
        &self.me
    }

    pub fn owns(&self, camera: CameraId) -> bool {
        self.state().cameras.contains_key(&camera)
    }

    pub fn cameras(&self) -> Vec<CameraId> {
        let mut c: Vec<_> = self.state().cameras.keys().copied().collect();
        c.sort();
        c
    }

    pub fn count(&self) -> usize {
        self.state().cameras.len()
    }

    fn insert(&self, camera: CameraId, epoch: u64) {
        self.state().cameras.insert(camera, epoch);
    }

    fn remove(&self, camera: CameraId) {
        self.state().cameras.remove(&camera);
    }

    /// What a renewal returned is now all this node holds; returns the
    /// cameras it no longer holds.
    fn renewed(&self, held: &[CameraLease]) -> Vec<CameraId> {
        let mut s = self.state();
        s.renewed = Some(Instant::now());
        let lost: Vec<_> = s
            .cameras
            .keys()
            .filter(|c| !held.iter().any(|l| l.camera == **c))
            .copied()
            .collect();
        s.cameras = held.iter().map(|l| (l.camera, l.epoch)).collect();
        lost
    }

    /// Whether the last renewal is older than `age` (or there was none
    /// while cameras are held).
    fn stale(&self, age: Duration) -> bool {
        let s = self.state();
        !s.cameras.is_empty() && s.renewed.is_none_or(|r| r.elapsed() > age)
    }

    /// Drops every camera; returns them.
    fn clear(&self) -> Vec<CameraId> {
        let mut s = self.state();
        let all = s.cameras.keys().copied().collect();
        s.cameras.clear();
        all
    }
}

/// What the use cases need to hand recordings to cameras' owners.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub ownership: Ownership,
    pub leases: Arc<dyn LeaseRepo>,
    pub signals: Arc<dyn Signals>,
    /// `NODE_LEASE_SECONDS`.
    pub ttl: Duration,
    /// Signals received from any node, fanned out in this process.
    pub heard: broadcast::Sender<Signal>,
}

/// Where a recording of a camera is to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Here,
    Node(NodeId),
}

impl Cluster {
    pub fn new(
        me: NodeId,
        leases: Arc<dyn LeaseRepo>,
        signals: Arc<dyn Signals>,
        ttl: Duration,
    ) -> Self {
        Self {
            ownership: Ownership::new(me),
            leases,
            signals,
            ttl,
            heard: broadcast::channel(256).0,
        }
    }

    pub fn me(&self) -> &NodeId {
        self.ownership.me()
    }

    /// Who owns `camera`: this node when it holds the lease; the holder
    /// when another node holds it; else this node, after taking the free
    /// lease. Also whether this call took it.
    pub async fn take_if_free(
        &self,
        camera: CameraId,
    ) -> vigil_domain::ports::Result<(Owner, bool)> {
        if self.ownership.owns(camera) {
            return Ok((Owner::Here, false));
        }
        for _ in 0..2 {
            let now = OffsetDateTime::now_utc();
            match self.leases.get(camera).await? {
                Some(l) if l.held(now) && &l.node != self.me() => {
                    return Ok((Owner::Node(l.node), false))
                }
                _ => {}
            }
            if let Some(epoch) = self.leases.claim(camera, self.me(), self.ttl).await? {
                self.ownership.insert(camera, epoch);
                tracing::info!(camera_id = %camera, epoch, "camera taken");
                return Ok((Owner::Here, true));
            }
            // Taken by another node in between: read who.
        }
        Err(vigil_domain::Error::unavailable(
            "the camera's lease changed hands twice while it was read",
        ))
    }

    /// Where an event's recording runs: [`Cluster::take_if_free`], with the
    /// ring of a camera just taken started (an event must not wait for a
    /// pass).
    pub async fn owner_of(
        &self,
        camera: &vigil_domain::Camera,
        recorder: &dyn Recorder,
    ) -> vigil_domain::ports::Result<Owner> {
        let (owner, taken) = self.take_if_free(camera.id).await?;
        if taken {
            if let Err(e) = recorder.watch(camera).await {
                tracing::warn!(camera_id = %camera.id, error = %e.chain(), "cannot keep the camera warm");
            }
        }
        Ok(owner)
    }

    /// Tells the other nodes, logging a failure (they poll as well).
    pub async fn tell(&self, signal: Signal) {
        if let Err(e) = self.signals.send(&signal).await {
            tracing::debug!(error = %e.chain(), signal = signal.encode(), "cannot signal the other nodes; they will poll");
        }
    }

    /// Receives signals from every node and fans them out here, until
    /// `stop`. A lost channel is logged; the pollers make up for what it
    /// missed.
    pub async fn listen(self, stop: CancellationToken) {
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    self.signals.close().await;
                    return;
                }
                got = self.signals.recv() => match got {
                    Ok(s) => {
                        failing = false;
                        let _ = self.heard.send(s);
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e.chain(), "the signal channel was lost; polling makes up for it");
                        }
                        failing = true;
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }
    }
}

/// Waits `period`, or less when `heard` carries a signal that `wakes`;
/// false when it is time to stop.
pub(crate) async fn nap(
    heard: &mut broadcast::Receiver<Signal>,
    period: Duration,
    stop: &CancellationToken,
    wakes: impl Fn(&Signal) -> bool,
) -> bool {
    let next = tokio::time::sleep(period);
    tokio::pin!(next);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = &mut next => return true,
            s = heard.recv() => match s {
                Ok(s) if wakes(&s) => return true,
                Err(broadcast::error::RecvError::Closed) => return false,
                _ => {}
            },
        }
    }
}

/// `write`, tried up to three times while the database is unavailable: at
/// exit, pooled connections made on the http workers' runtimes are dead
/// once those stop, and each failed try discards one.
async fn retried<T, F, Fut>(mut write: F) -> vigil_domain::ports::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = vigil_domain::ports::Result<T>>,
{
    let mut tries = 0;
    loop {
        match write().await {
            Err(e) if e.kind() == vigil_domain::ErrorKind::Unavailable && tries < 2 => tries += 1,
            done => return done,
        }
    }
}

/// The leasing pass, run every third of the lease by each node.
#[derive(Debug, Clone)]
pub struct Leasing {
    pub cluster: Cluster,
    pub cameras: Arc<dyn CameraRepo>,
    pub nodes: Arc<dyn NodeRepo>,
    pub recorder: Arc<dyn Recorder>,
    /// `MAX_CONCURRENT_RECORDINGS`: a node never takes more cameras.
    pub capacity: usize,
}

impl Leasing {
    /// Runs passes until `stop`; another node giving its cameras back
    /// starts one at once.
    pub async fn run(self, stop: CancellationToken) {
        let mut heard = self.cluster.heard.subscribe();
        let mut failing = false;
        let ttl = self.cluster.ttl;
        loop {
            // Bounded: a database that stopped answering (a partition) must
            // not hold the pass, and so the fencing below, past the lease.
            let passed = match tokio::time::timeout(ttl / 4, self.pass()).await {
                Ok(r) => r,
                Err(_) => Err(vigil_domain::Error::unavailable(
                    "the database did not answer the leasing pass in time",
                )),
            };
            if passed.is_err() {
                self.fence_if_stale().await;
            }
            match passed {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("camera leases renewed again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e.chain(), "cannot renew or take camera leases");
                }
                Err(_) => {}
            }
            let me = self.cluster.me();
            let woken = |s: &Signal| matches!(s, Signal::Released { by } if by != me);
            if !nap(&mut heard, ttl / 3, &stop, woken).await {
                return;
            }
        }
    }

    /// Self-fencing: when the last renewal is older than half the lease,
    /// this node stops acting as the owner of every camera (rings and
    /// takes stopped) before any lease can run out, so there is never a
    /// moment with two owners acting. Passes come every third of the lease
    /// and give up after a quarter, so this runs before 7/12 of it.
    async fn fence_if_stale(&self) {
        let own = &self.cluster.ownership;
        if own.stale(self.cluster.ttl / 2) {
            let dropped = own.clear();
            tracing::error!(
                cameras = dropped.len(),
                "cannot renew camera leases in time; no longer acting as their owner"
            );
            for camera in dropped {
                self.recorder.fence(camera).await;
            }
        }
    }

    /// Renews, then takes and gives back cameras toward this node's fair
    /// share.
    pub async fn pass(&self) -> vigil_domain::ports::Result<()> {
        let own = &self.cluster.ownership;
        let me = self.cluster.me().clone();
        let ttl = self.cluster.ttl;
        let held = self.cluster.leases.renew(&me, ttl).await?;
        for camera in own.renewed(&held) {
            tracing::warn!(camera_id = %camera, "camera lease lost to another node");
            self.recorder.fence(camera).await;
        }
        let cameras = crate::all_cameras(self.cameras.as_ref()).await?;
        let now = OffsetDateTime::now_utc();
        let alive = self
            .nodes
            .list()
            .await?
            .iter()
            .filter(|n| n.alive(now, ttl))
            .count()
            .max(1);
        let share = cameras.len().div_ceil(alive).min(self.capacity);
        let leases: HashMap<_, _> = self
            .cluster
            .leases
            .all()
            .await?
            .into_iter()
            .map(|l| (l.camera, l))
            .collect();
        for camera in &cameras {
            if own.count() >= share {
                break;
            }
            if own.owns(camera.id) || leases.get(&camera.id).is_some_and(|l| l.held(now)) {
                continue;
            }
            if let Some(epoch) = self.cluster.leases.claim(camera.id, &me, ttl).await? {
                own.insert(camera.id, epoch);
                tracing::info!(camera_id = %camera.id, epoch, "camera taken");
            }
        }
        // Above the share (a node joined, or cameras were deleted): give
        // back idle cameras, never one this node is recording.
        let mut extra = own.count().saturating_sub(share);
        for camera in own.cameras().into_iter().rev() {
            if extra == 0 {
                break;
            }
            if self.recorder.records(camera) {
                continue;
            }
            self.cluster.leases.release(camera, &me).await?;
            own.remove(camera);
            self.recorder.forget(camera).await;
            extra -= 1;
            tracing::info!(camera_id = %camera, share, "camera given back for another node to take");
        }
        // A deleted camera's lease is dropped with the pass, and its ring.
        for camera in own.cameras() {
            if !cameras.iter().any(|c| c.id == camera) {
                self.cluster.leases.release(camera, &me).await?;
                own.remove(camera);
                self.recorder.forget(camera).await;
            }
        }
        // A camera changed on another node (its pre-roll, its URL) gets
        // its ring as it is now: keeping a ring warm is idempotent.
        for camera in cameras.iter().filter(|c| own.owns(c.id)) {
            if let Err(e) = self.recorder.watch(camera).await {
                tracing::debug!(camera_id = %camera.id, error = %e.chain(), "cannot keep the camera warm");
            }
        }
        Ok(())
    }

    /// Gives every camera back (the node is stopping, its takes finished)
    /// and hands its unstarted recordings to the cameras' next owners,
    /// then tells the others to take them now.
    pub async fn release(&self, playbacks: &dyn PlaybackRepo) {
        let me = self.cluster.me().clone();
        match retried(|| self.cluster.leases.release_all(&me)).await {
            Ok(n) => tracing::info!(cameras = n, "camera leases given back"),
            Err(e) => {
                tracing::warn!(error = %e.chain(), "cannot give camera leases back; they run out by themselves")
            }
        }
        self.cluster.ownership.clear();
        match retried(|| playbacks.release_handoffs()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                recordings = n,
                "recordings not started here left to the cameras' next owners"
            ),
            Err(e) => tracing::warn!(error = %e.chain(), "cannot give back recordings not started"),
        }
        // Not alive from now on: the others' fair share counts without it.
        if let Err(e) = retried(|| self.nodes.leave(&me)).await {
            tracing::warn!(error = %e.chain(), "cannot record that this node stopped; the others see it lost after the lease");
        }
        self.cluster.tell(Signal::Released { by: me }).await;
    }
}

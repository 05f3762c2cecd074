//! The application, built once per process from the adapters: one
//! notifying playback repository, one recorder, one set of use cases (and
//! so one set of per-camera locks) shared by the api and the background
//! tasks.

use crate::{
    notify::{NotifyingPlaybacks, PlaybackEvents},
    push::Push,
    recordings::Recordings,
    retention::Retention,
    service::{RecordingService, ServiceLimits},
};
use std::sync::Arc;
use vigil_domain::{
    capture::Capture,
    ports::{CameraRepo, EventRepo, JobQueue, NodeRepo, ObjectStore, PlaybackRepo, Recorder},
    RecordingTypes, RetentionDays,
};

/// The adapters the application is built on.
#[derive(Debug, Clone)]
pub struct AppPorts {
    pub cameras: Arc<dyn CameraRepo>,
    pub events: Arc<dyn EventRepo>,
    /// The database's; the app wraps it so every status change is published.
    pub playbacks: Arc<dyn PlaybackRepo>,
    pub jobs: Arc<dyn JobQueue>,
    pub store: Arc<dyn ObjectStore>,
    pub capture: Arc<dyn Capture>,
    /// Where news goes (webhooks, MQTT); [`Push::none`] for nowhere.
    pub push: Push,
    /// With several nodes on one database: leases and signals. None: this
    /// node records every camera.
    pub cluster: Option<crate::cluster::Cluster>,
    /// The nodes sharing the database (who is alive to resume a recording).
    pub nodes: Arc<dyn NodeRepo>,
}

#[derive(Debug, Clone)]
pub struct App {
    /// Follows takes, stores clips, recovers; owns the upload workers.
    pub service: RecordingService,
    /// The use cases the api calls.
    pub recordings: Recordings,
    /// Every status change, for `/playbacks/stream`.
    pub playback_events: PlaybackEvents,
    playbacks: Arc<dyn PlaybackRepo>,
    /// The database's own, for relaying other nodes' changes.
    store_playbacks: Arc<dyn PlaybackRepo>,
    pub cluster: Option<crate::cluster::Cluster>,
}

impl App {
    pub fn build(ports: AppPorts, limits: ServiceLimits, recording_types: RecordingTypes) -> Self {
        let playback_events = PlaybackEvents::new();
        let mut notifying =
            NotifyingPlaybacks::new(ports.playbacks.clone(), playback_events.clone())
                .with_push(ports.push.clone());
        if let Some(c) = &ports.cluster {
            notifying = notifying.with_cluster(c.clone());
        }
        let playbacks: Arc<dyn PlaybackRepo> = Arc::new(notifying);
        let streams =
            crate::streams::CameraStreams::new(ports.cameras.clone(), ports.capture.clone());
        let mut service = RecordingService::new(
            ports.capture,
            playbacks.clone(),
            ports.store.clone(),
            ports.jobs,
            limits,
        )
        .with_streams(streams);
        if let Some(c) = &ports.cluster {
            service = service
                .with_cluster(c.clone())
                .with_resume(crate::resume::ResumePorts {
                    cameras: ports.cameras.clone(),
                    events: ports.events.clone(),
                    nodes: ports.nodes.clone(),
                });
        }
        let mut recordings = Recordings::new(
            ports.cameras,
            ports.events,
            playbacks.clone(),
            Arc::new(service.clone()),
            ports.store,
            recording_types,
        )
        .with_push(ports.push);
        if let Some(c) = &ports.cluster {
            recordings = recordings.with_cluster(c.clone());
        }
        Self {
            service,
            recordings,
            playback_events,
            playbacks,
            store_playbacks: ports.playbacks,
            cluster: ports.cluster,
        }
    }

    /// The playback repository that publishes status changes.
    pub fn playbacks(&self) -> Arc<dyn PlaybackRepo> {
        self.playbacks.clone()
    }

    /// What adopting lost nodes' work needs (the heartbeat does it).
    pub fn orphans(&self) -> crate::nodes::Orphans {
        crate::nodes::Orphans {
            playbacks: self.playbacks(),
            service: self.service.clone(),
        }
    }

    /// Publishes here the status changes other nodes make, until `stop`
    /// (none without a cluster).
    pub async fn relay_changes(self, stop: tokio_util::sync::CancellationToken) {
        if let Some(c) = self.cluster.clone() {
            crate::notify::relay(self.store_playbacks, self.playback_events, c, stop).await;
        }
    }

    pub fn recorder(&self) -> Arc<dyn Recorder> {
        self.recordings.recorder.clone()
    }

    /// Retention on the same use cases (and locks) as the api.
    pub fn retention(&self, global: Option<RetentionDays>, max_bytes: Option<u64>) -> Retention {
        Retention {
            flow: self.recordings.clone(),
            global,
            max_bytes,
        }
    }
}

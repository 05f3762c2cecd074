//! The cameras' `stream` objects: what each camera sends and whether it can
//! be reached, written from facts only. A short probe runs when a camera is
//! created or its URL changes; takes report their camera's link (media
//! flowing, refused, unreachable) and each finished clip what it measured;
//! the warm rings' links are sampled with the gauges. Writes are one
//! column, serialized here, and skipped when nothing changed.

use std::{collections::HashMap, sync::Arc};
use time::OffsetDateTime;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use vigil_domain::{
    capture::Capture, ports::CameraRepo, Camera, CameraId, CameraStream, RecordError,
    RecordErrorKind, StreamFacts, StreamState,
};

/// A camera's state and the error that explains it.
type Link = (StreamState, Option<String>);

#[derive(Debug, Clone)]
pub struct CameraStreams {
    cameras: Arc<dyn CameraRepo>,
    capture: Arc<dyn Capture>,
    /// The link last written per camera; held across each read-modify-write
    /// so two reports never interleave.
    written: Arc<tokio::sync::Mutex<HashMap<CameraId, Link>>>,
    /// Probes under way (each bounded by the capture's own deadline).
    probes: TaskTracker,
    /// Probes admitted (running or waiting), and those running: a burst
    /// of camera creations must not start a burst of ffprobes.
    admitted: Arc<tokio::sync::Semaphore>,
    running: Arc<tokio::sync::Semaphore>,
}

/// Probes waiting or running at most; beyond, a camera's stream is left to
/// its first recording.
const PROBES_ADMITTED: usize = 32;
/// Probes running at once.
const PROBES_RUNNING: usize = 4;

impl CameraStreams {
    pub fn new(cameras: Arc<dyn CameraRepo>, capture: Arc<dyn Capture>) -> Self {
        Self {
            cameras,
            capture,
            written: Arc::default(),
            probes: TaskTracker::new(),
            admitted: Arc::new(tokio::sync::Semaphore::new(PROBES_ADMITTED)),
            running: Arc::new(tokio::sync::Semaphore::new(PROBES_RUNNING)),
        }
    }

    /// Probes `camera` in the background: `connecting` at once, then what
    /// the probe found.
    pub fn check(&self, camera: &Camera) {
        let Ok(admitted) = self.admitted.clone().try_acquire_owned() else {
            tracing::warn!(camera_id = %camera.id, "too many camera probes waiting; this one is left to the first recording");
            return;
        };
        let me = self.clone();
        let id = camera.id;
        let span = tracing::info_span!("stream_probe", camera_id = %id);
        self.probes.spawn(
            async move {
                let _admitted = admitted;
                me.update(id, |s| {
                    s.state = StreamState::Connecting;
                })
                .await;
                let Ok(_running) = me.running.acquire().await else {
                    return;
                };
                // Read again: the URL may have changed, or the camera gone,
                // while the probe waited its turn.
                let camera = match me.cameras.get(id).await {
                    Ok(Some(c)) => c,
                    _ => return,
                };
                let result = me.capture.probe_stream(&camera).await;
                match &result {
                    Ok(f) => tracing::info!(
                        video = ?f.video_codec, audio = ?f.audio_codec, keyframe_interval_sec = ?f.keyframe_interval_sec,
                        "camera stream probed"
                    ),
                    Err(e) => tracing::warn!(error = %e, "camera stream probe failed"),
                }
                me.update(id, |s| match result {
                    Ok(facts) => {
                        // A probe that saw too few keyframes keeps what an
                        // earlier, longer look (a clip) measured.
                        let keyframes = facts.keyframe_interval_sec.or(s.facts.keyframe_interval_sec);
                        s.facts = StreamFacts {
                            keyframe_interval_sec: keyframes,
                            ..facts
                        };
                        s.state = StreamState::Connected;
                        s.last_error = None;
                    }
                    Err(e) => {
                        s.state = if e.kind() == RecordErrorKind::Refused {
                            StreamState::Unauthorized
                        } else {
                            StreamState::Offline
                        };
                        s.last_error = Some(e.to_string());
                    }
                })
                .await;
            }
            .instrument(span),
        );
    }

    /// The camera's media is flowing (a take started).
    pub async fn connected(&self, camera: CameraId) {
        self.link(camera, StreamState::Connected, None).await;
    }

    /// The camera dropped during a take (a reconnect follows).
    pub async fn offline(&self, camera: CameraId, reason: String) {
        self.link(camera, StreamState::Offline, Some(reason)).await;
    }

    /// A take of the camera could not record: when the camera refused or
    /// could not be reached, its stream says so.
    pub async fn take_failed(&self, camera: CameraId, e: &RecordError) {
        let state = match e.kind() {
            RecordErrorKind::Refused => StreamState::Unauthorized,
            RecordErrorKind::CameraUnreachable => StreamState::Offline,
            _ => return,
        };
        self.link(camera, state, Some(e.to_string())).await;
    }

    /// What a finished clip showed of the camera's stream. The audio codec
    /// is the probe's (the clip holds the AAC it was re-encoded to).
    pub async fn clip(&self, camera: CameraId, facts: Option<StreamFacts>) {
        self.update(camera, |s| {
            s.state = StreamState::Connected;
            s.last_error = None;
            if let Some(f) = facts {
                s.facts = StreamFacts {
                    audio_codec: s.facts.audio_codec.take().or(f.audio_codec),
                    keyframe_interval_sec: f
                        .keyframe_interval_sec
                        .or(s.facts.keyframe_interval_sec),
                    fps: f.fps.or(s.facts.fps),
                    ..f
                };
            }
        })
        .await;
    }

    /// Writes the warm rings' links that changed.
    pub async fn sync_warm(&self) {
        for link in self.capture.warm_links() {
            self.link(link.camera, link.state, link.error).await;
        }
    }

    async fn link(&self, camera: CameraId, state: StreamState, error: Option<String>) {
        {
            let written = self.written.lock().await;
            if written.get(&camera) == Some(&(state, error.clone())) {
                return;
            }
        }
        self.update(camera, |s| {
            s.state = state;
            if error.is_some() || state == StreamState::Connected {
                s.last_error = error;
            }
        })
        .await;
    }

    /// Read, change and write one camera's stream; `checked_at` is now.
    async fn update(&self, camera: CameraId, change: impl FnOnce(&mut CameraStream)) {
        let mut written = self.written.lock().await;
        let mut stream = match self.cameras.get(camera).await {
            Ok(Some(c)) => c.stream,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(camera_id = %camera, error = %e.chain(), "cannot read the camera's stream");
                return;
            }
        };
        change(&mut stream);
        stream.checked_at = Some(OffsetDateTime::now_utc());
        match self.cameras.set_stream(camera, &stream).await {
            Ok(()) => {
                written.insert(camera, (stream.state, stream.last_error.clone()));
            }
            Err(e) => {
                tracing::warn!(camera_id = %camera, error = %e.chain(), "cannot store the camera's stream")
            }
        }
    }
}

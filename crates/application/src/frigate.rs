//! Frigate's events as triggers (`MQTT_FRIGATE_TOPIC`, Frigate publishes on
//! `frigate/events`): a `new` message starts recording the Vigil camera
//! whose name is Frigate's `after.camera`, an `end` ends it. One Frigate
//! event is one Vigil event: Frigate's id is the event's `externalId`, so
//! `update` (and a repeated `new`) adds nothing. The label and score go
//! into the description; Frigate's `start_time` is the event's
//! `occurredAt`, so a warm camera's clip has its pre-roll from before the
//! detection. Unknown cameras and malformed messages are counted
//! (`vigil_frigate_messages_total`) and logged once each; none stops
//! anything.

use crate::recordings::Recordings;
use serde::Deserialize;
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};
use time::OffsetDateTime;
use vigil_domain::{Camera, EventType, NewEvent};

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    after: After,
}

#[derive(Debug, Deserialize)]
struct After {
    id: String,
    camera: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    top_score: Option<f64>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    start_time: Option<f64>,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Started,
    /// An `update`, or a `new` seen before: nothing new.
    Repeated,
    Ended,
    UnknownCamera,
    /// An `end` for an event never started here.
    UnknownEvent,
    Malformed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Repeated => "repeated",
            Self::Ended => "ended",
            Self::UnknownCamera => "unknown_camera",
            Self::UnknownEvent => "unknown_event",
            Self::Malformed => "malformed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Frigate {
    flow: Recordings,
    /// What was already logged, so a chatty misconfiguration logs once.
    logged: Arc<Mutex<HashSet<String>>>,
}

impl Frigate {
    pub fn new(flow: Recordings) -> Self {
        Self {
            flow,
            logged: Arc::default(),
        }
    }

    /// Handles messages in order until the sender goes.
    pub async fn run(self, mut messages: tokio::sync::mpsc::Receiver<Vec<u8>>) {
        while let Some(m) = messages.recv().await {
            self.handle(&m).await;
        }
    }

    pub async fn handle(&self, payload: &[u8]) -> Outcome {
        let outcome = self.outcome(payload).await;
        crate::telemetry::frigate(outcome.label());
        outcome
    }

    fn once(&self, key: String, log: impl FnOnce()) {
        if crate::service::lock(&self.logged).insert(key) {
            log();
        }
    }

    async fn outcome(&self, payload: &[u8]) -> Outcome {
        let m: Message = match serde_json::from_slice(payload) {
            Ok(m) => m,
            Err(e) => {
                self.once(format!("malformed:{}", e.classify() as u8), || {
                    tracing::warn!(error = %e, "a Frigate message that is not an event was ignored (logged once)")
                });
                return Outcome::Malformed;
            }
        };
        let Ok(external) = NewEvent::parse_external_id(&m.after.id) else {
            self.once("bad id".into(), || {
                tracing::warn!("a Frigate event with an unusable id was ignored (logged once)")
            });
            return Outcome::Malformed;
        };
        let camera = match self.camera_named(&m.after.camera).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                self.once(format!("camera:{}", m.after.camera), || {
                    tracing::warn!(frigate_camera = %m.after.camera, "a Frigate event names no Vigil camera (logged once per name)")
                });
                return Outcome::UnknownCamera;
            }
            Err(e) => {
                tracing::warn!(error = %e.chain(), "cannot read the cameras for a Frigate event");
                return Outcome::UnknownCamera;
            }
        };
        match m.kind.as_str() {
            "new" | "update" => self.start(&m.after, external, &camera).await,
            "end" => self.end(&external, &camera).await,
            _ => {
                self.once(format!("type:{}", m.kind), || {
                    tracing::warn!(kind = %m.kind, "a Frigate message of an unknown type was ignored (logged once)")
                });
                Outcome::Malformed
            }
        }
    }

    async fn start(&self, after: &After, external: String, camera: &Camera) -> Outcome {
        let score = after.top_score.or(after.score);
        let description = match (&after.label, score) {
            (Some(l), Some(s)) => format!("Frigate: {l} ({:.0}%)", s * 100.0),
            (Some(l), None) => format!("Frigate: {l}"),
            _ => "Frigate detection".to_owned(),
        };
        let now = OffsetDateTime::now_utc();
        let occurred_at = after
            .start_time
            .filter(|t| t.is_finite())
            .and_then(|t| OffsetDateTime::from_unix_timestamp_nanos((t * 1e9) as i128).ok())
            .and_then(|t| NewEvent::parse_occurred_at(t, now).ok());
        let new = NewEvent {
            camera_id: camera.id,
            event_type: EventType::Motion,
            description: Some(description),
            n_channel_id: None,
            occurred_at,
            group_id: None,
            external_id: Some(external),
            pre_roll: None,
            post_roll: None,
        };
        match self.flow.create_event(new).await {
            Ok(p) if p.created => {
                tracing::info!(event_id = %p.event.id, camera_id = %camera.id, "Frigate event recorded");
                Outcome::Started
            }
            Ok(_) => Outcome::Repeated,
            Err(e) => {
                tracing::warn!(camera_id = %camera.id, error = %e.chain(), "cannot record a Frigate event");
                Outcome::UnknownEvent
            }
        }
    }

    async fn end(&self, external: &str, camera: &Camera) -> Outcome {
        let found = match self.flow.events.find_external(camera.id, external).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e.chain(), "cannot find a Frigate event");
                return Outcome::UnknownEvent;
            }
        };
        let Some(event) = found else {
            return Outcome::UnknownEvent;
        };
        match self.flow.end_event(event.id).await {
            Ok(_) => Outcome::Ended,
            Err(e) => {
                tracing::warn!(event_id = %event.id, error = %e.chain(), "cannot end a Frigate event");
                Outcome::UnknownEvent
            }
        }
    }

    async fn camera_named(&self, name: &str) -> Result<Option<Camera>, vigil_domain::Error> {
        let all = crate::cameras::all_cameras(self.flow.cameras.as_ref()).await?;
        Ok(all.into_iter().find(|c| c.name.as_str() == name))
    }
}

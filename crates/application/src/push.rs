//! News pushed out as it happens: playback status changes (RECORDING,
//! COMPLETED, FAILED) and events created or ended. Each is rendered once,
//! as the API shows it, then queued durably for every webhook that wants
//! it (a row per delivery, written before the change is acknowledged) and
//! handed to live sinks (MQTT), which keep no queue of their own.

use async_trait::async_trait;
use std::{fmt::Debug, sync::Arc};
use time::OffsetDateTime;
use vigil_domain::{ports::WebhookRepo, Delivery, Event, Playback, PlaybackId, PushKind, Webhook};

/// Renders what is pushed the way the API shows it (the api implements it:
/// its views are the one source of the JSON).
#[async_trait]
pub trait Render: Send + Sync + Debug {
    async fn playback(&self, p: Playback) -> serde_json::Value;
    fn event(&self, e: Event) -> serde_json::Value;
}

/// What a live sink is given.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub kind: PushKind,
    /// `playbacks` or `events`, and the id: where it is about.
    pub subject: (&'static str, uuid::Uuid),
    pub data: serde_json::Value,
}

/// Told of each piece of news at once, without waiting (MQTT).
pub trait LiveSink: Send + Sync + Debug {
    fn publish(&self, news: &Pushed);
}

/// Fans news out; cheap to clone. [`Push::none`] pushes nothing.
#[derive(Debug, Clone)]
pub struct Push {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    webhooks: Arc<dyn WebhookRepo>,
    render: Arc<dyn Render>,
    sinks: Vec<Arc<dyn LiveSink>>,
    /// Wakes the deliverer when something is queued.
    wake: Arc<tokio::sync::Notify>,
}

impl Push {
    pub fn none() -> Self {
        Self { inner: None }
    }

    pub fn new(
        webhooks: Arc<dyn WebhookRepo>,
        render: Arc<dyn Render>,
        sinks: Vec<Arc<dyn LiveSink>>,
    ) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                webhooks,
                render,
                sinks,
                wake: Arc::default(),
            })),
        }
    }

    /// The notification the deliverer waits on.
    pub(crate) fn wake_handle(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.inner.as_ref().map(|i| i.wake.clone())
    }

    /// A playback's status changed to `p.status`.
    pub async fn playback(&self, p: &Playback) {
        let (Some(inner), Some(kind)) = (&self.inner, PushKind::of_status(p.status)) else {
            return;
        };
        let Some(hooks) = inner.listeners(kind).await else {
            return;
        };
        let data = inner.render.playback(p.clone()).await;
        inner
            .fan_out(kind, ("playbacks", p.id.as_uuid()), Some(p.id), data, hooks)
            .await;
    }

    /// An event was created or ended.
    pub async fn event(&self, kind: PushKind, e: &Event) {
        let Some(inner) = &self.inner else {
            return;
        };
        let Some(hooks) = inner.listeners(kind).await else {
            return;
        };
        let data = inner.render.event(e.clone());
        inner
            .fan_out(kind, ("events", e.id.as_uuid()), e.playback_id, data, hooks)
            .await;
    }
}

impl Inner {
    /// The webhooks that want `kind`; None when nobody at all listens (no
    /// such webhook, no live sink), so nothing need be rendered.
    async fn listeners(&self, kind: PushKind) -> Option<Vec<Webhook>> {
        let hooks: Vec<Webhook> = match self.webhooks.all().await {
            Ok(h) => h.into_iter().filter(|h| h.wants(kind)).collect(),
            Err(e) => {
                tracing::error!(kind = kind.as_str(), error = %e.chain(), "cannot read the webhooks; this news is not delivered to them");
                Vec::new()
            }
        };
        (!hooks.is_empty() || !self.sinks.is_empty()).then_some(hooks)
    }

    async fn fan_out(
        &self,
        kind: PushKind,
        subject: (&'static str, uuid::Uuid),
        playback: Option<PlaybackId>,
        data: serde_json::Value,
        hooks: Vec<Webhook>,
    ) {
        let news = Pushed {
            kind,
            subject,
            data,
        };
        for sink in &self.sinks {
            sink.publish(&news);
        }
        let mut queued = false;
        for hook in &hooks {
            let d = delivery(hook, kind, playback, &news.data);
            match self.webhooks.enqueue(d).await {
                Ok(()) => queued = true,
                Err(e) => {
                    tracing::error!(webhook_id = %hook.id, kind = kind.as_str(), error = %e.chain(), "cannot queue a webhook delivery")
                }
            }
        }
        if queued {
            self.wake.notify_one();
        }
    }
}

impl Push {
    /// Queues a `ping` for `hook`; returns the delivery's id.
    pub async fn ping(&self, hook: &Webhook) -> Result<uuid::Uuid, vigil_domain::Error> {
        let Some(inner) = &self.inner else {
            return Err(vigil_domain::Error::unavailable("webhooks are not set up"));
        };
        let data = serde_json::json!({"webhookId": hook.id, "url": hook.url});
        let d = delivery(hook, PushKind::Ping, None, &data);
        let id = d.id;
        inner.webhooks.enqueue(d).await?;
        inner.wake.notify_one();
        Ok(id)
    }
}

/// A delivery of `data` to `hook`: the body `{id, type, createdAt, data}`.
fn delivery(
    hook: &Webhook,
    kind: PushKind,
    playback: Option<PlaybackId>,
    data: &serde_json::Value,
) -> Delivery {
    let id = uuid::Uuid::new_v4();
    let now = OffsetDateTime::now_utc();
    let created = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let body = serde_json::json!({
        "id": id,
        "type": kind.as_str(),
        "createdAt": created,
        "data": data,
    });
    Delivery {
        id,
        webhook_id: hook.id,
        kind,
        playback_id: playback,
        body: body.to_string(),
        attempts: 0,
        created_at: now,
    }
}

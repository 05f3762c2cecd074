//! Webhooks: creating them (the URL checked against private targets, a
//! secret made and shown once) and delivering what [`Push`](crate::push)
//! queued. Deliveries are claimed from the durable queue with a lease,
//! signed (`Vigil-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>`, Stripe's scheme), POSTed, and retried with backoff
//! until a 2xx or 24 h; every attempt is kept for `GET
//! /webhooks/{id}/deliveries`.

use crate::push::Push;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::{sync::Arc, time::Duration};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use vigil_domain::{
    ports::{WebhookRepo, WebhookSender},
    Attempt, Delivery, Error, NewWebhook, PushKind, Webhook,
};

/// How long a claimed delivery is held: beyond the 10 s send deadline, so
/// a live server never sees its own delivery come due again.
const LEASE: Duration = Duration::from_secs(60);
/// Deliveries claimed (and sent concurrently) at once.
const BATCH: u64 = 16;
/// How often the queue is looked at without a wake-up (retries coming due,
/// news queued by another server).
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Webhooks {
    pub repo: Arc<dyn WebhookRepo>,
    pub sender: Arc<dyn WebhookSender>,
    pub push: Push,
    /// The wait after a first failed attempt (`WEBHOOK_RETRY_SECONDS`,
    /// 10 s); each next wait is three times longer, up to an hour.
    pub first_retry: Duration,
}

/// The signature header's value for `body` at unix time `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    // An HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhooks {
    /// Stores a webhook for `url` once its host is found reachable
    /// (not private, unless allowed); its secret is in the answer only.
    pub async fn create(
        &self,
        url: String,
        events: Vec<PushKind>,
        description: Option<String>,
    ) -> Result<Webhook, Error> {
        self.sender
            .check(&url)
            .await
            .map_err(|e| Error::invalid_field("url", e))?;
        let mut key = [0u8; 24];
        rand::rng().fill_bytes(&mut key);
        let hook = self
            .repo
            .create(NewWebhook {
                url,
                events,
                description,
                secret: format!("whsec_{}", hex::encode(key)),
            })
            .await?;
        tracing::info!(webhook_id = %hook.id, "webhook created");
        Ok(hook)
    }

    /// Delivers until `stop`: claims due deliveries, sends them, records
    /// each attempt. What is left when it stops stays queued (its lease
    /// runs out and the next start, or another server, sends it).
    pub async fn deliver(self, stop: CancellationToken) {
        let wake = self.push.wake_handle().unwrap_or_default();
        loop {
            let due = match self.repo.claim_due(LEASE, BATCH).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "cannot read the webhook queue; trying again");
                    Vec::new()
                }
            };
            if due.is_empty() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            let sends = due.into_iter().map(|d| self.send(d));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = futures_util::future::join_all(sends) => {}
            }
        }
    }

    fn first_retry(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.first_retry.as_secs()).unwrap_or(10))
    }

    async fn send(&self, d: Delivery) {
        let span = tracing::info_span!("webhook delivery", delivery_id = %d.id, webhook_id = %d.webhook_id);
        let id = d.id;
        if let Err(e) = tracing::Instrument::instrument(self.send_in_span(d), span).await {
            // The lease runs out and the delivery is tried again.
            tracing::warn!(delivery_id = %id, error = %e.chain(), "cannot record a webhook attempt; it will be sent again");
        }
    }

    async fn send_in_span(&self, d: Delivery) -> Result<(), Error> {
        // Deleted meanwhile: its deliveries went with it.
        let Some(hook) = self.repo.get(d.webhook_id).await? else {
            return Ok(());
        };
        let attempt = d.attempts + 1;
        // Checked again at each delivery: a name can change address.
        let result = match self.sender.check(&hook.url).await {
            Err(e) => Err(e),
            Ok(()) => {
                let t = OffsetDateTime::now_utc().unix_timestamp();
                let headers = vec![
                    ("Vigil-Event", d.kind.as_str().to_owned()),
                    ("Vigil-Delivery", d.id.to_string()),
                    ("Vigil-Signature", signature(&hook.secret, t, &d.body)),
                ];
                self.sender.post(&hook.url, headers, d.body.clone()).await
            }
        };
        let now = OffsetDateTime::now_utc();
        let (status_code, error) = match result {
            Ok(code) if (200..300).contains(&code) => (Some(code), None),
            Ok(code) => (Some(code), Some(format!("the receiver answered {code}"))),
            Err(e) => (None, Some(e)),
        };
        let a = Attempt {
            delivery_id: d.id,
            kind: d.kind,
            playback_id: d.playback_id,
            attempt,
            status_code,
            error,
            at: now,
        };
        let retry_at = if a.succeeded() {
            tracing::info!(attempt, status = ?status_code, kind = d.kind.as_str(), "webhook delivered");
            None
        } else {
            let next = now + Delivery::backoff(attempt, self.first_retry());
            if next - d.created_at > Delivery::GIVE_UP_AFTER {
                tracing::warn!(attempt, error = ?a.error, "webhook delivery given up after 24 h");
                None
            } else {
                tracing::info!(attempt, error = ?a.error, retry_in_s = Delivery::backoff(attempt, self.first_retry()).whole_seconds(), "webhook delivery failed; retrying");
                Some(next)
            }
        };
        self.repo.record(hook.id, a, retry_at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheme's reference: HMAC-SHA256 of "<t>.<body>" keyed with the
    /// secret, as `printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256
    /// -hmac whsec_test` gives.
    #[test]
    fn the_signature_is_hmac_sha256_of_t_dot_body() {
        assert_eq!(
            signature("whsec_test", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}

//! MQTT (`MQTT_URL`): news is published as JSON, QoS 1, on
//! `{prefix}/playbacks/{id}` and `{prefix}/events/{id}`; availability is
//! `online`/`offline` on `{prefix}/status` (retained, `offline` also the
//! last will, so a crash says so too). The client reconnects by itself,
//! with backoff. With a Frigate topic, the messages on it are handed on
//! (in order) to whoever listens.

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, Transport};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigil_application::{LiveSink, Pushed};

/// Where and how to connect; parsed from `MQTT_URL`.
#[derive(Clone)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub credentials: Option<(String, String)>,
    /// `MQTT_TOPIC_PREFIX`, default `vigil`.
    pub prefix: String,
    /// `MQTT_FRIGATE_TOPIC`: subscribed to when set.
    pub frigate_topic: Option<String>,
    pub client_id: String,
}

impl std::fmt::Debug for MqttConfig {
    // The password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &self.masked())
            .field("prefix", &self.prefix)
            .field("frigate_topic", &self.frigate_topic)
            .finish()
    }
}

impl MqttConfig {
    /// `mqtt://[user[:password]@]host[:port]` (1883) or `mqtts://…` (8883).
    pub fn parse(raw: &str, prefix: &str, frigate_topic: Option<String>) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|_| "must be mqtt://host[:port] or mqtts://…")?;
        let tls = match url.scheme() {
            "mqtt" => false,
            "mqtts" => true,
            _ => return Err("must be an mqtt:// or mqtts:// URL".into()),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("needs a host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let decode = |s: &str| {
            url::form_urlencoded::parse(s.as_bytes())
                .map(|(k, v)| format!("{k}{v}"))
                .collect::<String>()
        };
        let credentials = (!url.username().is_empty()).then(|| {
            (
                decode(url.username()),
                url.password().map(decode).unwrap_or_default(),
            )
        });
        if prefix.is_empty() || prefix.contains(['+', '#']) {
            return Err("MQTT_TOPIC_PREFIX must be a topic without wildcards".into());
        }
        Ok(Self {
            host,
            port: url.port().unwrap_or(if tls { 8883 } else { 1883 }),
            tls,
            credentials,
            prefix: prefix.trim_end_matches('/').to_owned(),
            frigate_topic,
            client_id: format!("vigil-{}", uuid_suffix()),
        })
    }

    /// The broker's URL with the password masked, for logs.
    pub fn masked(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        let user = match &self.credentials {
            Some((u, _)) => format!("{u}:***@"),
            None => String::new(),
        };
        format!("{scheme}://{user}{}:{}", self.host, self.port)
    }

    fn status_topic(&self) -> String {
        format!("{}/status", self.prefix)
    }
}

fn uuid_suffix() -> String {
    // Process id and time: unique enough per broker, with no extra crate.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), t & 0xffff_ffff)
}

/// Publishes news; cheap to clone.
#[derive(Debug, Clone)]
pub struct MqttSink {
    client: AsyncClient,
    prefix: String,
}

impl LiveSink for MqttSink {
    fn publish(&self, news: &Pushed) {
        let (what, id) = news.subject;
        let topic = format!("{}/{what}/{id}", self.prefix);
        let payload =
            serde_json::json!({"type": news.kind.as_str(), "data": news.data}).to_string();
        // Never waits: a broker that is away for long loses the oldest
        // news rather than hold a status change up.
        if let Err(e) = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
        {
            tracing::warn!(error = %e, kind = news.kind.as_str(), "MQTT queue full; news not published");
        }
    }
}

/// Connects (in the background, again and again when the broker goes):
/// the sink to publish with, and the task to own. Frigate's messages, when
/// a topic is set, arrive on `frigate`.
pub fn start(
    cfg: MqttConfig,
    frigate: Option<mpsc::Sender<Vec<u8>>>,
    stop: CancellationToken,
) -> (MqttSink, impl std::future::Future<Output = ()> + Send) {
    let mut opts = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    opts.set_keep_alive(Duration::from_secs(15));
    opts.set_last_will(LastWill::new(
        cfg.status_topic(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some((u, p)) = &cfg.credentials {
        opts.set_credentials(u.clone(), p.clone());
    }
    if cfg.tls {
        opts.set_transport(Transport::tls_with_default_config());
    }
    let (client, eventloop) = AsyncClient::new(opts, 1024);
    let sink = MqttSink {
        client: client.clone(),
        prefix: cfg.prefix.clone(),
    };
    (sink, run(cfg, client, eventloop, frigate, stop))
}

async fn run(
    cfg: MqttConfig,
    client: AsyncClient,
    mut eventloop: rumqttc::EventLoop,
    frigate: Option<mpsc::Sender<Vec<u8>>>,
    stop: CancellationToken,
) {
    let broker = cfg.masked();
    let mut backoff = Duration::from_millis(500);
    let mut connected = false;
    loop {
        let polled = tokio::select! {
            _ = stop.cancelled() => break,
            p = eventloop.poll() => p,
        };
        match polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                backoff = Duration::from_millis(500);
                tracing::info!(%broker, "MQTT connected");
                let _ = client.try_publish(cfg.status_topic(), QoS::AtLeastOnce, true, "online");
                if let Some(topic) = &cfg.frigate_topic {
                    if let Err(e) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                        tracing::warn!(error = %e, "cannot subscribe to the Frigate topic");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if let (Some(tx), Some(topic)) = (&frigate, &cfg.frigate_topic) {
                    if &p.topic == topic && tx.send(p.payload.to_vec()).await.is_err() {
                        tracing::warn!("nobody handles Frigate's messages any more");
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                if std::mem::take(&mut connected) || backoff == Duration::from_millis(500) {
                    tracing::warn!(%broker, error = %e, "MQTT connection lost; reconnecting with backoff");
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    // A clean goodbye: `offline`, then the disconnect, flushed by polling
    // a little longer (the will covers what does not make it).
    if connected {
        let _ = client.try_publish(cfg.status_topic(), QoS::AtLeastOnce, true, "offline");
        let _ = client.try_disconnect();
        let flush = async {
            while let Ok(ev) = eventloop.poll().await {
                if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
    }
    tracing::info!(%broker, "MQTT stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_tls_and_credentials() {
        let c = MqttConfig::parse("mqtt://vigil:p%40ss@broker.lan", "vigil", None).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("broker.lan", 1883, false)
        );
        assert_eq!(c.credentials, Some(("vigil".into(), "p@ss".into())));
        assert_eq!(c.masked(), "mqtt://vigil:***@broker.lan:1883");
        assert!(!format!("{c:?}").contains("p@ss"));
        let c = MqttConfig::parse("mqtts://[::1]:8884", "site/a/", None).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.tls), ("::1", 8884, true));
        assert_eq!(c.status_topic(), "site/a/status");
        for bad in ["http://broker", "mqtt://", "broker:1883"] {
            assert!(MqttConfig::parse(bad, "vigil", None).is_err(), "{bad}");
        }
        assert!(MqttConfig::parse("mqtt://b", "a/#", None).is_err());
    }
}

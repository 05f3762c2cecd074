//! Webhooks: a receiver's URL and the kinds of news it wants, each
//! delivered as a signed POST, durably and at least once (retried with
//! backoff for a day, across restarts).

use crate::{PlaybackId, WebhookId};
use time::{Duration, OffsetDateTime};

/// What a webhook can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushKind {
    EventCreated,
    EventEnded,
    PlaybackRecording,
    PlaybackCompleted,
    PlaybackFailed,
    /// `POST /webhooks/{id}/ping`; not subscribable, always sent.
    Ping,
}

impl PushKind {
    /// The kinds a webhook may subscribe to, in the contract's order.
    pub const SUBSCRIBABLE: [PushKind; 5] = [
        Self::EventCreated,
        Self::EventEnded,
        Self::PlaybackRecording,
        Self::PlaybackCompleted,
        Self::PlaybackFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventCreated => "event.created",
            Self::EventEnded => "event.ended",
            Self::PlaybackRecording => "playback.recording",
            Self::PlaybackCompleted => "playback.completed",
            Self::PlaybackFailed => "playback.failed",
            Self::Ping => "ping",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([Self::Ping])
            .find(|k| k.as_str() == raw)
    }

    /// The news a playback status change is, if any.
    pub fn of_status(status: crate::RecordingStatus) -> Option<Self> {
        use crate::RecordingStatus::*;
        match status {
            Recording => Some(Self::PlaybackRecording),
            Completed => Some(Self::PlaybackCompleted),
            Failed => Some(Self::PlaybackFailed),
            Pending | Processing => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub events: Vec<PushKind>,
    pub description: Option<String>,
    /// Signs every delivery; shown to the client once, at creation.
    pub secret: String,
    pub created_at: OffsetDateTime,
}

/// What a webhook URL may be, for the server and (the same text, a test
/// keeps it so) for the OpenAPI document: `http(s)://host[:port][/path]
/// [?query]`, the host a name whose last label starts with a letter, a
/// dotted IPv4 address or a bracketed IPv6 one; no credentials, no
/// fragment, printable ASCII.
pub const WEBHOOK_URL_PATTERN: &str = concat!(
    r"^https?://(?:",
    crate::ipv6_literal!(),
    r"|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r")",
    crate::port!(),
    r"(?:[/?][\x21-\x22\x24-\x7E]*)?$",
);

static URL_GRAMMAR: std::sync::LazyLock<Option<regex_lite::Regex>> =
    std::sync::LazyLock::new(|| regex_lite::Regex::new(WEBHOOK_URL_PATTERN).ok());

impl Webhook {
    pub const MAX_URL: usize = 2048;
    pub const MAX_DESCRIPTION: usize = 500;

    pub fn wants(&self, kind: PushKind) -> bool {
        kind == PushKind::Ping || self.events.contains(&kind)
    }

    /// A URL of [`WEBHOOK_URL_PATTERN`]; whether the host may be reached
    /// is the sender's check.
    pub fn parse_url(raw: &str) -> Result<String, String> {
        if raw.len() > Self::MAX_URL || !URL_GRAMMAR.as_ref().is_some_and(|g| g.is_match(raw)) {
            return Err(
                "url must be http(s)://host[:port][/path][?query], without credentials or fragment"
                    .into(),
            );
        }
        Ok(raw.to_owned())
    }

    /// Distinct known kinds, at least one; none given: all of them.
    pub fn parse_events(raw: Option<&[String]>) -> Result<Vec<PushKind>, String> {
        let Some(raw) = raw else {
            return Ok(PushKind::SUBSCRIBABLE.to_vec());
        };
        let names = || PushKind::SUBSCRIBABLE.map(PushKind::as_str).join(", ");
        if raw.is_empty() {
            return Err(format!("events must name at least one of {}", names()));
        }
        let mut kinds = Vec::new();
        for r in raw {
            let k = PushKind::parse(r)
                .filter(|k| *k != PushKind::Ping)
                .ok_or_else(|| format!("events must be among {}", names()))?;
            if kinds.contains(&k) {
                return Err(format!("events names {r} twice"));
            }
            kinds.push(k);
        }
        Ok(kinds)
    }
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<PushKind>,
    pub description: Option<String>,
    pub secret: String,
}

/// One piece of news for one webhook, tried until its receiver takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Also the body's `id` and the `Vigil-Delivery` header: the same on
    /// every retry, so receivers can drop repeats.
    pub id: uuid::Uuid,
    pub webhook_id: WebhookId,
    pub kind: PushKind,
    pub playback_id: Option<PlaybackId>,
    /// The JSON body, as rendered when the news happened.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: OffsetDateTime,
}

impl Delivery {
    /// How long a delivery is retried before it is given up.
    pub const GIVE_UP_AFTER: Duration = Duration::hours(24);
    /// How long a receiver may take to answer.
    pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

    /// The wait before attempt `attempts + 1`: `first` after the first
    /// failure (10 s by default), then growing ×3 up to an hour.
    pub fn backoff(attempts: u32, first: Duration) -> Duration {
        let grown = 3i64.saturating_pow(attempts.saturating_sub(1).min(20));
        let s = first.whole_seconds().max(1).saturating_mul(grown);
        Duration::seconds(s.min(3600))
    }
}

/// What one attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: uuid::Uuid,
    pub kind: PushKind,
    pub playback_id: Option<PlaybackId>,
    /// 1 for the first try.
    pub attempt: u32,
    /// The receiver's answer; none when it gave none (refused, timed out).
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub at: OffsetDateTime,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_with_a_host() {
        assert!(Webhook::parse_url("https://hooks.example.com/vigil?x=1").is_ok());
        assert!(Webhook::parse_url("http://10.0.0.5:8123/api/webhook/abc").is_ok());
        assert!(Webhook::parse_url("http://[fd00::1]:80/x?a=b@c").is_ok());
        for bad in [
            "http://a_b/",
            "http://999/",
            "http://1.2.3.4.5/",
            "http://[::ffff:1.2.3.4]/",
            "http://host:70000/",
            "HTTP://example.com/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://",
            "http:///x",
            "https://user:pw@example.com/",
            "http://example.com/#frag",
            "http://exa mple.com/",
            "example.com",
        ] {
            assert!(Webhook::parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_are_known_and_distinct() {
        assert_eq!(Webhook::parse_events(None).unwrap().len(), 5);
        let one = Webhook::parse_events(Some(&["playback.completed".into()])).unwrap();
        assert_eq!(one, vec![PushKind::PlaybackCompleted]);
        assert!(Webhook::parse_events(Some(&[])).is_err());
        assert!(Webhook::parse_events(Some(&["ping".into()])).is_err());
        assert!(
            Webhook::parse_events(Some(&["event.created".into(), "event.created".into()])).is_err()
        );
        assert!(Webhook::parse_events(Some(&["playback.deleted".into()])).is_err());
    }

    #[test]
    fn backoff_grows_to_an_hour() {
        let first = Duration::seconds(10);
        assert_eq!(Delivery::backoff(1, first), Duration::seconds(10));
        assert_eq!(Delivery::backoff(2, first), Duration::seconds(30));
        assert_eq!(Delivery::backoff(3, first), Duration::seconds(90));
        assert_eq!(Delivery::backoff(40, first), Duration::hours(1));
        assert_eq!(
            Delivery::backoff(2, Duration::seconds(1)),
            Duration::seconds(3)
        );
    }
}

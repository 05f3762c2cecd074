//! An event: something happened on a camera. It is stored even when its
//! recording can't start (graceful degradation, as in the seed).

use crate::{CameraId, EventId, EventType, PlaybackId, RollSeconds};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub camera_id: CameraId,
    /// The camera's name when read, for `camera: {id, name}` in responses.
    pub camera_name: String,
    pub event_type: EventType,
    pub description: Option<String>,
    pub n_channel_id: Option<i32>,
    pub playback_id: Option<PlaybackId>,
    /// When the detector saw it, when it said so (before `created_at`).
    pub occurred_at: Option<OffsetDateTime>,
    /// Shared by the events one trigger made on several cameras.
    pub group_id: Option<uuid::Uuid>,
    /// The detector's own id for it (`externalId`), unique per camera.
    pub external_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub camera_id: CameraId,
    pub event_type: EventType,
    pub description: Option<String>,
    pub n_channel_id: Option<i32>,
    /// When the detector saw it (a late or retried trigger).
    pub occurred_at: Option<OffsetDateTime>,
    pub group_id: Option<uuid::Uuid>,
    /// The detector's own id: a second event with it on the same camera is
    /// the first one again (detectors retry).
    pub external_id: Option<String>,
    /// This event's window, instead of the camera's.
    pub pre_roll: Option<RollSeconds>,
    pub post_roll: Option<RollSeconds>,
}

impl NewEvent {
    pub const MAX_DESCRIPTION: usize = 2000;
    /// How far back `occurredAt` may be: older than this is a mistake (a
    /// clock, a unit), not a late detector.
    pub const MAX_AGE: time::Duration = time::Duration::hours(24);
    /// Clock skew tolerated between a detector and the server.
    pub const SKEW: time::Duration = time::Duration::seconds(5);

    /// A detector's `occurredAt` at `now`: not in the future (beyond the
    /// skew) and not beyond [`Self::MAX_AGE`]; a time slightly ahead is now.
    pub fn parse_occurred_at(
        at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, String> {
        if at > now + Self::SKEW {
            Err("occurredAt is in the future".into())
        } else if at < now - Self::MAX_AGE {
            Err("occurredAt is more than 24 hours ago".into())
        } else {
            Ok(at.min(now))
        }
    }

    /// 1 to 128 printable ASCII characters, no spaces (ids, not text).
    pub fn parse_external_id(raw: &str) -> Result<String, String> {
        if (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(raw.to_owned())
        } else {
            Err("externalId must be 1 to 128 printable ASCII characters without spaces".into())
        }
    }

    pub fn parse_description(raw: Option<String>) -> Result<Option<String>, String> {
        match raw {
            Some(d) if d.chars().count() > Self::MAX_DESCRIPTION => Err(format!(
                "description must be at most {} characters",
                Self::MAX_DESCRIPTION
            )),
            other => Ok(other),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub camera_id: Option<CameraId>,
    pub event_type: Option<EventType>,
    pub group_id: Option<uuid::Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurred_at_is_bounded() {
        let now = OffsetDateTime::now_utc();
        let ago = now - time::Duration::seconds(30);
        assert_eq!(NewEvent::parse_occurred_at(ago, now), Ok(ago));
        let ahead = now + time::Duration::seconds(2);
        assert_eq!(NewEvent::parse_occurred_at(ahead, now), Ok(now), "skew");
        assert!(NewEvent::parse_occurred_at(now + time::Duration::minutes(1), now).is_err());
        assert!(NewEvent::parse_occurred_at(now - time::Duration::hours(25), now).is_err());
    }

    #[test]
    fn description_is_bounded() {
        assert_eq!(NewEvent::parse_description(None), Ok(None));
        assert!(NewEvent::parse_description(Some("x".repeat(2001))).is_err());
    }
}

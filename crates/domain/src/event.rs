//! An event: something happened on a camera. It is stored even when its
//! recording can't start (graceful degradation, as in the seed).

use crate::{CameraId, EventId, EventType, PlaybackId};
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
    pub created_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub camera_id: CameraId,
    pub event_type: EventType,
    pub description: Option<String>,
    pub n_channel_id: Option<i32>,
}

impl NewEvent {
    pub const MAX_DESCRIPTION: usize = 2000;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_is_bounded() {
        assert_eq!(NewEvent::parse_description(None), Ok(None));
        assert!(NewEvent::parse_description(Some("x".repeat(2001))).is_err());
    }
}

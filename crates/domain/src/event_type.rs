//! What kind of thing happened. Which kinds start a recording is
//! configuration ([`RecordingTypes`]), MOTION alone by default, as in the
//! service Vigil replaces.

use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, fmt, str::FromStr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    Motion,
    Alarm,
    Tamper,
    LineCrossing,
    Intrusion,
    VideoLoss,
    Manual,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::Motion,
        EventType::Alarm,
        EventType::Tamper,
        EventType::LineCrossing,
        EventType::Intrusion,
        EventType::VideoLoss,
        EventType::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Motion => "MOTION",
            EventType::Alarm => "ALARM",
            EventType::Tamper => "TAMPER",
            EventType::LineCrossing => "LINE_CROSSING",
            EventType::Intrusion => "INTRUSION",
            EventType::VideoLoss => "VIDEO_LOSS",
            EventType::Manual => "MANUAL",
        }
    }

    /// The accepted names, for error messages.
    pub fn names() -> String {
        Self::ALL.map(|t| t.as_str()).join(", ")
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// The set of event types that start a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingTypes(BTreeSet<EventType>);

impl RecordingTypes {
    pub fn new(types: impl IntoIterator<Item = EventType>) -> Self {
        Self(types.into_iter().collect())
    }

    /// Parses a comma-separated list such as `MOTION,ALARM`.
    pub fn parse(list: &str) -> Result<Self, UnknownEventType> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(EventType::from_str)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    pub fn records(&self, t: EventType) -> bool {
        self.0.contains(&t)
    }
}

impl Default for RecordingTypes {
    fn default() -> Self {
        Self::new([EventType::Motion])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert!("motion".parse::<EventType>().is_err());
    }

    #[test]
    fn only_motion_records_by_default() {
        let r = RecordingTypes::default();
        assert!(r.records(EventType::Motion));
        assert!(!r.records(EventType::Alarm));
    }

    #[test]
    fn recording_types_parse_a_list() {
        let r = RecordingTypes::parse("MOTION, ALARM").unwrap();
        assert!(r.records(EventType::Alarm));
        assert!(RecordingTypes::parse("MOTION,NOPE").is_err());
    }
}

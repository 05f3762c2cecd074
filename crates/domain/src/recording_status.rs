//! The life of a playback, and the one place its transitions are allowed:
//!
//! ```text
//! PENDING ──► RECORDING ──► PROCESSING ──► COMPLETED
//!    │            │             │
//!    └────────────┴─────────────┴──► FAILED (with an error)
//! ```
//!
//! `RECORDING` means ffmpeg is writing media; `PROCESSING` means stopped and
//! being probed and uploaded. COMPLETED and FAILED are final.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordingStatus {
    Pending,
    Recording,
    Processing,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a playback can't go from {from} to {to}")]
pub struct TransitionError {
    pub from: RecordingStatus,
    pub to: RecordingStatus,
}

impl RecordingStatus {
    pub const ALL: [RecordingStatus; 5] = [
        RecordingStatus::Pending,
        RecordingStatus::Recording,
        RecordingStatus::Processing,
        RecordingStatus::Completed,
        RecordingStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordingStatus::Pending => "PENDING",
            RecordingStatus::Recording => "RECORDING",
            RecordingStatus::Processing => "PROCESSING",
            RecordingStatus::Completed => "COMPLETED",
            RecordingStatus::Failed => "FAILED",
        }
    }

    /// Final states are never left.
    pub fn is_final(self) -> bool {
        matches!(self, RecordingStatus::Completed | RecordingStatus::Failed)
    }

    /// The transition table. Every status change in Vigil goes through here.
    pub fn transition(self, to: RecordingStatus) -> Result<RecordingStatus, TransitionError> {
        use RecordingStatus::*;
        let allowed = matches!(
            (self, to),
            (Pending, Recording)
                | (Recording, Processing)
                | (Processing, Completed)
                | (Pending | Recording | Processing, Failed)
        );
        if allowed {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }
}

impl fmt::Display for RecordingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown recording status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for RecordingStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::RecordingStatus::*;
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        assert_eq!(Pending.transition(Recording), Ok(Recording));
        assert_eq!(Recording.transition(Processing), Ok(Processing));
        assert_eq!(Processing.transition(Completed), Ok(Completed));
    }

    #[test]
    fn every_in_flight_state_can_fail() {
        for s in [Pending, Recording, Processing] {
            assert_eq!(s.transition(Failed), Ok(Failed));
        }
    }

    #[test]
    fn exhaustive_table() {
        // Exactly the 6 allowed pairs out of 25; everything else is refused.
        let allowed: Vec<_> = RecordingStatus::ALL
            .iter()
            .flat_map(|a| RecordingStatus::ALL.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.transition(*b).is_ok())
            .collect();
        assert_eq!(allowed.len(), 6, "{allowed:?}");
        for s in RecordingStatus::ALL {
            if s.is_final() {
                for to in RecordingStatus::ALL {
                    assert!(s.transition(to).is_err(), "{s} -> {to}");
                }
            }
        }
        assert_eq!(
            Completed.transition(Recording),
            Err(TransitionError {
                from: Completed,
                to: Recording
            })
        );
        assert!(Pending.transition(Processing).is_err());
        assert!(Pending.transition(Pending).is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in RecordingStatus::ALL {
            assert_eq!(s.as_str().parse::<RecordingStatus>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
    }
}

//! A camera: a name, a stream URL and its recording settings.

use crate::{CameraId, CameraStream, RtspUrl, Transcode};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraName(String);

impl CameraName {
    /// The rule of [`CameraName::parse`] as the OpenAPI document states it
    /// (a test keeps the document's copy equal): no control character (Cc)
    /// and at least one character that is not whitespace.
    pub const PATTERN: &'static str = r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00-\x1F\x7F-\x9F]*$";

    /// At most 128 characters, not all whitespace, no control characters;
    /// stored trimmed. (The OpenAPI document states the same rule.)
    pub fn parse(raw: &str) -> Result<Self, String> {
        let t = raw.trim();
        if t.is_empty() || raw.chars().count() > 128 || raw.chars().any(char::is_control) {
            Err("name must be 1 to 128 characters without control characters".into())
        } else {
            Ok(Self(t.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Seconds of pre- or post-roll, or of a merge window: 0 (off) to 300.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RollSeconds(u32);

impl RollSeconds {
    pub const MAX: i64 = 300;

    pub fn parse(field: &str, v: i64) -> Result<Self, String> {
        if (0..=Self::MAX).contains(&v) {
            Ok(Self(v as u32))
        } else {
            Err(format!("{field} must be between 0 and {}", Self::MAX))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A channel number on a multi-channel device (NVR/DVR), as the seed's
/// `nChannelID`.
/// How long a camera's playbacks are kept, in days (1 to 100 years).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionDays(u32);

impl RetentionDays {
    pub const MAX: i64 = 36_500;

    pub fn parse(v: i64) -> Result<Self, String> {
        if (1..=Self::MAX).contains(&v) {
            Ok(Self(v as u32))
        } else {
            Err(format!(
                "retentionDays must be between 1 and {}, or null",
                Self::MAX
            ))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.0) * 86_400)
    }
}

/// A quota of stored bytes: at least 1 MiB (less is a mistake in units).
pub fn parse_max_bytes(field: &str, v: i64) -> Result<u64, String> {
    u64::try_from(v)
        .ok()
        .filter(|b| *b >= 1 << 20)
        .ok_or_else(|| format!("{field} must be at least 1048576 (1 MiB), or null"))
}

pub fn parse_channel(v: i64) -> Result<i32, String> {
    i32::try_from(v)
        .ok()
        .filter(|c| *c >= 0)
        .ok_or_else(|| "nChannelID must be an integer between 0 and 2147483647".to_owned())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    pub id: CameraId,
    pub name: CameraName,
    pub rtsp_url: RtspUrl,
    pub n_channel_id: Option<i32>,
    pub pre_roll: RollSeconds,
    pub post_roll: RollSeconds,
    /// None: the server-wide `RETENTION_DAYS` applies (if set).
    pub retention: Option<RetentionDays>,
    /// Bytes of stored clips kept for this camera; beyond, the oldest
    /// unretained go first. None: no quota of its own.
    pub retention_max_bytes: Option<u64>,
    /// After its last event ends, how long a new event still joins the
    /// clip instead of starting another (flapping detectors); 0: never.
    pub merge: RollSeconds,
    pub transcode: Transcode,
    /// What the camera was last seen to send (read-only for clients).
    pub stream: CameraStream,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Camera {
    /// What the camera's settings and its stream, together, warn about.
    pub fn stream_warnings(&self) -> Vec<String> {
        self.stream.warnings(
            self.pre_roll.get(),
            crate::stream::RING_SEGMENT_SECONDS,
            self.transcode,
        )
    }
}

#[derive(Debug, Clone)]
pub struct NewCamera {
    pub name: CameraName,
    pub rtsp_url: RtspUrl,
    pub n_channel_id: Option<i32>,
    pub pre_roll: RollSeconds,
    pub post_roll: RollSeconds,
    pub retention: Option<RetentionDays>,
    pub retention_max_bytes: Option<u64>,
    pub merge: RollSeconds,
    pub transcode: Transcode,
}

/// Fields to change; `None` leaves a field as it is. `n_channel_id:
/// Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CameraPatch {
    pub name: Option<CameraName>,
    pub rtsp_url: Option<RtspUrl>,
    pub n_channel_id: Option<Option<i32>>,
    pub pre_roll: Option<RollSeconds>,
    pub post_roll: Option<RollSeconds>,
    pub retention: Option<Option<RetentionDays>>,
    pub retention_max_bytes: Option<Option<u64>>,
    pub merge: Option<RollSeconds>,
    pub transcode: Option<Transcode>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(CameraName::parse("  Gate  ").unwrap().as_str(), "Gate");
        assert!(CameraName::parse("   ").is_err());
        assert!(CameraName::parse(&"c".repeat(129)).is_err());
        // The length is of what was sent, as the schema's maxLength counts.
        assert!(CameraName::parse(&format!(" {}", "c".repeat(128))).is_err());
        assert!(CameraName::parse("\u{3000}\u{a0}").is_err());
        assert!(CameraName::parse("Gate\u{85}").is_err());
    }

    #[test]
    fn roll_and_channel_bounds() {
        assert_eq!(RollSeconds::parse("preRollSeconds", 5).unwrap().get(), 5);
        assert!(RollSeconds::parse("preRollSeconds", -1).is_err());
        assert!(RollSeconds::parse("preRollSeconds", 301).is_err());
        assert_eq!(parse_channel(3), Ok(3));
        assert!(parse_channel(-1).is_err());
        assert!(parse_channel(1 << 40).is_err());
        assert_eq!(RetentionDays::parse(30).unwrap().get(), 30);
        assert!(RetentionDays::parse(0).is_err());
        assert!(RetentionDays::parse(36_501).is_err());
    }
}

//! What a camera sends and whether it is reachable: the read-only `stream`
//! object of a camera. It is filled from facts (a short probe when the
//! camera is created or its URL changes, the warm ring's link, each
//! finished clip), never from what the camera's settings claim.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Whether Vigil can reach the camera's stream, as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamState {
    /// Never checked.
    #[default]
    Unknown,
    /// A probe or a connection is under way.
    Connecting,
    Connected,
    /// Unreachable, or it stopped sending.
    Offline,
    /// The camera refused the credentials (401) or the access (403).
    Unauthorized,
}

impl StreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Offline => "offline",
            Self::Unauthorized => "unauthorized",
        }
    }
}

/// What a probe of the stream (live, or of a finished clip) measured.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamFacts {
    /// As the API shows codecs: `H.264`, `H.265`.
    pub video_codec: Option<String>,
    /// ffprobe's name of the camera's audio (`aac`, `pcm_alaw`, `opus`).
    pub audio_codec: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub fps: Option<f64>,
    /// The mean distance between keyframes, from the packets' key flags;
    /// `None` when fewer than two keyframes were seen.
    pub keyframe_interval_sec: Option<f64>,
}

/// A camera's `stream` object as stored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CameraStream {
    pub state: StreamState,
    #[serde(flatten)]
    pub facts: StreamFacts,
    /// Why the last attempt failed (password masked); cleared on success.
    pub last_error: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub checked_at: Option<OffsetDateTime>,
}

/// Length of the segments a warm camera's ring cuts (the recorder's rings
/// use it): a GOP longer than this makes each segment one GOP long.
pub const RING_SEGMENT_SECONDS: u32 = 1;

/// Audio codecs browsers play in an MP4 (anything else is re-encoded to
/// AAC while recording).
pub fn browser_audio(codec: &str) -> bool {
    matches!(codec, "aac" | "opus" | "mp3")
}

impl CameraStream {
    /// The human-readable warnings for a camera with `pre_roll_sec` of
    /// pre-roll, whose warm ring cuts segments of `segment_sec`. Computed
    /// when shown, so a changed pre-roll is reflected at once.
    pub fn warnings(
        &self,
        pre_roll_sec: u32,
        segment_sec: u32,
        transcode: Transcode,
    ) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(k) = self.facts.keyframe_interval_sec {
            if pre_roll_sec > 0 && k > f64::from(pre_roll_sec) + 0.05 {
                w.push(format!(
                    "keyframe interval {k:.1} s is longer than preRollSeconds ({pre_roll_sec} s): \
                     clips may start up to {k:.1} s before the pre-roll window; set the camera's \
                     I-frame interval (GOP) to at most its frame rate x {pre_roll_sec}, and turn off \
                     \"smart codec\" (H.264+/H.265+)"
                ));
            }
            if pre_roll_sec > 0 && k > f64::from(segment_sec) + 0.05 {
                w.push(format!(
                    "keyframe interval {k:.1} s is longer than the pre-roll ring's {segment_sec} s \
                     segments: each segment holds a whole GOP, so the ring keeps more than it needs"
                ));
            }
        }
        if self.facts.video_codec.as_deref() == Some("H.265") && transcode == Transcode::Off {
            w.push(
                "H.265 video: most browsers can't play these clips; set transcode to \"h264\" \
                 or the camera's codec to H.264"
                    .into(),
            );
        }
        if let Some(a) = self.facts.audio_codec.as_deref() {
            if !browser_audio(a) {
                w.push(format!(
                    "{a} audio is re-encoded to AAC while recording (MP4 and browsers don't take it as it is)"
                ));
            }
        }
        w
    }
}

/// Whether a camera's clips are re-encoded at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transcode {
    /// Video is copied as the camera sends it.
    #[default]
    Off,
    /// Clips are re-encoded to H.264 so every browser plays them.
    H264,
}

impl Transcode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "off" => Ok(Self::Off),
            "h264" => Ok(Self::H264),
            _ => Err("transcode must be \"off\" or \"h264\"".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::H264 => "h264",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_gop(k: f64) -> CameraStream {
        CameraStream {
            facts: StreamFacts {
                video_codec: Some("H.264".into()),
                audio_codec: Some("aac".into()),
                keyframe_interval_sec: Some(k),
                ..StreamFacts::default()
            },
            ..CameraStream::default()
        }
    }

    #[test]
    fn a_keyframe_interval_longer_than_the_pre_roll_is_warned_about() {
        let s = with_gop(4.0);
        let w = s.warnings(2, 1, Transcode::Off);
        assert!(
            w.iter()
                .any(|m| m.contains("longer than preRollSeconds (2 s)")),
            "{w:?}"
        );
        assert!(w.iter().any(|m| m.contains("1 s segments")), "{w:?}");
        assert!(
            s.warnings(5, 5, Transcode::Off).is_empty(),
            "GOP within both"
        );
        assert!(
            s.warnings(0, 1, Transcode::Off).is_empty(),
            "no pre-roll, no ring"
        );
        assert!(
            with_gop(1.0).warnings(1, 1, Transcode::Off).is_empty(),
            "equal is fine"
        );
    }

    #[test]
    fn h265_and_g711_are_warned_about_unless_transcoded() {
        let mut s = with_gop(1.0);
        s.facts.video_codec = Some("H.265".into());
        s.facts.audio_codec = Some("pcm_alaw".into());
        let w = s.warnings(0, 1, Transcode::Off);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            s.warnings(0, 1, Transcode::H264).len(),
            1,
            "audio still said"
        );
    }

    #[test]
    fn stored_form_is_camel_case_and_round_trips() {
        let s = CameraStream {
            state: StreamState::Unauthorized,
            last_error: Some("camera refused the credentials (401)".into()),
            checked_at: Some(OffsetDateTime::UNIX_EPOCH),
            ..with_gop(2.0)
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"keyframeIntervalSec\":2.0"), "{json}");
        assert!(json.contains("\"state\":\"unauthorized\""), "{json}");
        assert_eq!(serde_json::from_str::<CameraStream>(&json).unwrap(), s);
        assert_eq!(Transcode::parse("h264"), Ok(Transcode::H264));
        assert!(Transcode::parse("H264").is_err());
    }
}

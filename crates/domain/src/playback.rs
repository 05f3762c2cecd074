//! A playback: one recording of one camera for one event, and the clip it
//! produces. Its status changes only through
//! [`crate::RecordingStatus::transition`].

use crate::{CameraId, EventId, EventType, PlaybackId, RecordingStatus};
use time::OffsetDateTime;

/// What ffprobe said about a finished clip.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaInfo {
    pub file_size_bytes: Option<i64>,
    pub duration_sec: Option<f64>,
    /// e.g. `H.264`
    pub codec: Option<String>,
    /// e.g. `1080p`
    pub resolution: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// Whether a current browser plays the clip as it is (H.264 video with
    /// AAC, Opus or no audio); `None` when ffprobe could not tell.
    pub browser_playable: Option<bool>,
}

impl MediaInfo {
    /// Whether browsers play `video` (an ffprobe codec name) with `audio`
    /// (`None`: no audio track). H.265 plays only where the hardware
    /// decodes it, so it counts as not playable.
    pub fn plays_in_browsers(video: &str, audio: Option<&str>) -> bool {
        let video_ok = matches!(video, "h264");
        let audio_ok = matches!(audio, None | Some("aac" | "opus" | "mp3"));
        video_ok && audio_ok
    }
}

/// A stretch inside a clip where the camera was away (a reconnect or a
/// stall): the clip skips it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gap {
    /// When the camera went away.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// How long it was away.
    pub seconds: f64,
}

/// The event a playback belongs to, as shown inside a playback.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSummary {
    pub id: EventId,
    pub event_type: EventType,
    pub description: Option<String>,
    pub n_channel_id: Option<i32>,
    /// When the detector saw it, when it said so.
    pub occurred_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    pub id: PlaybackId,
    pub event_id: EventId,
    pub camera_id: CameraId,
    pub status: RecordingStatus,
    /// Object key of the clip once uploaded.
    pub video_key: Option<String>,
    pub thumbnail_key: Option<String>,
    pub media: MediaInfo,
    pub local_path: Option<String>,
    pub error: Option<String>,
    /// When the clip's first frame was filmed (before the event, by up to
    /// the pre-roll).
    pub started_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    /// Where the clip skips time, in order.
    pub gaps: Vec<Gap>,
    /// Kept by retention (age and quota) until unset; deleting it asks
    /// for `force`.
    pub retain: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub event: Option<EventSummary>,
}

impl Playback {
    /// The object key of a playback's clip, as the contract fixes it.
    pub fn video_key_for(id: PlaybackId) -> String {
        format!("playbacks/{id}/video.mp4")
    }

    pub fn thumbnail_key_for(id: PlaybackId) -> String {
        format!("playbacks/{id}/thumbnail.jpg")
    }
}

/// Changes written together with a status transition.
#[derive(Debug, Clone, Default)]
pub struct PlaybackUpdate {
    pub video_key: Option<String>,
    pub thumbnail_key: Option<String>,
    pub media: Option<MediaInfo>,
    pub local_path: Option<Option<String>>,
    pub error: Option<String>,
    pub started_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    pub gaps: Option<Vec<Gap>>,
}

#[derive(Debug, Clone, Default)]
pub struct PlaybackFilter {
    pub event_id: Option<EventId>,
    pub camera_id: Option<CameraId>,
    pub status: Option<RecordingStatus>,
}

impl PlaybackFilter {
    pub fn matches(&self, p: &Playback) -> bool {
        self.event_id.is_none_or(|e| e == p.event_id)
            && self.camera_id.is_none_or(|c| c == p.camera_id)
            && self.status.is_none_or(|s| s == p.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract() {
        let id = PlaybackId::new();
        assert_eq!(
            Playback::video_key_for(id),
            format!("playbacks/{id}/video.mp4")
        );
        assert_eq!(
            Playback::thumbnail_key_for(id),
            format!("playbacks/{id}/thumbnail.jpg")
        );
    }
}

//! What the API returns: camelCase JSON views of domain values, built only
//! here, so a password hash or an unmasked camera URL can't slip into a
//! response.

use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;
use vigil_domain::{
    ports::{Listed, ObjectStore},
    Camera, Event, EventType, LiveSegment, Playback, RecordingStatus, Role, User,
};

/// A page of results and how many match in all.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListView<T> {
    pub data: Vec<T>,
    pub total: u64,
}

impl<T> ListView<T> {
    pub fn from_listed<D>(l: Listed<D>, f: impl FnMut(D) -> T) -> Self {
        Self {
            data: l.rows.into_iter().map(f).collect(),
            total: l.total,
        }
    }
}

// The names the domain's `EventType` parses, listed for the OpenAPI
// document (a test keeps the two equal).
/// Event types; those in `RECORDING_EVENT_TYPES` (MOTION by default) start
/// a recording.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventTypeName {
    Motion,
    Alarm,
    Tamper,
    LineCrossing,
    Intrusion,
    VideoLoss,
    Manual,
}

// Listed for the OpenAPI document; a test keeps it equal to `RecordingStatus`.
/// A playback's status (see the status machine).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordingStatusName {
    Pending,
    Recording,
    Processing,
    Completed,
    Failed,
}

// Listed for the OpenAPI document; a test keeps it equal to `Role`.
/// Roles: ADMIN manages users and cameras; ADMIN and OPERATOR post and end
/// events and stop or delete playbacks; everyone reads.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleName {
    Admin,
    Operator,
    Viewer,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    #[schema(value_type = RoleName, example = "OPERATOR")]
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            username: u.username.to_string(),
            role: u.role,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CameraView {
    pub id: Uuid,
    pub name: String,
    /// With its password masked: `rtsp://user:***@host/...`.
    pub rtsp_url: String,
    #[serde(rename = "nChannelID")]
    pub n_channel_id: Option<i32>,
    pub pre_roll_seconds: u32,
    pub post_roll_seconds: u32,
    /// Days its playbacks are kept; null: the server's `RETENTION_DAYS`.
    pub retention_days: Option<u32>,
    /// Bytes of stored clips kept for it; null: no quota of its own.
    pub retention_max_bytes: Option<u64>,
    /// After its last event ends, how long a new event joins the clip
    /// instead of starting another; 0: never.
    pub merge_seconds: u32,
    /// `off`: video copied as the camera sends it; `h264`: clips
    /// re-encoded to H.264 at the end, so every browser plays them.
    #[schema(value_type = TranscodeName)]
    pub transcode: &'static str,
    /// What the camera sends and whether it can be reached (read-only).
    pub stream: StreamView,
    /// The id of the node that records it (`NODE_ID`), or null.
    pub owner_node: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

// Listed for the OpenAPI document; a test keeps it equal to `Transcode`.
/// `off`: the camera's video is copied; `h264`: clips are re-encoded.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TranscodeName {
    Off,
    H264,
}

// Listed for the OpenAPI document; a test keeps it equal to `StreamState`.
/// Whether the camera's stream can be reached, as last seen.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamStateName {
    Unknown,
    Connecting,
    Connected,
    Offline,
    Unauthorized,
}

/// A camera's stream as last measured: by a probe when the camera was
/// created or its URL changed, by its warm ring, and by each clip.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamView {
    #[schema(value_type = StreamStateName)]
    pub state: &'static str,
    /// `H.264`, `H.265`, ...
    pub video_codec: Option<String>,
    /// As ffprobe names it: `aac`, `opus`, `pcm_alaw`, `pcm_mulaw`, ...
    pub audio_codec: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub fps: Option<f64>,
    /// Measured from the packets' key flags.
    pub keyframe_interval_sec: Option<f64>,
    /// Why the camera could not be reached (password masked).
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub checked_at: Option<OffsetDateTime>,
    /// Human-readable: a keyframe interval longer than `preRollSeconds`,
    /// a codec browsers can't play, audio re-encoded.
    pub warnings: Vec<String>,
}

impl CameraView {
    /// The view of `c` with the node that records it.
    pub fn owned(c: Camera, owners: &crate::routes::nodes::Owners) -> Self {
        Self {
            owner_node: owners.of(c.id),
            ..Self::from(c)
        }
    }
}

impl From<Camera> for CameraView {
    fn from(c: Camera) -> Self {
        Self {
            id: c.id.as_uuid(),
            name: c.name.as_str().to_owned(),
            rtsp_url: c.rtsp_url.masked(),
            n_channel_id: c.n_channel_id,
            pre_roll_seconds: c.pre_roll.get(),
            post_roll_seconds: c.post_roll.get(),
            retention_days: c.retention.map(|d| d.get()),
            retention_max_bytes: c.retention_max_bytes,
            merge_seconds: c.merge.get(),
            transcode: c.transcode.as_str(),
            stream: StreamView {
                warnings: c.stream_warnings(),
                state: c.stream.state.as_str(),
                video_codec: c.stream.facts.video_codec,
                audio_codec: c.stream.facts.audio_codec,
                width: c.stream.facts.width,
                height: c.stream.facts.height,
                fps: c.stream.facts.fps,
                keyframe_interval_sec: c.stream.facts.keyframe_interval_sec,
                last_error: c.stream.last_error,
                checked_at: c.stream.checked_at,
            },
            owner_node: None,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CameraRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(value_type = EventTypeName, example = "MOTION")]
    pub event_type: EventType,
    pub description: Option<String>,
    #[serde(rename = "nChannelID")]
    pub n_channel_id: Option<i32>,
    pub camera_id: Uuid,
    pub camera: CameraRef,
    /// Set when the event's type records.
    pub playback_id: Option<Uuid>,
    /// When the detector saw it, when the POST said so.
    #[serde(with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
    /// Shared by the events one POST made on several cameras (`cameraIds`).
    pub group_id: Option<Uuid>,
    /// The detector's own id for it, when the POST gave one.
    pub external_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id.as_uuid(),
            event_type: e.event_type,
            description: e.description,
            n_channel_id: e.n_channel_id,
            camera_id: e.camera_id.as_uuid(),
            camera: CameraRef {
                id: e.camera_id.as_uuid(),
                name: e.camera_name,
            },
            playback_id: e.playback_id.map(|p| p.as_uuid()),
            occurred_at: e.occurred_at,
            group_id: e.group_id,
            external_id: e.external_id,
            created_at: e.created_at,
            ended_at: e.ended_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlaybackEventView {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(value_type = EventTypeName)]
    pub event_type: EventType,
    pub description: Option<String>,
    #[serde(rename = "nChannelID")]
    pub n_channel_id: Option<i32>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlaybackView {
    pub id: Uuid,
    pub event_id: Uuid,
    pub camera_id: Uuid,
    #[schema(value_type = String, example = "COMPLETED")]
    pub recording_status: RecordingStatus,
    /// Where the clip plays from, once COMPLETED.
    pub video_url: Option<String>,
    /// An HLS playlist of the media stored so far, signed and expiring: an
    /// EVENT playlist while recording, VOD (`#EXT-X-ENDLIST`) after; null
    /// before the first frame and once the segments are removed (after the
    /// clip is stored, unless `LIVE_SEGMENTS_KEEP`).
    pub live_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub file_size_bytes: Option<i64>,
    pub duration_sec: Option<f64>,
    /// e.g. `H.264`
    pub codec: Option<String>,
    /// e.g. `1080p`
    pub resolution: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// The temporary file while recording.
    pub local_path: Option<String>,
    /// Why the recording failed, when FAILED.
    pub error: Option<String>,
    /// Whether a current browser plays the clip as it is (H.264 with AAC,
    /// Opus or no audio); null until the clip is probed.
    pub browser_playable: Option<bool>,
    /// When the clip's first frame was filmed, pre-roll included.
    #[serde(with = "time::serde::rfc3339::option")]
    pub clip_start_at: Option<OffsetDateTime>,
    /// Seconds from the clip's start to the trigger (the event), so a
    /// player can jump to the moment and still show the run-up; 0 when the
    /// clip starts after the trigger (no pre-roll: the camera's connect
    /// time); null before the first frame.
    pub trigger_offset_sec: Option<f64>,
    /// Where the clip skips time the camera was away (reconnects, stalls).
    pub gaps: Vec<GapView>,
    /// Kept by retention whatever its age or the quota (`PATCH` sets it);
    /// deleting it asks for `?force=true`.
    pub retain: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub event: Option<PlaybackEventView>,
}

/// A stretch the clip skips.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GapView {
    /// When the camera went away.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Seconds into the clip where the gap falls.
    pub offset_sec: f64,
    /// How long the camera was away.
    pub seconds: f64,
}

/// Seconds from `from` to `to`, to the millisecond.
fn seconds_between(from: OffsetDateTime, to: OffsetDateTime) -> f64 {
    ((to - from).as_seconds_f64() * 1000.0).round() / 1000.0
}

/// How the URLs of a playback are made: how long they stay valid, what
/// signs those Vigil serves itself, and whether live segments outlive
/// the clip (`LIVE_UPLOAD`, `LIVE_SEGMENTS_KEEP`).
#[derive(Debug, Clone)]
pub struct MediaUrls {
    pub ttl: Duration,
    pub signer: std::sync::Arc<dyn vigil_domain::ports::MediaSigner>,
    pub live: vigil_application::live::LiveSettings,
}

impl PlaybackView {
    pub async fn build(p: Playback, store: &dyn ObjectStore, urls: &MediaUrls) -> Self {
        let ttl = urls.ttl;
        let url = |key: Option<String>| async move {
            match key {
                Some(k) => match store.url(&k, ttl).await {
                    Ok(u) => Some(u),
                    Err(e) => {
                        tracing::warn!(key = %k, error = %e.chain(), "no URL for stored object");
                        None
                    }
                },
                None => None,
            }
        };
        let done = p.status == RecordingStatus::Completed;
        let video_url = if done {
            url(p.video_key.clone()).await
        } else {
            None
        };
        let thumbnail_url = if done {
            url(p.thumbnail_key.clone()).await
        } else {
            None
        };
        let live_url = vigil_application::live::shows_live(&p, urls.live)
            .then(|| urls.signer.sign(&LiveSegment::playlist_key(p.id), urls.ttl));
        Self {
            id: p.id.as_uuid(),
            event_id: p.event_id.as_uuid(),
            camera_id: p.camera_id.as_uuid(),
            recording_status: p.status,
            video_url,
            live_url,
            thumbnail_url,
            file_size_bytes: p.media.file_size_bytes,
            duration_sec: p.media.duration_sec,
            codec: p.media.codec,
            resolution: p.media.resolution,
            width: p.media.width,
            height: p.media.height,
            local_path: p.local_path,
            error: p.error,
            browser_playable: p.media.browser_playable,
            clip_start_at: p.started_at,
            // The trigger is when the detector saw it, when it said so,
            // else when the playback was created with its event.
            trigger_offset_sec: p.started_at.map(|start| {
                let trigger = p
                    .event
                    .as_ref()
                    .and_then(|e| e.occurred_at)
                    .unwrap_or(p.created_at);
                seconds_between(start, trigger).max(0.0)
            }),
            gaps: p
                .gaps
                .iter()
                .map(|g| GapView {
                    at: g.at,
                    offset_sec: p
                        .started_at
                        .map_or(0.0, |start| seconds_between(start, g.at).max(0.0)),
                    seconds: g.seconds,
                })
                .collect(),
            retain: p.retain,
            started_at: p.started_at,
            ended_at: p.ended_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
            event: p.event.map(|e| PlaybackEventView {
                id: e.id.as_uuid(),
                event_type: e.event_type,
                description: e.description,
                n_channel_id: e.n_channel_id,
                occurred_at: e.occurred_at,
                created_at: e.created_at,
                ended_at: e.ended_at,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_domain::{StreamState, Transcode};

    fn names<T: Serialize>(all: &[T]) -> Vec<String> {
        all.iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn documented_enums_are_the_domain_names() {
        use EventTypeName::*;
        let documented = names(&[
            Motion,
            Alarm,
            Tamper,
            LineCrossing,
            Intrusion,
            VideoLoss,
            Manual,
        ]);
        let domain: Vec<String> = EventType::ALL
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        assert_eq!(documented, domain);
        let documented = names(&[TranscodeName::Off, TranscodeName::H264]);
        let domain = [Transcode::Off, Transcode::H264].map(|t| t.as_str().to_owned());
        assert_eq!(documented, domain);
        use StreamStateName as T;
        let documented = names(&[
            T::Unknown,
            T::Connecting,
            T::Connected,
            T::Offline,
            T::Unauthorized,
        ]);
        let domain = [
            StreamState::Unknown,
            StreamState::Connecting,
            StreamState::Connected,
            StreamState::Offline,
            StreamState::Unauthorized,
        ]
        .map(|t| t.as_str().to_owned());
        assert_eq!(documented, domain);
        let documented = names(&[RoleName::Admin, RoleName::Operator, RoleName::Viewer]);
        let domain: Vec<String> = Role::ALL.iter().map(|r| r.as_str().to_owned()).collect();
        assert_eq!(documented, domain);
        use RecordingStatusName as S;
        let documented = names(&[
            S::Pending,
            S::Recording,
            S::Processing,
            S::Completed,
            S::Failed,
        ]);
        let domain: Vec<String> = RecordingStatus::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        assert_eq!(documented, domain);
    }
}

/// Renders pushed news (webhooks, MQTT) exactly as the API shows it.
#[derive(Debug, Clone)]
pub struct ViewRender {
    pub store: std::sync::Arc<dyn ObjectStore>,
    pub urls: MediaUrls,
}

#[async_trait::async_trait]
impl vigil_application::Render for ViewRender {
    async fn playback(&self, p: Playback) -> serde_json::Value {
        let view = PlaybackView::build(p, self.store.as_ref(), &self.urls).await;
        serde_json::to_value(view).unwrap_or_default()
    }

    fn event(&self, e: Event) -> serde_json::Value {
        serde_json::to_value(EventView::from(e)).unwrap_or_default()
    }
}

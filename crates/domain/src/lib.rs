//! Vigil's domain: the values a camera-event recorder deals in, and the ports
//! (traits) through which the outer crates (persistence, storage, recorder,
//! api) are reached. Nothing here depends on a framework or on another Vigil
//! crate; every type that can be invalid is parsed once at the edge
//! ("parse, don't validate"), so code holding one never re-checks it.

pub mod camera;
pub mod capture;
pub mod error;
pub mod event;
pub mod event_type;
pub mod ids;
pub mod job;
pub mod live;
pub mod node;
pub mod page;
pub mod playback;
pub mod ports;
pub mod record_error;
pub mod recording_status;
pub mod role;
pub mod rtsp_url;
pub mod share;
pub mod stream;
pub mod user;
pub mod webhook;
pub mod window;

pub use camera::{Camera, CameraName, CameraPatch, NewCamera, RetentionDays, RollSeconds};
pub use error::{Error, ErrorKind};
pub use event::{Event, EventFilter, NewEvent};
pub use event_type::{EventType, RecordingTypes};
pub use ids::{CameraId, EventId, JobId, PlaybackId, ShareId, UserId, WebhookId};
pub use job::{Job, JobKind, NewJob};
pub use live::{LiveSegment, PartFile, PartTimes};
pub use node::{CameraLease, Node, NodeBeat, NodeId, Signal};
pub use page::Page;
pub use playback::{EventSummary, Gap, MediaInfo, Playback, PlaybackFilter, PlaybackUpdate};
pub use record_error::{RecordError, RecordErrorKind};
pub use recording_status::{RecordingStatus, TransitionError};
pub use role::Role;
pub use rtsp_url::RtspUrl;
pub use share::{NewShare, Share};
pub use stream::{CameraStream, StreamFacts, StreamState, Transcode};
pub use user::{NewUser, Password, PasswordHash, User, UserPatch, Username};
pub use webhook::{Attempt, Delivery, NewWebhook, PushKind, Webhook};
pub use window::RecordWindow;

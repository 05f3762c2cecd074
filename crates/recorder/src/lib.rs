//! Vigil's recorder: turns "record this RTSP camera now" into a playable,
//! faststart MP4, and leaves no process, half file or zombie behind. It is
//! mechanism only: it records per event or from a camera's warm ring,
//! joins and probes clips and stops orphans, and reports what happens; it
//! knows nothing of playbacks' statuses, databases, stores or HTTP. Usable
//! on its own (see `examples/record.rs`); [`FfmpegCapture`] is the same
//! thing behind the domain's `Capture` port.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use vigil_recorder::{FfmpegRecorder, RecorderConfig, RecorderEvent};
//! let rec = FfmpegRecorder::new(RecorderConfig::new("ffmpeg".into(), "ffprobe".into(), "/tmp/rec".into()));
//! let url = vigil_domain::RtspUrl::parse("rtsp://user:pass@10.0.0.7:554/stream1")?;
//! let mut recording = rec.start("clip-1", url)?;
//! // ... later:
//! recording.stop();
//! while let Some(ev) = recording.next_event().await {
//!     if let RecorderEvent::Finished(result) = ev {
//!         let clip = result?;
//!         println!("{} s in {}", clip.info.media.duration_sec.unwrap_or(0.0), clip.path.display());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! How it stays crash-safe: ffmpeg writes short MPEG-TS parts with every
//! packet flushed, so whatever was recorded before a crash is on disk and
//! playable; on stop the parts are joined (no re-encoding) into one MP4 with
//! the index first. See `docs/design/recording-lifecycle.md`.

pub mod args;
mod capture;
mod config;
mod error;
mod launcher;
pub mod manifest;
pub mod mp4;
mod orphans;
mod parts;
pub mod probe;
pub mod process;
mod progress;
mod remux;
mod ring;
mod session;
mod stderr_tail;
pub mod stream_probe;
mod supervisor;
pub mod telemetry;
pub mod ts;

pub use args::AudioMode;
pub use capture::FfmpegCapture;
pub use config::RecorderConfig;
pub use error::{RecordError, RecordErrorKind};
pub use parts::{Clip, CLIP_NAME};
pub use ring::{Ring, RING_DIR};
pub use session::RecorderEvent;

use std::{path::PathBuf, sync::Arc};
use tokio::sync::{mpsc, watch};
use vigil_domain::RtspUrl;

/// Starts recordings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FfmpegRecorder {
    cfg: Arc<RecorderConfig>,
    /// Cameras whose audio must be encoded, learned by earlier runs.
    audio: supervisor::AudioMemory,
}

/// A running recording: ask it to stop, read what it reports. Dropping it
/// and every [`StopHandle`] of it stops it too (the clip is still made).
#[derive(Debug)]
pub struct Recording {
    id: String,
    dir: PathBuf,
    stop: StopHandle,
    events: mpsc::UnboundedReceiver<RecorderEvent>,
    media_since: MediaSince,
}

/// When the clip's first frame was filmed, set once with the first media.
pub(crate) type MediaSince = Arc<std::sync::OnceLock<std::time::SystemTime>>;

/// Asks a recording to stop; cloneable, and stopping twice is harmless.
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl FfmpegRecorder {
    pub fn new(cfg: RecorderConfig) -> Self {
        Self {
            cfg: Arc::new(cfg),
            audio: Default::default(),
        }
    }

    pub fn config(&self) -> &RecorderConfig {
        &self.cfg
    }

    /// Starts recording `url` into `record_dir/<id>/` and returns at once;
    /// the camera is contacted in the background. `id` must be a plain name
    /// (letters, digits, `-`, `_`).
    pub fn start(&self, id: &str, url: RtspUrl) -> Result<Recording, RecordError> {
        let dir = prepare_dir(&self.cfg, id)?;
        let (recording, feed) = Recording::open(id, dir.clone());
        let session = session::Session {
            cfg: self.cfg.clone(),
            id: id.to_owned(),
            url,
            dir,
            stop: feed.stop,
            events: feed.events,
            media_since: feed.media_since,
            audio_memory: self.audio.clone(),
            last_media: None,
            down_at: None,
            gaps: Vec::new(),
        };
        // Made here, in the caller's span, so the take's log lines carry
        // what the caller knows of it (a playback id) without the recorder
        // knowing playbacks.
        let span = tracing::info_span!("take", take = %id);
        tokio::spawn(session.run(span));
        Ok(recording)
    }
}

/// The side of a [`Recording`] its task holds: the stop signal, where to
/// report, and where to note when the first frame was filmed.
pub(crate) struct Feed {
    pub stop: watch::Receiver<bool>,
    pub events: mpsc::UnboundedSender<RecorderEvent>,
    pub media_since: MediaSince,
}

/// Creates `record_dir/<id>/` for a new recording; `id` must be a plain
/// name, and the folder must hold no parts (they would be joined into this
/// clip).
pub(crate) fn prepare_dir(cfg: &RecorderConfig, id: &str) -> Result<PathBuf, RecordError> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(RecordError::io(format!("invalid recording id {id:?}")));
    }
    let dir = cfg.record_dir.join(id);
    std::fs::create_dir_all(&dir)?;
    if !parts::list(&dir)?.is_empty() {
        return Err(RecordError::io(format!(
            "{} already holds a recording",
            dir.display()
        )));
    }
    Ok(dir)
}

impl FfmpegRecorder {
    /// Keeps `url` connected and its last `keep` of video in
    /// `record_dir/ring/<name>/`, so [`Ring::record`] can start a clip
    /// before the moment it is asked for, without connecting.
    pub fn ring(
        &self,
        name: &str,
        url: RtspUrl,
        keep: std::time::Duration,
    ) -> Result<Ring, RecordError> {
        Ring::start(self.cfg.clone(), name, url, keep, self.audio.clone())
    }
}

impl Recording {
    /// A recording of `id` writing into `dir`, and the feed its task drives.
    pub(crate) fn open(id: &str, dir: PathBuf) -> (Recording, Feed) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let media_since = MediaSince::default();
        let recording = Recording {
            id: id.to_owned(),
            dir,
            stop: StopHandle(Arc::new(stop_tx)),
            events: ev_rx,
            media_since: media_since.clone(),
        };
        let feed = Feed {
            stop: stop_rx,
            events: ev_tx,
            media_since,
        };
        (recording, feed)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The folder holding the parts while recording, then the clip.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn stop(&self) {
        self.stop.stop();
    }

    /// When the clip's first frame was filmed, once there is media: the
    /// moment it reached disk for a recording of its own, and the start of
    /// its first segment for one taken from a ring (before it was asked
    /// for, by up to the pre-roll).
    pub fn media_since(&self) -> Option<std::time::SystemTime> {
        self.media_since.get().copied()
    }

    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The next event; `None` after [`RecorderEvent::Finished`].
    pub async fn next_event(&mut self) -> Option<RecorderEvent> {
        self.events.recv().await
    }

    /// Waits for the end and returns the clip.
    pub async fn finish(mut self) -> Result<Clip, RecordError> {
        while let Some(ev) = self.events.recv().await {
            if let RecorderEvent::Finished(r) = ev {
                return r;
            }
        }
        Err(RecordError::io("the recorder stopped unexpectedly"))
    }
}

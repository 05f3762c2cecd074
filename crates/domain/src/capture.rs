//! The port to the recording mechanism (the recorder crate implements it
//! with ffmpeg): what the application asks of it and what it reports. It
//! knows cameras and folders, never playbacks' statuses, jobs or stores;
//! the application's lifecycle turns what it reports into status changes.

use crate::{Camera, CameraId, MediaInfo, RecordError, StreamFacts, StreamState};
use async_trait::async_trait;
use std::{
    fmt::Debug,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

/// The joined clip's name in a take's folder.
pub const CLIP_NAME: &str = "video.mp4";
/// The clip a take writes while it records, when the recorder streams its
/// parts into one (a moov-at-end MP4 growing only at its end, but for the
/// mdat size in its first bytes, patched when it is finished): renamed to
/// [`CLIP_NAME`] once whole. Its bytes past the first part of an upload in
/// parts are final as soon as they are written, so they can be stored
/// while the take still records.
pub const GROWING_CLIP_NAME: &str = "clip-growing.mp4";
/// How a take's parts are named in its folder (`part-00000.ts`, …), in
/// order; [`Capture::finalize`] joins whatever is named so.
pub const PART_PREFIX: &str = "part-";

/// What a take (one clip being recorded) reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum TakeEvent {
    /// The first media is on disk; it was filmed at `since` (before the
    /// request, by up to the pre-roll, for a take from a warm camera).
    MediaStarted { since: SystemTime },
    /// The camera dropped; a reconnect follows (numbered from 1).
    Interrupted { attempt: u32, reason: String },
    /// Media flows again after an interruption (or a freeze) of `away`.
    Resumed { away: std::time::Duration },
    /// The last event: the joined clip, or why there is none.
    Finished(Result<ClipFile, RecordError>),
}

/// A finished take: one faststart MP4 in its working folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipFile {
    /// The take's working folder, holding the parts and the clip.
    pub dir: PathBuf,
    pub path: PathBuf,
    /// What ffprobe said of it; empty when it could not say in time.
    pub media: MediaInfo,
    /// How many times the camera dropped and was reconnected.
    pub reconnects: u32,
    /// Where the clip skips time the camera was away.
    pub gaps: Vec<crate::Gap>,
    /// What the clip shows of the camera's stream (keyframe interval
    /// included); `None` when it could not be measured in time.
    pub stream: Option<Box<StreamFacts>>,
    /// Whether the clip is the one [`GROWING_CLIP_NAME`] was, finished: its
    /// bytes are what was read of that file while recording, but for its
    /// first bytes. `false` when it was joined from the parts at the end.
    pub streamed: bool,
}

/// A warm camera's link, as its ring sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmLink {
    pub camera: CameraId,
    pub state: StreamState,
    /// Why it is offline or unauthorized (password masked).
    pub error: Option<String>,
}

/// Asks a take to stop (after the camera's post-roll); cloneable, and
/// stopping twice is harmless.
#[derive(Clone)]
pub struct StopTake(Arc<dyn Fn() + Send + Sync>);

impl StopTake {
    pub fn new(stop: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(stop))
    }

    pub fn stop(&self) {
        (self.0)()
    }
}

impl Debug for StopTake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopTake")
    }
}

/// One clip being recorded.
#[async_trait]
pub trait Take: Send + Debug {
    /// The take's working folder.
    fn dir(&self) -> &Path;
    fn stopper(&self) -> StopTake;
    /// The next event; `None` after [`TakeEvent::Finished`].
    async fn next_event(&mut self) -> Option<TakeEvent>;
    /// An event already waiting, without waiting for one.
    fn try_next_event(&mut self) -> Option<TakeEvent>;
}

/// Cameras kept warm for pre-roll, for the gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WarmStats {
    /// Video arriving now.
    pub warm: usize,
    /// Kept warm or trying to.
    pub total: usize,
    /// Disk their recent video holds.
    pub bytes: u64,
}

/// Records cameras into folders and finishes those folders into clips.
#[async_trait]
pub trait Capture: Send + Sync + Debug {
    /// Starts recording `camera` into the folder `take` and returns at
    /// once. A camera with a pre-roll is recorded from its warm ring
    /// (started if needed), from the window's reach before now (as far as
    /// the ring holds); `window.post_roll` is recorded after the stop.
    async fn record(
        &self,
        take: &str,
        camera: &Camera,
        window: crate::RecordWindow,
    ) -> Result<Box<dyn Take>, RecordError>;
    /// Keeps `camera` connected when it has a pre-roll, and stops doing so
    /// when it has none; a new URL reconnects.
    async fn keep_warm(&self, camera: &Camera) -> Result<(), RecordError>;
    /// Stops keeping a camera warm and removes its recent video.
    async fn cool(&self, camera: CameraId);
    /// Removes the recent video of cameras not kept warm (deleted while the
    /// server was down).
    async fn remove_cold(&self);
    /// Stops every warm camera (shutdown); takes from them end with what
    /// they have.
    async fn stop_warm(&self);
    /// Joins the parts in `dir` into its clip, within a deadline.
    async fn finalize(&self, dir: &Path) -> Result<PathBuf, RecordError>;
    /// Rewrites `clip` in place with its index first, when it is last (a
    /// clip written while it recorded); one pass over the file.
    async fn make_faststart(&self, clip: &Path) -> Result<(), RecordError>;
    /// Writes to `out` the first `len` bytes of a faststart form of the
    /// moov-at-end `clip` that goes on with the clip's own bytes from
    /// `from` (so pieces of the clip already stored stay valid), and returns
    /// where those end: the faststart file is `out`, then the clip's bytes
    /// `from..end`. Fails when the index does not fit.
    async fn faststart_start(
        &self,
        clip: &Path,
        from: u64,
        len: u64,
        out: &Path,
    ) -> Result<u64, RecordError>;
    /// What ffprobe says of `clip`, within a deadline.
    async fn probe(&self, clip: &Path) -> Result<MediaInfo, RecordError>;
    /// Writes a JPEG of `clip` at `at_sec` to `out`, within a deadline.
    async fn thumbnail(&self, clip: &Path, at_sec: f64, out: &Path) -> Result<(), RecordError>;
    /// Stops the ffmpegs a crashed run left behind (ours by pid, start time
    /// and command line); returns how many.
    async fn stop_orphans(&self) -> usize;
    /// The takes' folders on disk, by name.
    fn takes_on_disk(&self) -> Vec<(String, PathBuf)>;
    /// The folder a take named `take` is recorded into (made by
    /// [`Capture::record`]; a rebuild fills it from the store).
    fn take_dir(&self, take: &str) -> PathBuf;
    /// The parts of the take in `dir` numbered `from` or later that are
    /// closed (a later part exists; every part once `ended`), in order,
    /// with their timestamps.
    fn closed_parts(&self, dir: &Path, from: u32, ended: bool) -> Vec<crate::PartFile>;
    /// Free bytes where takes are written.
    fn free_bytes(&self) -> Option<u64>;
    fn warm_stats(&self) -> WarmStats;
    /// The link of each warm camera.
    fn warm_links(&self) -> Vec<WarmLink>;
    /// Connects to the camera for a few seconds and measures what it
    /// sends (codecs, size, frame rate, keyframe interval), within a
    /// deadline. A refusal is [`crate::RecordErrorKind::Refused`].
    async fn probe_stream(&self, camera: &Camera) -> Result<StreamFacts, RecordError>;
}

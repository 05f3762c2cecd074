//! Settings of the recorder, with defaults that suit a LAN camera.

use std::{path::PathBuf, time::Duration};

#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Starts ffmpeg for recordings and rings (scripted in unit tests).
    pub(crate) launcher: std::sync::Arc<dyn crate::launcher::Launcher>,
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    /// Where recordings are written while they run (one folder each).
    pub record_dir: PathBuf,
    /// RTSP socket timeout: a silent camera fails after about this long
    /// (ffmpeg's `-timeout`, which 5.x takes in microseconds).
    pub io_timeout: Duration,
    /// How long a start may take to write its first frame.
    pub first_frame_timeout: Duration,
    /// How long a stopping ffmpeg may take to finalize before SIGKILL. Must
    /// exceed `io_timeout`: ffmpeg reads `q` only when its read returns.
    pub stop_timeout: Duration,
    /// A run that has written media and then writes nothing for this long
    /// has stalled (a frozen camera keeping its socket open, audio holding
    /// the muxer) and is restarted, whatever ffmpeg's socket timeout says.
    pub stall_timeout: Duration,
    /// Length of the MPEG-TS parts (cut at keyframes, so at least one GOP).
    pub segment_seconds: u32,
    /// After a camera drops, keep retrying this long before finishing with
    /// what was recorded.
    pub reconnect_window: Duration,
    /// A recording stops by itself at this length.
    pub max_duration: Duration,
    /// Longest a join of the parts into a clip may take (a copy, no
    /// re-encoding: an hour of 1080p takes seconds) before ffmpeg is killed.
    pub join_timeout: Duration,
    /// Longest an ffprobe of a clip, or the making of its thumbnail, may
    /// take before the tool is killed.
    pub probe_timeout: Duration,
    /// How much of a camera's stream a probe reads: two keyframes of a
    /// "smart codec" camera (4 s GOP) fit in it.
    pub stream_probe_window: Duration,
    /// Write each take's clip while it records, from its parts as they
    /// close (`remux`): a moov-at-end MP4 ready moments after the take
    /// ends, whose bytes can be stored during the recording. Off: the parts
    /// are joined into a faststart MP4 at the end.
    pub stream_clip: bool,
}

impl RecorderConfig {
    pub fn new(ffmpeg: PathBuf, ffprobe: PathBuf, record_dir: PathBuf) -> Self {
        Self {
            launcher: std::sync::Arc::new(crate::launcher::OsLauncher),
            ffmpeg,
            ffprobe,
            record_dir,
            io_timeout: Duration::from_secs(5),
            first_frame_timeout: Duration::from_secs(15),
            stop_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            segment_seconds: 2,
            reconnect_window: Duration::from_secs(30),
            max_duration: Duration::from_secs(3600),
            join_timeout: Duration::from_secs(300),
            probe_timeout: Duration::from_secs(30),
            stream_probe_window: Duration::from_secs(9),
            stream_clip: false,
        }
    }
}

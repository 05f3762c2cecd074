//! Why a recording failed. Messages are meant for users: they name the
//! camera's problem, never its password.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("cannot run ffmpeg: {0}")]
    Spawn(String),
    #[error("camera unreachable: {0}")]
    CameraUnreachable(String),
    #[error("nothing was recorded: {0}")]
    NoMedia(String),
    #[error("cannot finalize the recording: {0}")]
    Finalize(String),
    #[error("cannot probe the recording: {0}")]
    Probe(String),
    #[error("recording files: {0}")]
    Io(String),
}

impl From<std::io::Error> for RecordError {
    fn from(e: std::io::Error) -> Self {
        RecordError::Io(e.to_string())
    }
}

//! Why a recording (or one of the tools that finish it) failed, as a kind
//! callers can act on and a message meant for users: it names the camera's
//! problem, never its password.

use std::{fmt, time::Duration};

/// What went wrong, so a caller can decide without reading the message:
/// the api answers a start failure by it, the application decides by it
/// whether the parts on disk are worth keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordErrorKind {
    /// ffmpeg or ffprobe could not be started (missing, not executable).
    Spawn,
    /// The camera could not be reached, or went away for good.
    CameraUnreachable,
    /// The camera answered and refused: wrong credentials (401) or no
    /// access (403).
    Refused,
    /// The camera answered, but no media reached disk.
    NoMedia,
    /// The parts could not be joined into a clip.
    Finalize,
    /// The clip could not be read back.
    Probe,
    /// A tool ran past its deadline and was killed.
    Timeout,
    /// The recording's files or folder.
    Io,
}

impl RecordErrorKind {
    /// Whether a take that failed so recorded nothing worth keeping.
    pub fn nothing_recorded(self) -> bool {
        matches!(
            self,
            Self::CameraUnreachable | Self::Refused | Self::NoMedia | Self::Spawn
        )
    }

    /// A stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Spawn => "spawn",
            Self::CameraUnreachable => "camera_unreachable",
            Self::Refused => "refused",
            Self::NoMedia => "no_media",
            Self::Finalize => "finalize",
            Self::Probe => "probe",
            Self::Timeout => "timeout",
            Self::Io => "io",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Spawn => "cannot run ffmpeg",
            Self::CameraUnreachable | Self::Refused => "camera unreachable",
            Self::NoMedia => "nothing was recorded",
            Self::Finalize => "cannot finalize the recording",
            Self::Probe => "cannot probe the recording",
            Self::Timeout => "a recording tool timed out",
            Self::Io => "recording files",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RecordError {
    kind: RecordErrorKind,
    message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.describe(), self.message)
    }
}

impl RecordError {
    pub fn new(kind: RecordErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> RecordErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn spawn(m: impl Into<String>) -> Self {
        Self::new(RecordErrorKind::Spawn, m)
    }
    pub fn camera_unreachable(m: impl Into<String>) -> Self {
        Self::new(RecordErrorKind::CameraUnreachable, m)
    }
    pub fn refused(m: impl Into<String>) -> Self {
        Self::new(RecordErrorKind::Refused, m)
    }
    pub fn no_media(m: impl Into<String>) -> Self {
        Self::new(RecordErrorKind::NoMedia, m)
    }
    pub fn finalize(m: impl Into<String>) -> Self {
        Self::new(RecordErrorKind::Finalize, m)
    }
    pub fn probe(m: impl Into<String>) -> Self {
        Self::new(RecordErrorKind::Probe, m)
    }
    pub fn io(m: impl Into<String>) -> Self {
        Self::new(RecordErrorKind::Io, m)
    }
    /// `program` was killed after running `after`.
    pub fn timeout(program: &str, after: Duration) -> Self {
        Self::new(
            RecordErrorKind::Timeout,
            format!("{program} did not finish within {} s", after.as_secs_f64()),
        )
    }
}

impl From<std::io::Error> for RecordError {
    fn from(e: std::io::Error) -> Self {
        Self::io(e.to_string())
    }
}

/// How a failure to start recording is answered: the server's own files
/// are its fault (500); a tool it cannot run, a camera it cannot reach or
/// a deadline passed are unavailability a client may retry (503).
impl From<RecordError> for crate::Error {
    fn from(e: RecordError) -> Self {
        match e.kind() {
            RecordErrorKind::Io => crate::Error::internal(e.to_string()),
            _ => crate::Error::unavailable(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_kind_then_the_detail() {
        let e = RecordError::camera_unreachable("connection refused");
        assert_eq!(e.to_string(), "camera unreachable: connection refused");
        assert_eq!(e.kind().label(), "camera_unreachable");
        let t = RecordError::timeout("ffprobe", Duration::from_millis(1500));
        assert_eq!(t.kind(), RecordErrorKind::Timeout);
        assert!(
            t.to_string()
                .contains("ffprobe did not finish within 1.5 s"),
            "{t}"
        );
    }

    #[test]
    fn start_failures_map_by_kind() {
        use crate::ErrorKind;
        let io: crate::Error = RecordError::io("disk full").into();
        assert_eq!(io.kind(), ErrorKind::Internal);
        for e in [
            RecordError::spawn("no ffmpeg"),
            RecordError::camera_unreachable("ring stopped"),
            RecordError::timeout("ffmpeg", Duration::from_secs(1)),
        ] {
            assert_eq!(crate::Error::from(e).kind(), ErrorKind::Unavailable);
        }
    }
}

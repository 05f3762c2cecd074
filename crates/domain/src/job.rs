//! Durable background work: what is left to do for a recording after its
//! ffmpeg has stopped. Jobs live in the database so a restart (or another
//! instance) resumes them; a worker claims one with a lease, renews the lease
//! while it works, and either finishes it or puts it back with a delay.

use crate::{ids::JobId, PlaybackId};
use std::{fmt, str::FromStr};
use time::OffsetDateTime;

/// What a job does for its playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// The parts are on disk but not joined (a crash interrupted the
    /// recording): join them, then upload.
    Finalize,
    /// The clip is joined and probed: upload it and its thumbnail.
    Upload,
    /// The take's folder was lost with its disk: fetch the segments
    /// stored while it recorded into the folder, then finalize.
    Rebuild,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Finalize => "FINALIZE",
            JobKind::Upload => "UPLOAD",
            JobKind::Rebuild => "REBUILD",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "FINALIZE" => Ok(JobKind::Finalize),
            "UPLOAD" => Ok(JobKind::Upload),
            "REBUILD" => Ok(JobKind::Rebuild),
            other => Err(format!("unknown job kind {other:?}")),
        }
    }
}

/// A job to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub playback_id: PlaybackId,
    pub kind: JobKind,
    /// The recording's working folder.
    pub dir: String,
    /// Carried into the playback's `error` when it completes (e.g. the
    /// camera dropped during the recording).
    pub note: Option<String>,
}

/// A stored job, as a worker sees it after claiming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub playback_id: PlaybackId,
    pub kind: JobKind,
    pub dir: String,
    pub note: Option<String>,
    /// Claims so far, this one included.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_text() {
        for k in [JobKind::Finalize, JobKind::Upload, JobKind::Rebuild] {
            assert_eq!(k.as_str().parse::<JobKind>(), Ok(k));
        }
        assert!("upload".parse::<JobKind>().is_err());
    }
}

//! The one playback lifecycle: what happened to a recording, and the
//! status changes it makes. This is the only code outside persistence that
//! writes a playback's status; use cases, the take driver, the upload jobs
//! and start-up recovery all report here.
//!
//! The table ([`steps`]) walks through the states in between, so events
//! that raced still land: a take can finish before its first frame was
//! reported (PENDING → RECORDING → PROCESSING). Each step is one
//! [`PlaybackRepo::transition`], which checks it against
//! [`RecordingStatus::transition`] in the same statement.

use std::{path::Path, sync::Arc, time::SystemTime};
use time::OffsetDateTime;
use vigil_domain::{
    ports::{PlaybackRepo, Result},
    Error, Gap, MediaInfo, Playback, PlaybackId, PlaybackUpdate, RecordingStatus,
};

/// What happened to a playback's recording.
#[derive(Debug, Clone, PartialEq)]
pub enum Happened {
    /// The first media is on disk in `dir`, filmed at `since`.
    MediaStarted { since: SystemTime, dir: String },
    /// Someone asked the recording to stop (an event ended, a manual stop).
    StopAsked,
    /// The take ended: its clip is being finalized and stored.
    Stopped,
    /// The server restarted under it: what was recorded is finalized.
    Interrupted,
    /// A part of the clip reached disk (live upload hangs off this); the
    /// status does not change.
    SegmentWritten,
    /// The clip and its thumbnail are stored.
    ClipReady {
        video_key: String,
        thumbnail_key: Option<String>,
        media: MediaInfo,
        /// Something the user should know of the clip (reconnects, missing
        /// metadata).
        note: Option<String>,
        /// Where the clip skips time the camera was away.
        gaps: Vec<Gap>,
    },
    /// It cannot be finished; `kept` is where its files stay on disk.
    Failed {
        reason: String,
        kept: Option<String>,
    },
}

/// The statuses a playback in `from` goes through when `what` happens, in
/// order; `None` when it cannot happen from there (a conflict: the playback
/// was finished some other way).
pub fn steps(from: RecordingStatus, what: &Happened) -> Option<&'static [RecordingStatus]> {
    use Happened as H;
    use RecordingStatus::*;
    Some(match (from, what) {
        (_, H::SegmentWritten) => &[],
        (Pending, H::MediaStarted { .. }) => &[Recording],
        (Recording, H::MediaStarted { .. }) => &[],
        (_, H::MediaStarted { .. }) => return None,
        // Before the first frame a stop changes nothing yet: the take's end
        // (clip or no media) decides.
        (Recording, H::StopAsked) => &[Processing],
        (_, H::StopAsked) => &[],
        (Pending, H::Stopped | H::Interrupted) => &[Recording, Processing],
        (Recording, H::Stopped | H::Interrupted) => &[Processing],
        (Processing, H::Stopped | H::Interrupted) => &[],
        (_, H::Stopped | H::Interrupted) => return None,
        (Pending, H::ClipReady { .. }) => &[Recording, Processing, Completed],
        (Recording, H::ClipReady { .. }) => &[Processing, Completed],
        (Processing, H::ClipReady { .. }) => &[Completed],
        (_, H::ClipReady { .. }) => return None,
        (Pending | Recording | Processing, H::Failed { .. }) => &[Failed],
        (_, H::Failed { .. }) => return None,
    })
}

/// What the last step writes besides the status.
fn update(what: Happened, now: OffsetDateTime) -> PlaybackUpdate {
    match what {
        Happened::MediaStarted { since, dir } => PlaybackUpdate {
            started_at: Some(OffsetDateTime::from(since)),
            local_path: Some(Some(dir)),
            ..Default::default()
        },
        Happened::StopAsked | Happened::Stopped | Happened::Interrupted => PlaybackUpdate {
            ended_at: Some(now),
            ..Default::default()
        },
        Happened::SegmentWritten => PlaybackUpdate::default(),
        Happened::ClipReady {
            video_key,
            thumbnail_key,
            media,
            note,
            gaps,
        } => PlaybackUpdate {
            video_key: Some(video_key),
            thumbnail_key,
            media: Some(media),
            local_path: Some(None),
            error: note,
            gaps: Some(gaps),
            ..Default::default()
        },
        Happened::Failed { reason, kept } => PlaybackUpdate {
            error: Some(reason),
            ended_at: Some(now),
            local_path: Some(kept),
            ..Default::default()
        },
    }
}

/// Writes what happened to playbacks.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    playbacks: Arc<dyn PlaybackRepo>,
}

impl Lifecycle {
    pub fn new(playbacks: Arc<dyn PlaybackRepo>) -> Self {
        Self { playbacks }
    }

    /// Applies `what` to playback `id` and returns it as it now is.
    /// NotFound when it is gone; Conflict when `what` cannot happen from its
    /// status (it was finished some other way).
    pub async fn apply(&self, id: PlaybackId, what: Happened) -> Result<Playback> {
        let p = self
            .playbacks
            .get(id)
            .await?
            .ok_or_else(|| Error::not_found("playback"))?;
        let path = steps(p.status, &what).ok_or_else(|| {
            Error::conflict(format!("playback is {}; {what:?} cannot apply", p.status))
        })?;
        let Some((last, before)) = path.split_last() else {
            return Ok(p);
        };
        for step in before {
            self.playbacks
                .transition(id, *step, PlaybackUpdate::default())
                .await?;
        }
        self.playbacks
            .transition(id, *last, update(what, OffsetDateTime::now_utc()))
            .await
    }

    /// A failure, where a conflict (already finished) or a playback gone is
    /// not an error; returns whether this call failed it.
    pub async fn fail(&self, id: PlaybackId, reason: String, kept: Option<&Path>) -> bool {
        let what = Happened::Failed {
            reason,
            kept: kept.map(|p| p.to_string_lossy().into_owned()),
        };
        match self.apply(id, what).await {
            Ok(_) => true,
            Err(e) => {
                use vigil_domain::ErrorKind::*;
                if !matches!(e.kind(), Conflict | NotFound) {
                    tracing::error!(playback_id = %id, error = %e.chain(), "cannot mark playback FAILED");
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecordingStatus::*;

    fn all() -> Vec<Happened> {
        vec![
            Happened::MediaStarted {
                since: SystemTime::UNIX_EPOCH,
                dir: "d".into(),
            },
            Happened::StopAsked,
            Happened::Stopped,
            Happened::Interrupted,
            Happened::SegmentWritten,
            Happened::ClipReady {
                video_key: "v".into(),
                thumbnail_key: None,
                media: MediaInfo::default(),
                note: None,
                gaps: Vec::new(),
            },
            Happened::Failed {
                reason: "r".into(),
                kept: None,
            },
        ]
    }

    #[test]
    fn the_table() {
        let (media, ask, stop, int, seg, ready, fail) = {
            let a = all();
            (
                a[0].clone(),
                a[1].clone(),
                a[2].clone(),
                a[3].clone(),
                a[4].clone(),
                a[5].clone(),
                a[6].clone(),
            )
        };
        let table: &[(RecordingStatus, &Happened, Option<&[RecordingStatus]>)] = &[
            (Pending, &media, Some(&[Recording])),
            (Recording, &media, Some(&[])),
            (Processing, &media, None),
            (Completed, &media, None),
            (Pending, &ask, Some(&[])),
            (Recording, &ask, Some(&[Processing])),
            (Processing, &ask, Some(&[])),
            (Failed, &ask, Some(&[])),
            (Pending, &stop, Some(&[Recording, Processing])),
            (Recording, &stop, Some(&[Processing])),
            (Processing, &stop, Some(&[])),
            (Completed, &stop, None),
            (Pending, &int, Some(&[Recording, Processing])),
            (Failed, &int, None),
            (Recording, &seg, Some(&[])),
            (Completed, &seg, Some(&[])),
            (Pending, &ready, Some(&[Recording, Processing, Completed])),
            (Recording, &ready, Some(&[Processing, Completed])),
            (Processing, &ready, Some(&[Completed])),
            (Completed, &ready, None),
            (Failed, &ready, None),
            (Pending, &fail, Some(&[Failed])),
            (Recording, &fail, Some(&[Failed])),
            (Processing, &fail, Some(&[Failed])),
            (Completed, &fail, None),
            (Failed, &fail, None),
        ];
        for (from, what, want) in table {
            assert_eq!(steps(*from, what), *want, "{from:?} + {what:?}");
        }
    }

    /// Every path the table gives is one the status graph allows, step by
    /// step, so the repository never refuses a step the lifecycle chose.
    #[test]
    fn every_path_is_allowed_by_the_status_graph() {
        for from in [Pending, Recording, Processing, Completed, Failed] {
            for what in all() {
                let Some(path) = steps(from, &what) else {
                    continue;
                };
                let mut at = from;
                for step in path {
                    at = at
                        .transition(*step)
                        .unwrap_or_else(|e| panic!("{from:?} + {what:?}: {e}"));
                }
            }
        }
    }

    #[test]
    fn the_last_step_carries_what_happened() {
        let now = OffsetDateTime::now_utc();
        let u = update(
            Happened::Failed {
                reason: "camera gone".into(),
                kept: Some("/rec/x".into()),
            },
            now,
        );
        assert_eq!(u.error.as_deref(), Some("camera gone"));
        assert_eq!(u.local_path, Some(Some("/rec/x".into())));
        assert_eq!(u.ended_at, Some(now));
        let u = update(
            Happened::ClipReady {
                video_key: "playbacks/x/video.mp4".into(),
                thumbnail_key: None,
                media: MediaInfo::default(),
                note: Some("reconnected".into()),
                gaps: Vec::new(),
            },
            now,
        );
        assert_eq!(u.local_path, Some(None), "the clip left the disk");
        assert_eq!(u.error.as_deref(), Some("reconnected"));
        assert_eq!(u.ended_at, None);
    }
}

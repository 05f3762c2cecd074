//! Merge windows (a camera's `mergeSeconds`): after the last event of a
//! clip ends, the clip stays open for a while, and a new event on the same
//! camera joins it instead of starting another. A flapping detector (on,
//! off, on again a second later) so gives one clip.
//!
//! A merging recording is started without a post-roll of its own; the
//! application keeps it instead: when the last event ends, the clip goes
//! on for `max(postRoll, mergeSeconds)`, then it is stopped at once. An
//! event within `mergeSeconds` of the end cancels that stop.
//!
//! What is held here is in memory, as the takes it is about are: a restart
//! finishes every take anyway.

use crate::service::lock;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use vigil_domain::PlaybackId;

/// One merging recording.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// The longest post-roll its events asked for.
    post_roll: Duration,
    merge: Duration,
    /// Since when no event of it has been open, and which end that was (a
    /// stop scheduled for an older end does nothing).
    ended: Option<(Instant, u64)>,
}

/// The recordings of cameras with a merge window, by playback.
#[derive(Debug, Clone, Default)]
pub(crate) struct MergeWindows {
    open: Arc<Mutex<HashMap<PlaybackId, Window>>>,
    ends: Arc<std::sync::atomic::AtomicU64>,
}

/// A stop to run later, unless an event joins first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Linger {
    pub after: Duration,
    end: u64,
}

impl MergeWindows {
    /// A recording of a merging camera started; `alive` says which of the
    /// ones held are still running (the others are forgotten).
    pub fn opened(
        &self,
        id: PlaybackId,
        post_roll: Duration,
        merge: Duration,
        alive: impl Fn(PlaybackId) -> bool,
    ) {
        let mut open = lock(&self.open);
        open.retain(|pid, _| alive(*pid));
        open.insert(
            id,
            Window {
                post_roll,
                merge,
                ended: None,
            },
        );
    }

    /// Whether a new event may join `id`: it is merging, and either one of
    /// its events is open or the last ended less than `mergeSeconds` ago.
    pub fn joinable(&self, id: PlaybackId, events_open: bool) -> bool {
        lock(&self.open).get(&id).is_some_and(|w| match w.ended {
            None => events_open,
            Some((at, _)) => at.elapsed() < w.merge,
        })
    }

    pub fn is_merging(&self, id: PlaybackId) -> bool {
        lock(&self.open).contains_key(&id)
    }

    /// An event joined: the pending stop (if any) is off, and the clip's
    /// post-roll is the longest asked for.
    pub fn joined(&self, id: PlaybackId, post_roll: Duration) {
        if let Some(w) = lock(&self.open).get_mut(&id) {
            w.ended = None;
            w.post_roll = w.post_roll.max(post_roll);
        }
    }

    /// The last open event of `id` ended: when to stop it, unless an event
    /// joins first. None when `id` is not merging.
    pub fn ended(&self, id: PlaybackId) -> Option<Linger> {
        let end = self.ends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut open = lock(&self.open);
        let w = open.get_mut(&id)?;
        w.ended = Some((Instant::now(), end));
        Some(Linger {
            after: w.post_roll.max(w.merge),
            end,
        })
    }

    /// Whether the stop of `linger` is still due (no event joined since),
    /// forgetting `id` if it is.
    pub fn due(&self, id: PlaybackId, linger: Linger) -> bool {
        let mut open = lock(&self.open);
        let due = open
            .get(&id)
            .is_some_and(|w| w.ended.map(|(_, e)| e) == Some(linger.end));
        if due {
            open.remove(&id);
        }
        due
    }

    /// Stopped or deleted some other way.
    pub fn forget(&self, id: PlaybackId) {
        lock(&self.open).remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_join_cancels_the_pending_stop_and_a_later_end_schedules_anew() {
        let m = MergeWindows::default();
        let id = PlaybackId::new();
        m.opened(id, 2 * S, 30 * S, |_| true);
        assert!(m.joinable(id, true), "an open event: joinable");
        assert!(
            !m.joinable(id, false),
            "merging, but neither open nor ended"
        );
        let first = m.ended(id).unwrap();
        assert_eq!(first.after, 30 * S, "max(post-roll, merge)");
        assert!(m.joinable(id, false), "within the merge window");
        m.joined(id, 40 * S);
        assert!(!m.due(id, first), "the join called the stop off");
        let second = m.ended(id).unwrap();
        assert_eq!(second.after, 40 * S, "the joined event's longer post-roll");
        assert!(m.due(id, second));
        assert!(!m.is_merging(id), "forgotten once stopped");
        assert!(!m.due(id, second), "due once only");
    }

    #[test]
    fn a_window_closes_after_merge_seconds() {
        let m = MergeWindows::default();
        let id = PlaybackId::new();
        m.opened(id, 5 * S, Duration::ZERO, |_| true);
        m.ended(id).unwrap();
        assert!(
            !m.joinable(id, false),
            "a zero window joins nothing after the end"
        );
    }

    #[test]
    fn recordings_that_ended_otherwise_are_forgotten() {
        let m = MergeWindows::default();
        let (a, b) = (PlaybackId::new(), PlaybackId::new());
        m.opened(a, S, S, |_| true);
        m.opened(b, S, S, |pid| pid != a);
        assert!(!m.is_merging(a));
        assert!(m.is_merging(b));
        assert_eq!(m.ended(a), None, "not merging: stopped as usual");
    }
}

//! What part of a camera's stream one recording covers: the run-up before
//! its trigger and the time after its end. The camera's settings give it,
//! an event may override them, and a late detector moves the trigger back.

use crate::Camera;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordWindow {
    /// Video before the trigger; only a warm camera (one with a pre-roll,
    /// whose ring holds its recent video) has any.
    pub pre_roll: Duration,
    /// Video after the end (or a stop).
    pub post_roll: Duration,
    /// When the trigger happened, when before now (a late detector).
    pub trigger: Option<SystemTime>,
}

impl RecordWindow {
    /// The camera's own window, triggered now.
    pub fn of(camera: &Camera) -> Self {
        Self {
            pre_roll: Duration::from_secs(camera.pre_roll.get().into()),
            post_roll: Duration::from_secs(camera.post_roll.get().into()),
            trigger: None,
        }
    }

    /// How long before `now` the clip should start: the pre-roll before
    /// the trigger.
    pub fn reach(&self, now: SystemTime) -> Duration {
        let late = self
            .trigger
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default();
        self.pre_roll + late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_trigger_reaches_further_back() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let w = RecordWindow {
            pre_roll: Duration::from_secs(5),
            post_roll: Duration::ZERO,
            trigger: Some(now - Duration::from_secs(20)),
        };
        assert_eq!(w.reach(now), Duration::from_secs(25));
        let ahead = RecordWindow {
            trigger: Some(now + Duration::from_secs(3)),
            ..w
        };
        assert_eq!(ahead.reach(now), Duration::from_secs(5), "never after now");
        assert_eq!(
            RecordWindow { trigger: None, ..w }.reach(now),
            Duration::from_secs(5)
        );
    }
}

/// The window as stored with a recording handed to another node:
/// `<pre ms> <post ms> <trigger, ms since 1970, or ->`.
impl RecordWindow {
    pub fn to_text(&self) -> String {
        let ms = |d: Duration| d.as_millis().min(u64::MAX.into()) as u64;
        let trigger = self
            .trigger
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or("-".to_owned(), |d| ms(d).to_string());
        format!("{} {} {trigger}", ms(self.pre_roll), ms(self.post_roll))
    }

    /// None for text [`RecordWindow::to_text`] did not write.
    pub fn from_text(s: &str) -> Option<Self> {
        let mut w = s.split(' ');
        let pre = Duration::from_millis(w.next()?.parse().ok()?);
        let post = Duration::from_millis(w.next()?.parse().ok()?);
        let trigger = match w.next()? {
            "-" => None,
            t => Some(SystemTime::UNIX_EPOCH + Duration::from_millis(t.parse().ok()?)),
        };
        w.next().is_none().then_some(Self {
            pre_roll: pre,
            post_roll: post,
            trigger,
        })
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn a_window_reads_back_as_written_to_the_millisecond() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_123);
        for w in [
            RecordWindow {
                pre_roll: Duration::from_secs(5),
                post_roll: Duration::from_millis(2500),
                trigger: Some(at),
            },
            RecordWindow {
                pre_roll: Duration::ZERO,
                post_roll: Duration::ZERO,
                trigger: None,
            },
        ] {
            assert_eq!(RecordWindow::from_text(&w.to_text()), Some(w));
        }
        for bad in ["", "1 2", "1 2 3 4", "a 2 -", "1 2 x"] {
            assert_eq!(RecordWindow::from_text(bad), None, "{bad}");
        }
    }
}

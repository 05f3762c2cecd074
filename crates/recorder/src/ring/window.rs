//! The ring's window: which segments it holds, when each was filmed, and
//! which fall out of it. Pure bookkeeping over what the folder listing
//! says, so it is tested without ffmpeg; the ring reads the folder and
//! deletes what [`Window::expired`] returns.
//!
//! Wall-clock times of segments are ours, not ffmpeg's: a segment starts
//! where the previous one's last write was (the same run) or when it first
//! appeared (a new run), and ends at its last write.

use crate::{args, parts};
use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

/// A ring whose segment grew this recently is warm: a tap is RECORDING at
/// once.
pub(crate) const WARM_WITHIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub n: u32,
    pub path: PathBuf,
    pub start: SystemTime,
    /// `None` while ffmpeg writes it.
    pub end: Option<SystemTime>,
    pub bytes: u64,
}

#[derive(Debug)]
pub(crate) struct Window {
    /// How much video to hold.
    pub keep: Duration,
    pub segments: VecDeque<Segment>,
    /// The next segment found is the first of a run: no previous end to
    /// start at.
    fresh_run: bool,
    last_growth: Option<SystemTime>,
}

impl Window {
    pub fn new(keep: Duration, segments: VecDeque<Segment>) -> Self {
        Self {
            keep,
            segments,
            fresh_run: true,
            last_growth: None,
        }
    }

    /// A new ffmpeg run begins: its first segment starts when it appears.
    pub fn new_run(&mut self) {
        self.fresh_run = true;
    }

    /// The number the next run's first segment gets.
    pub fn next_number(&self) -> u32 {
        self.segments.back().map(|s| s.n + 1).unwrap_or(0)
    }

    /// The number of the newest segment known, to list only from it.
    pub fn last_known(&self) -> Option<u32> {
        self.segments.back().map(|s| s.n)
    }

    /// Takes in a listing of the folder (segment number, path, size) made
    /// at `now`; `mtime` gives a file's last write, which closes the
    /// segment before a new one.
    pub fn observe(
        &mut self,
        listing: Vec<(u32, PathBuf, u64)>,
        now: SystemTime,
        mtime: impl Fn(&Path) -> Option<SystemTime>,
    ) {
        for (n, path, bytes) in listing {
            if let Some(seg) = self.segments.back_mut().filter(|s| s.n == n) {
                if bytes > seg.bytes {
                    seg.bytes = bytes;
                    self.last_growth = Some(now);
                }
                continue;
            }
            // A new segment closes the one before it.
            let mut start = now;
            if let Some(prev) = self.segments.back_mut() {
                if prev.end.is_none() {
                    prev.end = Some(mtime(&prev.path).unwrap_or(now));
                }
                if !self.fresh_run {
                    start = prev.end.unwrap_or(now);
                }
            }
            self.fresh_run = false;
            if bytes > 0 {
                self.last_growth = Some(now);
            }
            self.segments.push_back(Segment {
                n,
                path,
                start,
                end: None,
                bytes,
            });
        }
    }

    /// The run ended: its last segment is closed at `end`.
    pub fn close_last(&mut self, end: SystemTime) {
        if let Some(last) = self.segments.back_mut() {
            if last.end.is_none() {
                last.end = Some(end);
            }
        }
    }

    /// Whether video arrived within [`WARM_WITHIN`] of `now`.
    pub fn grew_within(&self, now: SystemTime) -> bool {
        self.last_growth
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|d| d <= WARM_WITHIN)
    }

    /// When video last arrived.
    pub fn last_growth(&self) -> Option<SystemTime> {
        self.last_growth
    }

    /// How long no video has arrived at `now`, counting from `since` (the
    /// start of the current run) at the earliest.
    pub fn idle_for(&self, since: SystemTime, now: SystemTime) -> Duration {
        let from = self.last_growth.map_or(since, |g| g.max(since));
        now.duration_since(from).unwrap_or_default()
    }

    /// Removes from the window the segments that ended more than `keep`
    /// before `now` (never the newest) and returns their files to delete.
    /// Taps hold links to what they need, so nothing waits for them.
    pub fn expired(&mut self, now: SystemTime) -> Vec<PathBuf> {
        let mut gone = Vec::new();
        while self.segments.len() > 1 {
            let old = self.segments.front().is_some_and(|s| {
                s.end
                    .and_then(|e| now.duration_since(e).ok())
                    .is_some_and(|age| age > self.keep)
            });
            if !old {
                break;
            }
            if let Some(seg) = self.segments.pop_front() {
                gone.push(seg.path);
            }
        }
        gone
    }

    /// Forgets the segments numbered `from` or later (a run whose output
    /// is not worth keeping) and returns their files to delete.
    pub fn drop_from(&mut self, from: u32) -> Vec<PathBuf> {
        let mut gone = Vec::new();
        while self.segments.back().is_some_and(|s| s.n >= from) {
            if let Some(seg) = self.segments.pop_back() {
                gone.push(seg.path);
            }
        }
        gone
    }

    /// Segment files and their total size.
    pub fn disk_usage(&self) -> (usize, u64) {
        (
            self.segments.len(),
            self.segments.iter().map(|s| s.bytes).sum(),
        )
    }
}

/// The segments a previous run left in `dir`, with times from their
/// modification times; those older than `keep` (and anything that is not
/// a segment) are removed.
pub(crate) fn rebuild(
    dir: &Path,
    keep: Duration,
    now: SystemTime,
) -> std::io::Result<VecDeque<Segment>> {
    let on_disk = parts::list(dir)?;
    let mut kept = VecDeque::new();
    let mut prev_end: Option<SystemTime> = None;
    for (n, path, bytes) in on_disk {
        let Some(end) = mtime(&path) else { continue };
        let start = prev_end
            .filter(|p| {
                end.duration_since(*p)
                    .is_ok_and(|d| d < Duration::from_secs(10))
            })
            .unwrap_or_else(|| end - Duration::from_secs(1));
        prev_end = Some(end);
        let fresh = now.duration_since(end).map_or(true, |age| age <= keep);
        if fresh && bytes > 0 {
            kept.push_back(Segment {
                n,
                path,
                start,
                end: Some(end),
                bytes,
            });
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let is_segment = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(args::PART_PREFIX) && n.ends_with(".ts"));
        if !is_segment && entry.file_name() != crate::manifest::FILE {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(kept)
}

pub(crate) fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    fn seg(n: u32, bytes: u64) -> (u32, PathBuf, u64) {
        (n, PathBuf::from(format!("part-{n:05}.ts")), bytes)
    }

    /// Last writes by file name, as the folder would report them.
    fn writes(table: &'static [(&'static str, u64)]) -> impl Fn(&Path) -> Option<SystemTime> {
        move |p| {
            let name = p.to_str()?;
            table.iter().find(|(n, _)| *n == name).map(|(_, t)| at(*t))
        }
    }

    #[test]
    fn segments_of_one_run_start_where_the_previous_ended() {
        let mut w = Window::new(Duration::from_secs(10), VecDeque::new());
        let mt = writes(&[("part-00000.ts", 1), ("part-00001.ts", 2)]);
        w.observe(vec![seg(0, 100)], at(0), &mt);
        w.observe(vec![seg(0, 200), seg(1, 50)], at(1), &mt);
        w.observe(vec![seg(1, 80), seg(2, 10)], at(2), &mt);
        let s: Vec<_> = w.segments.iter().map(|s| (s.n, s.start, s.end)).collect();
        assert_eq!(
            s,
            [
                (0, at(0), Some(at(1))),
                (1, at(1), Some(at(2))),
                (2, at(2), None)
            ]
        );
        assert_eq!(w.segments[0].bytes, 200, "growth is followed");
        assert_eq!(w.next_number(), 3);
    }

    #[test]
    fn a_new_run_starts_when_its_first_segment_appears() {
        let mut w = Window::new(Duration::from_secs(60), VecDeque::new());
        let mt = writes(&[("part-00000.ts", 1)]);
        w.observe(vec![seg(0, 100)], at(0), &mt);
        w.close_last(at(1));
        w.new_run();
        // The camera was away for 20 s.
        w.observe(vec![seg(1, 10)], at(21), &mt);
        assert_eq!(w.segments[1].start, at(21), "not the old run's end");
        assert_eq!(w.segments[0].end, Some(at(1)));
    }

    #[test]
    fn old_segments_expire_but_the_newest_stays() {
        let mut w = Window::new(Duration::from_secs(5), VecDeque::new());
        let mt = writes(&[("part-00000.ts", 1), ("part-00001.ts", 2)]);
        w.observe(vec![seg(0, 1), seg(1, 1), seg(2, 1)], at(0), &mt);
        w.close_last(at(3));
        assert_eq!(w.expired(at(7)), [PathBuf::from("part-00000.ts")]);
        assert_eq!(w.expired(at(100)), [PathBuf::from("part-00001.ts")]);
        assert!(w.expired(at(1000)).is_empty(), "the newest is kept");
        assert_eq!(w.disk_usage(), (1, 1));
    }

    #[test]
    fn a_run_not_worth_keeping_is_forgotten_from_its_first_segment() {
        let mut w = Window::new(Duration::from_secs(60), VecDeque::new());
        w.observe(vec![seg(0, 1), seg(1, 1), seg(2, 1)], at(0), writes(&[]));
        assert_eq!(
            w.drop_from(1),
            [
                PathBuf::from("part-00002.ts"),
                PathBuf::from("part-00001.ts")
            ]
        );
        assert_eq!(w.next_number(), 1);
        assert!(w.drop_from(5).is_empty());
    }

    #[test]
    fn idle_time_counts_from_the_last_growth_or_the_run_start() {
        let mut w = Window::new(Duration::from_secs(5), VecDeque::new());
        assert_eq!(w.idle_for(at(10), at(13)), Duration::from_secs(3));
        w.observe(vec![seg(0, 10)], at(20), writes(&[]));
        assert_eq!(w.idle_for(at(10), at(25)), Duration::from_secs(5));
        assert_eq!(
            w.idle_for(at(30), at(31)),
            Duration::from_secs(1),
            "a new run"
        );
    }

    #[test]
    fn warm_means_video_grew_in_the_last_two_seconds() {
        let mut w = Window::new(Duration::from_secs(5), VecDeque::new());
        let mt = writes(&[]);
        assert!(!w.grew_within(at(0)));
        w.observe(vec![seg(0, 0)], at(0), &mt);
        assert!(!w.grew_within(at(0)), "an empty segment is no video");
        w.observe(vec![seg(0, 10)], at(1), &mt);
        assert!(w.grew_within(at(3)));
        assert!(!w.grew_within(at(4)));
    }

    fn touch(dir: &Path, n: u32, bytes: usize, age: Duration) -> PathBuf {
        let p = dir.join(format!("{}{n:05}.ts", args::PART_PREFIX));
        std::fs::write(&p, vec![0u8; bytes]).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
        p
    }

    #[test]
    fn rebuild_keeps_recent_segments_and_drops_stale_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), 3, 10, Duration::from_secs(120));
        touch(dir.path(), 4, 10, Duration::from_secs(3));
        touch(dir.path(), 5, 10, Duration::from_secs(2));
        touch(dir.path(), 6, 0, Duration::from_secs(1));
        std::fs::write(dir.path().join("parts.ffconcat"), "x").unwrap();
        let kept = rebuild(dir.path(), Duration::from_secs(10), SystemTime::now()).unwrap();
        let ns: Vec<u32> = kept.iter().map(|s| s.n).collect();
        assert_eq!(ns, [4, 5], "stale (3) and empty (6) segments go");
        assert!(!dir.path().join("part-00003.ts").exists());
        assert!(!dir.path().join("parts.ffconcat").exists());
        // Contiguous segments start where the previous one ended.
        assert_eq!(kept[1].start, kept[0].end.unwrap());
        assert!(kept.iter().all(|s| s.end.is_some()), "all are closed");
    }
}

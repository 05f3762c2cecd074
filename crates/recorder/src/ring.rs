//! The pre-roll ring: one warm ffmpeg per camera writing short MPEG-TS
//! segments (cut at keyframes, codec copy) into `record_dir/ring/<name>/`,
//! the oldest deleted once they fall out of the window to keep.
//!
//! A recording taken from the ring (a *tap*) never starts its own ffmpeg:
//! it hard-links the segments covering `trigger − pre-roll … end +
//! post-roll` into its own folder as they appear, the one being written
//! included (a hard link shares the file, so it keeps growing). The
//! folder is then an ordinary recording folder: joined, probed, queued and
//! recovered like any other. Taps on one camera share segments without
//! copying, and since every tap holds its own links the ring deletes its
//! names on time whatever uploads are doing: its disk use stays bounded.
//!
//! Wall-clock times of segments are ours, not ffmpeg's: a segment starts
//! where the previous one's last write was (the same run) or when it first
//! appeared (a new run), and ends at its last write. After a restart they
//! are rebuilt from the files' modification times.

use crate::{
    args::{self, AudioMode},
    manifest::Manifest,
    parts, RecordError, RecorderConfig, RecorderEvent, Recording,
};
use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
    sync::{mpsc, oneshot, watch},
    time::Instant,
};
use vigil_domain::RtspUrl;

/// Rings live under this folder of `record_dir`.
pub const RING_DIR: &str = "ring";
/// How often the ring looks for new segments: the delay before a tap sees
/// one, and the resolution of its times.
const SCAN_EVERY: Duration = Duration::from_millis(100);
/// A ring whose segment grew this recently is warm: a tap is RECORDING at
/// once.
const WARM_WITHIN: Duration = Duration::from_secs(2);

/// A camera kept connected, holding its last seconds of video. Cheap to
/// clone; the ffmpeg stops when [`Ring::stop`] is called or the last clone
/// is dropped.
#[derive(Debug, Clone)]
pub struct Ring {
    shared: Arc<Shared>,
    owner: Arc<Owner>,
}

#[derive(Debug)]
struct Owner {
    stop: watch::Sender<bool>,
    exited: watch::Receiver<bool>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

#[derive(Debug)]
struct Shared {
    cfg: Arc<RecorderConfig>,
    name: String,
    url: RtspUrl,
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    keep: Duration,
    segments: VecDeque<Segment>,
    taps: Vec<Tap>,
    /// An ffmpeg run is going on.
    running: bool,
    /// The next segment found is the first of a run: no previous end to
    /// start at.
    fresh_run: bool,
    /// The ring has stopped for good.
    stopped: bool,
    last_growth: Option<SystemTime>,
}

#[derive(Debug, Clone)]
struct Segment {
    n: u32,
    path: PathBuf,
    start: SystemTime,
    /// `None` while ffmpeg writes it.
    end: Option<SystemTime>,
    bytes: u64,
}

#[derive(Debug)]
struct Tap {
    id: String,
    dir: PathBuf,
    from: SystemTime,
    until: Option<SystemTime>,
    next_part: u32,
    /// The highest segment number looked at.
    seen: Option<u32>,
    /// Segment numbers linked into the tap.
    linked: Vec<u32>,
    media: bool,
    reconnects: u32,
    events: mpsc::UnboundedSender<RecorderEvent>,
    media_since: crate::MediaSince,
    done: Option<oneshot::Sender<u32>>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Ring {
    /// Connects `url` and keeps the last `keep` of it in
    /// `record_dir/ring/<name>/`. Segments a previous run left there are
    /// kept while they are recent and removed otherwise.
    pub(crate) fn start(
        cfg: Arc<RecorderConfig>,
        name: &str,
        url: RtspUrl,
        keep: Duration,
    ) -> Result<Ring, RecordError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(RecordError::io(format!("invalid ring name {name:?}")));
        }
        let dir = cfg.record_dir.join(RING_DIR).join(name);
        std::fs::create_dir_all(&dir)?;
        let segments = rebuild(&dir, keep, SystemTime::now())?;
        let shared = Arc::new(Shared {
            cfg,
            name: name.to_owned(),
            url,
            dir,
            state: Mutex::new(State {
                keep,
                segments,
                taps: Vec::new(),
                running: false,
                fresh_run: true,
                stopped: false,
                last_growth: None,
            }),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (exited_tx, exited_rx) = watch::channel(false);
        let span = tracing::info_span!("ring", camera_id = %name);
        tokio::spawn(tracing::Instrument::instrument(
            shared.clone().run(stop_rx, exited_tx),
            span,
        ));
        Ok(Ring {
            shared,
            owner: Arc::new(Owner {
                stop: stop_tx,
                exited: exited_rx,
            }),
        })
    }

    pub fn url(&self) -> &RtspUrl {
        &self.shared.url
    }

    pub fn set_keep(&self, keep: Duration) {
        lock(&self.shared.state).keep = keep;
    }

    /// Whether video is arriving now, so a tap has media at once.
    pub fn is_warm(&self) -> bool {
        let st = lock(&self.shared.state);
        st.running && grew_within(&st, SystemTime::now())
    }

    /// The ring's segment files and their total size, for checks and
    /// telemetry.
    pub fn disk_usage(&self) -> (usize, u64) {
        let st = lock(&self.shared.state);
        (st.segments.len(), st.segments.iter().map(|s| s.bytes).sum())
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Asks the ffmpeg to stop; taps still open end with what they have.
    pub fn stop(&self) {
        self.owner.stop.send_replace(true);
    }

    /// Stops the ring and waits until its ffmpeg has exited.
    pub async fn stop_and_wait(&self) {
        self.stop();
        let mut exited = self.owner.exited.clone();
        let _ = exited.wait_for(|e| *e).await;
    }

    /// Stops the ring and removes its folder.
    pub async fn remove(&self) {
        self.stop_and_wait().await;
        let _ = tokio::fs::remove_dir_all(&self.shared.dir).await;
    }

    /// Records `record_dir/<id>/` from the ring: the segments from now −
    /// `pre_roll` until the stop + `post_roll`. With a warm ring the first
    /// event, [`RecorderEvent::MediaWritten`], is already waiting.
    pub fn record(
        &self,
        id: &str,
        pre_roll: Duration,
        post_roll: Duration,
    ) -> Result<Recording, RecordError> {
        if lock(&self.shared.state).stopped {
            return Err(RecordError::camera_unreachable(
                "the camera's ring has stopped",
            ));
        }
        let dir = crate::prepare_dir(&self.shared.cfg, id)?;
        let (recording, feed) = Recording::open(id, dir.clone());
        let (done_tx, done_rx) = oneshot::channel();
        let now = SystemTime::now();
        {
            let mut st = lock(&self.shared.state);
            self.shared.scan(&mut st, now);
            st.taps.push(Tap {
                id: id.to_owned(),
                dir: dir.clone(),
                from: now.checked_sub(pre_roll).unwrap_or(now),
                until: None,
                next_part: 0,
                seen: None,
                linked: Vec::new(),
                media: false,
                reconnects: 0,
                events: feed.events.clone(),
                media_since: feed.media_since,
                done: Some(done_tx),
            });
            self.shared.link(&mut st);
        }
        let tap = TapTask {
            shared: self.shared.clone(),
            _ring: self.owner.clone(),
            id: id.to_owned(),
            dir,
            post_roll,
            stop: feed.stop,
            events: feed.events,
            done: done_rx,
        };
        let span =
            tracing::info_span!("recorder", playback_id = %id, camera_id = %self.shared.name);
        tokio::spawn(tracing::Instrument::instrument(tap.run(), span));
        Ok(recording)
    }
}

fn grew_within(st: &State, now: SystemTime) -> bool {
    st.last_growth
        .and_then(|t| now.duration_since(t).ok())
        .is_some_and(|d| d <= WARM_WITHIN)
}

/// The segments a previous run left in `dir`, with times from their
/// modification times; those older than `keep` (and anything that is not
/// a segment) are removed.
fn rebuild(dir: &Path, keep: Duration, now: SystemTime) -> std::io::Result<VecDeque<Segment>> {
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

impl Shared {
    /// Takes in what ffmpeg wrote since the last look.
    fn scan(&self, st: &mut State, now: SystemTime) {
        let last_known = st.segments.back().map(|s| s.n);
        let Ok(on_disk) = parts::list_from(&self.dir, last_known) else {
            return;
        };
        for (n, path, bytes) in on_disk {
            if let Some(seg) = st.segments.back_mut().filter(|s| s.n == n) {
                if bytes > seg.bytes {
                    seg.bytes = bytes;
                    st.last_growth = Some(now);
                }
                continue;
            }
            // A new segment closes the one before it.
            let mut start = now;
            if let Some(prev) = st.segments.back_mut() {
                if prev.end.is_none() {
                    prev.end = Some(mtime(&prev.path).unwrap_or(now));
                }
                if !st.fresh_run {
                    start = prev.end.unwrap_or(now);
                }
            }
            st.fresh_run = false;
            if bytes > 0 {
                st.last_growth = Some(now);
            }
            st.segments.push_back(Segment {
                n,
                path,
                start,
                end: None,
                bytes,
            });
        }
    }

    /// Links new segments into the taps that need them, reports first
    /// media, and ends the taps whose last segment is complete.
    fn link(&self, st: &mut State) {
        let now = SystemTime::now();
        let running = st.running;
        let stopped = st.stopped;
        let io_grace = self.cfg.io_timeout * 2;
        let segments = &st.segments;
        for tap in st.taps.iter_mut() {
            let seen = tap.seen;
            for seg in segments
                .iter()
                .filter(|s| seen.is_none_or(|seen| s.n > seen))
            {
                if tap.until.is_some_and(|u| seg.start >= u) {
                    break;
                }
                // Only a closed segment may be passed over: an open one
                // still grows into the window.
                if seg.end.is_some_and(|e| e <= tap.from) {
                    tap.seen = Some(seg.n);
                    continue;
                }
                let to = tap
                    .dir
                    .join(format!("{}{:05}.ts", args::PART_PREFIX, tap.next_part));
                match std::fs::hard_link(&seg.path, &to) {
                    Ok(()) => {
                        tap.next_part += 1;
                        tap.linked.push(seg.n);
                    }
                    Err(e) => {
                        tracing::warn!(playback_id = %tap.id, error = %e, "cannot link a ring segment");
                    }
                }
                tap.seen = Some(seg.n);
            }
            if !tap.media {
                let linked = || segments.iter().filter(|s| tap.linked.contains(&s.n));
                if linked().any(|s| s.bytes > 0) {
                    tap.media = true;
                    if let Some(first) = linked().map(|s| s.start).min() {
                        let _ = tap.media_since.set(first);
                    }
                    let _ = tap.events.send(RecorderEvent::MediaWritten);
                }
            }
            let Some(until) = tap.until else { continue };
            // Complete once a segment starting after `until` exists (the
            // ones before it are closed), or when no more video comes.
            let cut = segments.iter().any(|s| s.start >= until);
            let gone =
                !running && (stopped || now.duration_since(until).is_ok_and(|d| d > io_grace));
            if cut || gone || stopped {
                if let Some(done) = tap.done.take() {
                    let _ = done.send(tap.reconnects);
                }
            }
        }
        st.taps.retain(|t| t.done.is_some());
    }

    /// Deletes segments that fell out of the window. Taps hold links to
    /// what they need, so nothing waits for them.
    fn evict(&self, st: &mut State, now: SystemTime) {
        while st.segments.len() > 1 {
            let old = st.segments.front().is_some_and(|s| {
                s.end
                    .and_then(|e| now.duration_since(e).ok())
                    .is_some_and(|age| age > st.keep)
            });
            if !old {
                break;
            }
            if let Some(seg) = st.segments.pop_front() {
                let _ = std::fs::remove_file(&seg.path);
            }
        }
    }

    fn tick(&self) {
        self.tick_locked(&mut lock(&self.state));
    }

    /// Keeps ffmpeg running until stopped, reconnecting with backoff.
    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>, exited: watch::Sender<bool>) {
        if let Some(m) = Manifest::read(&self.dir) {
            if m.process_is_ours(&self.dir) {
                crate::orphans::stop_orphan(m.pid, &self.dir, self.cfg.stop_timeout).await;
            }
            Manifest::remove(&self.dir);
        }
        let mut audio = AudioMode::Copy;
        let mut attempt = 0u32;
        while !*stop.borrow() {
            let started = Instant::now();
            let reason = self.run_once(&mut stop, &mut audio).await;
            {
                let mut st = lock(&self.state);
                st.running = false;
                self.tick_locked(&mut st);
                if let Some(last) = st.segments.back_mut() {
                    if last.end.is_none() {
                        last.end = Some(mtime(&last.path).unwrap_or_else(SystemTime::now));
                    }
                }
                if !*stop.borrow() {
                    for tap in st.taps.iter_mut().filter(|t| t.media && t.until.is_none()) {
                        tap.reconnects += 1;
                        let _ = tap.events.send(RecorderEvent::Reconnecting {
                            attempt: tap.reconnects,
                            reason: reason.clone(),
                        });
                    }
                }
                self.link(&mut st);
            }
            if *stop.borrow() {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                if attempt > 3 {
                    tracing::info!("ring camera back");
                }
                attempt = 0;
            }
            attempt += 1;
            crate::telemetry::ffmpeg_restart();
            let backoff =
                Duration::from_millis(500 * 2u64.pow(attempt.min(4))).min(Duration::from_secs(5));
            // A camera away for days must not flood the log: the first
            // attempts, then one line a minute or so.
            if attempt <= 3 || attempt.is_multiple_of(12) {
                tracing::warn!(attempt, %reason, ?backoff, "ring camera dropped; reconnecting");
            } else {
                tracing::debug!(attempt, %reason, "ring camera still away");
            }
            let deadline = Instant::now() + backoff;
            // Keep evicting and ending taps while the camera is away.
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(SCAN_EVERY) => self.tick(),
                }
            }
        }
        {
            let mut st = lock(&self.state);
            st.stopped = true;
            self.tick_locked(&mut st);
        }
        Manifest::remove(&self.dir);
        tracing::info!("ring stopped");
        exited.send_replace(true);
    }

    fn tick_locked(&self, st: &mut State) {
        let now = SystemTime::now();
        self.scan(st, now);
        self.link(st);
        self.evict(st, now);
    }

    /// One ffmpeg run. Returns why it ended.
    async fn run_once(&self, stop: &mut watch::Receiver<bool>, audio: &mut AudioMode) -> String {
        let start_number = {
            let st = lock(&self.state);
            st.segments
                .back()
                .map(|s| s.n + 1)
                .unwrap_or(0)
                .max(parts::next_number(&self.dir))
        };
        let mut cfg = (*self.cfg).clone();
        cfg.segment_seconds = 1;
        let argv = args::record(
            &cfg,
            self.url.expose_with_credentials(),
            &self.dir,
            start_number,
            *audio,
        );
        let mut child = match Command::new(&self.cfg.ffmpeg)
            .args(&argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return format!("cannot run ffmpeg: {e}"),
        };
        if let Some(pid) = child.id() {
            if let Err(e) = Manifest::write(&self.dir, &self.shared_id(), pid, &self.url) {
                tracing::warn!(error = %e, "cannot write the ring manifest");
            }
        }
        {
            let mut st = lock(&self.state);
            st.running = true;
            st.fresh_run = true;
        }
        let mut stdin = child.stdin.take();
        let mut stderr = child.stderr.take().map(|s| BufReader::new(s).lines());
        let mut tail = crate::stderr_tail::StderrTail::new(self.url.clone(), 6);
        let mut ticks = tokio::time::interval(SCAN_EVERY);
        let stopped = loop {
            tokio::select! {
                _ = ticks.tick() => self.tick(),
                line = crate::session::next_line(&mut stderr) => match line {
                    Some(l) => {
                        let shown = tail.push(&l);
                        tracing::debug!(target: "ffmpeg", "{shown}");
                    }
                    None => stderr = None,
                },
                _ = child.wait() => break false,
                _ = stop.changed() => if *stop.borrow() { break true },
            }
        };
        if stopped {
            if let Some(mut s) = stdin.take() {
                let _ = s.write_all(b"q").await;
                let _ = s.flush().await;
            }
            if tokio::time::timeout(self.cfg.stop_timeout, child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            return "stopped".into();
        }
        if let Some(lines) = stderr.as_mut() {
            while let Ok(Some(l)) = lines.next_line().await {
                tail.push(&l);
            }
        }
        if *audio == AudioMode::Copy
            && (tail.mentions("Could not find tag for codec")
                || tail.mentions("codec not currently supported"))
        {
            tracing::info!("camera audio can't be copied; encoding it to AAC");
            *audio = AudioMode::Aac;
        }
        tail.summary().unwrap_or_else(|| "stream ended".into())
    }

    fn shared_id(&self) -> String {
        format!("ring-{}", self.name)
    }
}

/// Follows one tap: sets its end when stopped (plus post-roll) or at the
/// length limit, fails it when no video comes, and joins its segments once
/// the ring says they are complete.
struct TapTask {
    shared: Arc<Shared>,
    /// Keeps the ring running while a tap needs it.
    _ring: Arc<Owner>,
    id: String,
    dir: PathBuf,
    post_roll: Duration,
    stop: watch::Receiver<bool>,
    events: mpsc::UnboundedSender<RecorderEvent>,
    done: oneshot::Receiver<u32>,
}

impl TapTask {
    async fn run(mut self) {
        let cfg = self.shared.cfg.clone();
        let first_frame = Instant::now() + cfg.first_frame_timeout;
        let limit = Instant::now() + cfg.max_duration;
        let mut ending = false;
        let reconnects = loop {
            let has_media = self.with_tap(|t| t.media).unwrap_or(true);
            tokio::select! {
                r = &mut self.done => break r.unwrap_or(0),
                _ = self.stop.changed(), if !ending => {
                    if crate::session::stop_requested(&self.stop) {
                        ending = true;
                        let until = SystemTime::now() + self.post_roll;
                        self.with_tap(|t| t.until = Some(until));
                    }
                }
                _ = tokio::time::sleep_until(limit), if !ending => {
                    tracing::info!("maximum recording length reached");
                    ending = true;
                    self.with_tap(|t| t.until = Some(SystemTime::now()));
                }
                _ = tokio::time::sleep_until(first_frame), if !has_media => {
                    // Re-check under the lock: media may have come.
                    if self.with_tap(|t| t.media) == Some(false) {
                        self.drop_tap();
                        let _ = tokio::fs::remove_dir_all(&self.dir).await;
                        let _ = self.events.send(RecorderEvent::Finished(Err(
                            RecordError::camera_unreachable(format!(
                                "no video within {} s",
                                cfg.first_frame_timeout.as_secs()
                            )),
                        )));
                        return;
                    }
                }
                // Wakes the loop to re-read `has_media`.
                _ = tokio::time::sleep(Duration::from_millis(250)), if !has_media => {}
            }
        };
        let result = parts::finish(&cfg, &self.dir, reconnects).await;
        let _ = self.events.send(RecorderEvent::Finished(result));
    }

    fn with_tap<T>(&self, f: impl FnOnce(&mut Tap) -> T) -> Option<T> {
        let mut st = lock(&self.shared.state);
        st.taps.iter_mut().find(|t| t.id == self.id).map(f)
    }

    fn drop_tap(&self) {
        lock(&self.shared.state).taps.retain(|t| t.id != self.id);
    }
}

/// Stops the ring ffmpegs a crashed run left behind (their manifests name
/// them), so nothing writes into segments while recovery joins clips.
/// Returns how many were stopped.
pub(crate) async fn stop_orphans(record_dir: &Path, timeout: Duration) -> usize {
    let mut stopped = 0;
    let Ok(rd) = std::fs::read_dir(record_dir.join(RING_DIR)) else {
        return 0;
    };
    for entry in rd.flatten() {
        let dir = entry.path();
        if let Some(m) = Manifest::read(&dir) {
            if m.process_is_ours(&dir) {
                crate::orphans::stop_orphan(m.pid, &dir, timeout).await;
                stopped += 1;
            }
            Manifest::remove(&dir);
        }
    }
    stopped
}

#[cfg(test)]
mod tests {
    use super::*;

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

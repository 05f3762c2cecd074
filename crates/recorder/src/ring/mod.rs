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
//! The module holds the ring's ffmpeg; [`window`] the pure bookkeeping of
//! which segments it holds, and [`tap`] the recordings taken from it.

use crate::{
    args::{self, AudioMode},
    manifest::Manifest,
    parts,
    supervisor::{self, next_line, AudioMemory, Run},
    RecordError, RecorderConfig, RecorderEvent, Recording,
};
use tap::{Tap, TapTask};
use window::Window;
mod tap;
mod window;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use tokio::{
    sync::{oneshot, watch},
    time::Instant,
};
use vigil_domain::{RtspUrl, StreamState};

/// A freeze of the camera within one ffmpeg run: no video for
/// [`supervisor::GAP_AFTER`] or more, then video again. It counts once
/// video has flowed that long again, or at a stop; the run ending first
/// (ffmpeg flushing as it gives up) leaves it to the reconnect's gap.
#[derive(Debug, Default)]
struct Freeze {
    /// When video stopped, while it is stopped.
    quiet_from: Option<SystemTime>,
    /// A return not yet confirmed: when video stopped and came back.
    back: Option<(SystemTime, SystemTime)>,
}

impl Freeze {
    /// Looks at the ring after a tick: `idle` without video, the last
    /// `grew`. Returns a confirmed gap (start, length).
    fn observe(
        &mut self,
        idle: Duration,
        grew: Option<SystemTime>,
        now: SystemTime,
    ) -> Option<(SystemTime, Duration)> {
        let grew = grew?;
        if let Some(from) = self.quiet_from {
            if grew > from {
                self.quiet_from = None;
                self.back = Some((from, grew));
            }
        } else if idle >= supervisor::GAP_AFTER && self.back.is_none() {
            self.quiet_from = Some(grew);
        }
        match self.back {
            Some((_, back))
                if idle < supervisor::GAP_AFTER
                    && now
                        .duration_since(back)
                        .is_ok_and(|d| d >= supervisor::GAP_AFTER) =>
            {
                self.returned()
            }
            _ => None,
        }
    }

    /// The unconfirmed return, taken as one (at a stop).
    fn returned(&mut self) -> Option<(SystemTime, Duration)> {
        let (from, back) = self.back.take()?;
        Some((from, back.duration_since(from).unwrap_or_default()))
    }
}

/// Rings live under this folder of `record_dir`.
pub const RING_DIR: &str = "ring";
/// How often the ring looks for new segments: the delay before a tap sees
/// one, and the resolution of its times.
const SCAN_EVERY: Duration = Duration::from_millis(100);

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
    audio_memory: AudioMemory,
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    window: Window,
    taps: Vec<Tap>,
    /// An ffmpeg run is going on.
    running: bool,
    /// The ring has stopped for good.
    stopped: bool,
    /// Why the last run ended, and whether the camera refused the
    /// credentials or the access; cleared once video flows again.
    last_failure: Option<(String, bool)>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        audio_memory: AudioMemory,
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
        let segments = window::rebuild(&dir, keep, SystemTime::now())?;
        let shared = Arc::new(Shared {
            cfg,
            name: name.to_owned(),
            url,
            audio_memory,
            dir,
            state: Mutex::new(State {
                window: Window::new(keep, segments),
                taps: Vec::new(),
                running: false,
                stopped: false,
                last_failure: None,
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
        lock(&self.shared.state).window.keep = keep;
    }

    /// Whether video is arriving now, so a tap has media at once.
    pub fn is_warm(&self) -> bool {
        let st = lock(&self.shared.state);
        st.running && st.window.grew_within(SystemTime::now())
    }

    /// The camera's link as the ring sees it: connected while video
    /// arrives, else why the last run ended.
    pub fn link(&self) -> (StreamState, Option<String>) {
        let mut st = lock(&self.shared.state);
        if st.running && st.window.grew_within(SystemTime::now()) {
            st.last_failure = None;
            return (StreamState::Connected, None);
        }
        match &st.last_failure {
            Some((why, true)) => (StreamState::Unauthorized, Some(why.clone())),
            Some((why, false)) => (StreamState::Offline, Some(why.clone())),
            None => (StreamState::Connecting, None),
        }
    }

    /// The ring's segment files and their total size, for checks and
    /// telemetry.
    pub fn disk_usage(&self) -> (usize, u64) {
        lock(&self.shared.state).window.disk_usage()
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
                down_at: None,
                gaps: Vec::new(),
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
        let span = tracing::info_span!("take", take = %id, camera_id = %self.shared.name);
        tokio::spawn(tracing::Instrument::instrument(tap.run(), span));
        Ok(recording)
    }
}

impl Shared {
    /// Takes in what ffmpeg wrote since the last look.
    fn scan(&self, st: &mut State, now: SystemTime) {
        if let Ok(listing) = parts::list_from(&self.dir, st.window.last_known()) {
            st.window.observe(listing, now, window::mtime);
        }
    }

    /// Deletes segments that fell out of the window.
    fn evict(&self, st: &mut State, now: SystemTime) {
        for path in st.window.expired(now) {
            let _ = std::fs::remove_file(path);
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
        let mut audio = self.audio_memory.of(&self.url);
        let mut attempt = 0u32;
        while !*stop.borrow() {
            let started = Instant::now();
            let Some(reason) = self.run_once(&mut stop, &mut audio).await else {
                // Redone at once in the audio mode the run turned out to need.
                continue;
            };
            {
                let mut st = lock(&self.state);
                st.running = false;
                if !*stop.borrow() {
                    let denied = supervisor::refusal_in(&reason).is_some_and(|(_, d)| d);
                    st.last_failure = Some((reason.clone(), denied));
                }
                self.tick_locked(&mut st);
                let last_write = st
                    .window
                    .segments
                    .back()
                    .and_then(|s| window::mtime(&s.path));
                let down_at = last_write.unwrap_or_else(SystemTime::now);
                st.window.close_last(down_at);
                if !*stop.borrow() {
                    for tap in st.taps.iter_mut().filter(|t| t.media && t.until.is_none()) {
                        tap.reconnects += 1;
                        tap.down_at.get_or_insert(down_at);
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
            let backoff = supervisor::backoff(attempt);
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

    /// One ffmpeg run. Returns why it ended, or `None` when it is to be
    /// redone at once (its audio must be encoded).
    async fn run_once(
        &self,
        stop: &mut watch::Receiver<bool>,
        audio: &mut AudioMode,
    ) -> Option<String> {
        let start_number = {
            let st = lock(&self.state);
            st.window.next_number().max(parts::next_number(&self.dir))
        };
        let mut cfg = (*self.cfg).clone();
        cfg.segment_seconds = vigil_domain::stream::RING_SEGMENT_SECONDS;
        let argv = args::record(
            &cfg,
            self.url.expose_with_credentials(),
            &self.dir,
            start_number,
            *audio,
        );
        let mut run = match Run::start(
            &self.cfg,
            &argv,
            &self.dir,
            &self.shared_id(),
            &self.url,
            false,
        ) {
            Ok(r) => r,
            Err(e) => return Some(e.to_string()),
        };
        {
            let mut st = lock(&self.state);
            st.running = true;
            st.window.new_run();
        }
        let mut tail = crate::stderr_tail::StderrTail::new(self.url.clone(), 6);
        let mut ticks = tokio::time::interval(SCAN_EVERY);
        let run_started = SystemTime::now();
        let mut freeze = Freeze::default();
        let stopped = loop {
            tokio::select! {
                _ = ticks.tick() => {
                    self.tick();
                    // The watchdog: video on disk, not whether ffmpeg lives.
                    let (idle, grew) = {
                        let st = lock(&self.state);
                        let now = SystemTime::now();
                        (st.window.idle_for(run_started, now), st.window.last_growth())
                    };
                    if let Some(gap) = freeze.observe(idle, grew, SystemTime::now()) {
                        self.add_gap(gap);
                    }
                    if idle >= self.cfg.stall_timeout {
                        run.kill().await;
                        return Some(format!(
                            "camera stalled: nothing written for {} s",
                            idle.as_secs()
                        ));
                    }
                }
                line = next_line(&mut run.stderr) => if let Some(l) = line {
                    let shown = tail.push(&l);
                    tracing::debug!(target: "ffmpeg", "{shown}");
                    if *audio == AudioMode::Copy && supervisor::audio_not_carried(&l) {
                        tracing::info!("camera audio (G.711 or similar) can't be carried as it is; encoding it to AAC");
                        run.kill().await;
                        let dropped = {
                            let mut st = lock(&self.state);
                            st.running = false;
                            st.window.drop_from(start_number)
                        };
                        for path in dropped {
                            let _ = std::fs::remove_file(path);
                        }
                        parts::remove_from(&self.dir, start_number);
                        *audio = AudioMode::Aac;
                        self.audio_memory.learn(&self.url, *audio);
                        return None;
                    }
                },
                _ = run.process.wait() => break false,
                _ = stop.changed() => if *stop.borrow() { break true },
            }
        };
        if stopped {
            // Media flowed again until the stop: the freeze was one.
            if let Some(gap) = freeze.returned() {
                self.add_gap(gap);
            }
            run.quit(self.cfg.stop_timeout, &mut tail).await;
            return Some("stopped".into());
        }
        run.drain_stderr(&mut tail).await;
        if *audio == AudioMode::Copy && supervisor::audio_refused(&tail) {
            tracing::info!("camera audio can't be copied; encoding it to AAC");
            *audio = AudioMode::Aac;
            self.audio_memory.learn(&self.url, *audio);
        }
        Some(
            supervisor::refusal(&tail)
                .or_else(|| tail.summary())
                .unwrap_or_else(|| "stream ended".into()),
        )
    }

    /// A freeze the camera came back from on the same connection: a gap in
    /// every tap that was recording across it.
    fn add_gap(&self, (down, away): (SystemTime, Duration)) {
        let mut st = lock(&self.state);
        for tap in st
            .taps
            .iter_mut()
            .filter(|t| t.media && t.from <= down && t.until.is_none_or(|u| u > down))
        {
            tap.gaps.push((down, away));
            let _ = tap.events.send(RecorderEvent::Resumed { away });
        }
    }

    fn shared_id(&self) -> String {
        format!("ring-{}", self.name)
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

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_freeze_counts_once_video_has_flowed_again_for_a_while() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut f = Freeze::default();
        // Video until t0, then nothing for 4 s.
        assert_eq!(f.observe(S, Some(t0), t0 + S), None);
        assert_eq!(f.observe(4 * S, Some(t0), t0 + 4 * S), None, "still away");
        // Back at t0 + 4.5 s; not yet a gap: ffmpeg may be flushing.
        let back = t0 + Duration::from_millis(4500);
        assert_eq!(f.observe(Duration::ZERO, Some(back), back), None);
        let later = back + 2 * S;
        assert_eq!(f.observe(Duration::ZERO, Some(later), later), None);
        // Flowing 3 s after its return: one gap, from t0, 4.5 s long.
        let confirmed = back + 3 * S;
        assert_eq!(
            f.observe(Duration::ZERO, Some(confirmed), confirmed),
            Some((t0, Duration::from_millis(4500)))
        );
        assert_eq!(f.returned(), None, "counted once");
    }

    #[test]
    fn a_short_pause_is_no_gap_and_a_stop_confirms_a_return() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut f = Freeze::default();
        let short = t0 + 2 * S;
        assert_eq!(f.observe(2 * S, Some(t0), short), None);
        assert_eq!(f.observe(Duration::ZERO, Some(short), short), None);
        assert_eq!(f.returned(), None, "2 s is no gap");
        // A freeze, a return, and a stop before the confirmation.
        f.observe(3 * S, Some(short), short + 3 * S);
        let back = short + 5 * S;
        f.observe(Duration::ZERO, Some(back), back);
        assert_eq!(f.returned(), Some((short, 5 * S)));
    }
}

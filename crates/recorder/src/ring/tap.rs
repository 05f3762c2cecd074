//! Recordings taken from a ring (taps): each hard-links the segments
//! covering `trigger − pre-roll … end + post-roll` into its own folder as
//! they appear, then joins them like any recording.

use super::{lock, Owner, Shared, State};
use crate::{args, parts, RecordError, RecorderEvent};
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime},
};
/// When the camera went away inside a clip, and for how long.
pub(super) type Gaps = Vec<(SystemTime, Duration)>;

use tokio::{
    sync::{mpsc, oneshot, watch},
    time::Instant,
};

#[derive(Debug)]
pub(super) struct Tap {
    pub id: String,
    pub dir: PathBuf,
    pub from: SystemTime,
    pub until: Option<SystemTime>,
    pub next_part: u32,
    /// The highest segment number looked at.
    pub seen: Option<u32>,
    /// Segment numbers linked into the tap.
    pub linked: Vec<u32>,
    pub media: bool,
    pub reconnects: u32,
    /// When the camera went away, while it is away.
    pub down_at: Option<SystemTime>,
    pub gaps: Gaps,
    pub events: mpsc::UnboundedSender<RecorderEvent>,
    pub media_since: crate::MediaSince,
    pub done: Option<oneshot::Sender<(u32, Gaps)>>,
}

impl Shared {
    /// Links new segments into the taps that need them, reports first
    /// media, and ends the taps whose last segment is complete.
    pub(super) fn link(&self, st: &mut State) {
        let now = SystemTime::now();
        let running = st.running;
        let stopped = st.stopped;
        let io_grace = self.cfg.io_timeout * 2;
        let segments = &st.window.segments;
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
                        // The first segment of the camera's return closes
                        // the gap it left.
                        if let Some(down) = tap.down_at.take() {
                            let away = seg.start.duration_since(down).unwrap_or_default();
                            tap.gaps.push((down, away));
                            let _ = tap.events.send(RecorderEvent::Resumed { away });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(take = %tap.id, error = %e, "cannot link a ring segment");
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
                    let _ = done.send((tap.reconnects, std::mem::take(&mut tap.gaps)));
                }
            }
        }
        st.taps.retain(|t| t.done.is_some());
    }
}

/// Follows one tap: sets its end when stopped (plus post-roll) or at the
/// length limit, fails it when no video comes, and joins its segments once
/// the ring says they are complete.
pub(super) struct TapTask {
    pub shared: Arc<Shared>,
    /// Keeps the ring running while a tap needs it.
    pub _ring: Arc<Owner>,
    pub id: String,
    pub dir: PathBuf,
    pub post_roll: Duration,
    pub stop: watch::Receiver<bool>,
    pub events: mpsc::UnboundedSender<RecorderEvent>,
    pub done: oneshot::Receiver<(u32, Gaps)>,
}

impl TapTask {
    pub async fn run(mut self) {
        let cfg = self.shared.cfg.clone();
        // Its timestamps run on across the ring's segments of one run; a
        // reconnect inside the clip makes them jump, which abandons it.
        let growing = crate::remux::Remux::start(&cfg, &self.dir);
        let first_frame = Instant::now() + cfg.first_frame_timeout;
        let limit = Instant::now() + cfg.max_duration;
        let mut ending = false;
        let (reconnects, gaps) = loop {
            let has_media = self.with_tap(|t| t.media).unwrap_or(true);
            tokio::select! {
                r = &mut self.done => break r.unwrap_or_default(),
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
        let result = parts::finish(&cfg, &self.dir, reconnects, gaps, growing).await;
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

//! One recording's supervisor: runs ffmpeg, reports when media is really on
//! disk, reconnects when the camera drops, stops it with exactly one `q`
//! (SIGKILL only after `stop_timeout`), and joins the parts into the clip.
//!
//! ffmpeg runs in its own process group with piped stdin, so a terminal's
//! Ctrl-C never reaches it a second time (a second signal aborts without
//! finalizing) and it never freezes on a TTY.

use crate::{
    args::{self, AudioMode},
    manifest::Manifest,
    parts::{self, Clip},
    progress::ProgressParser,
    stderr_tail::StderrTail,
    supervisor::{self, next_line, Run},
    RecordError, RecorderConfig,
};
use std::{path::PathBuf, sync::Arc, time::Duration};
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};
use vigil_domain::RtspUrl;

/// What a running recording reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum RecorderEvent {
    /// The first media is on disk: the recording is really recording.
    MediaWritten,
    /// The camera dropped; a reconnect follows (numbered from 1).
    Reconnecting { attempt: u32, reason: String },
    /// Media flows again after the camera was away this long (a reconnect,
    /// or a freeze on the same connection); the clip has a gap there.
    Resumed { away: Duration },
    /// The last event: the clip, or why there is none.
    Finished(Result<Clip, RecordError>),
}

/// How often the stall watchdog looks at the bytes on disk.
const WATCHDOG_EVERY: Duration = Duration::from_secs(1);
use crate::supervisor::GAP_AFTER;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// We asked it to stop (or the length limit did).
    Stopped,
    /// It ended by itself: camera gone, bad stream, …
    Ended,
    /// No media before the first-frame deadline.
    NoFirstFrame,
    /// The camera's audio went in as opaque data; redo with AAC.
    AudioNotCarried,
}

pub(crate) struct Session {
    pub cfg: Arc<RecorderConfig>,
    pub id: String,
    pub url: RtspUrl,
    pub dir: PathBuf,
    pub stop: watch::Receiver<bool>,
    pub events: mpsc::UnboundedSender<RecorderEvent>,
    pub media_since: crate::MediaSince,
    pub audio_memory: supervisor::AudioMemory,
    /// When media last reached disk, where a gap begins: wall time for
    /// the record, monotonic time to measure it.
    pub last_media: Option<(std::time::SystemTime, Instant)>,
    /// When the camera went away, while it is away.
    pub down_at: Option<(std::time::SystemTime, Instant)>,
    pub gaps: Vec<(std::time::SystemTime, Duration)>,
}

impl Session {
    /// Records, then joins the clip, in `span` (made by the caller before
    /// it spawned this, so the caller's span, a playback's, is its parent).
    pub async fn run(mut self, span: tracing::Span) {
        let growing = span.in_scope(|| crate::remux::Remux::start(&self.cfg, &self.dir));
        let result =
            tracing::Instrument::instrument(self.record(growing.as_ref()), span.clone()).await;
        let result = match result {
            Ok(reconnects) => {
                tracing::Instrument::instrument(self.finalize(reconnects, growing), span).await
            }
            Err(e) => Err(e),
        };
        let _ = self.events.send(RecorderEvent::Finished(result));
    }

    /// Records until stopped, the length limit, or the camera is gone for
    /// good. Returns the number of reconnects.
    async fn record(&mut self, growing: Option<&crate::remux::Remux>) -> Result<u32, RecordError> {
        let limit = Instant::now() + self.cfg.max_duration;
        let mut tail = StderrTail::new(self.url.clone(), 6);
        let mut audio = self.audio_memory.of(&self.url);
        let mut media_ever = false;
        let mut attempt = 0u32;
        let mut down_since: Option<Instant> = None;
        let mut spawned = false;
        loop {
            if stop_requested(&self.stop) {
                return Ok(attempt);
            }
            tail.clear();
            let first_part = parts::next_number(&self.dir);
            if let (Some(g), true) = (growing, spawned) {
                // A new run starts new timestamps (or redoes the audio).
                g.abandon("ffmpeg restarted");
            }
            spawned = true;
            let run = self.spawn(audio, first_part)?;
            let (exit, got_media) = self
                .supervise(run, &mut tail, limit, media_ever, audio)
                .await;
            if exit == Exit::AudioNotCarried {
                // What this run wrote has its audio as data: drop it, and
                // encode from now on (for this camera's later takes too).
                tracing::info!(
                    "camera audio (G.711 or similar) can't be carried as it is; encoding it to AAC"
                );
                parts::remove_from(&self.dir, first_part);
                audio = AudioMode::Aac;
                self.audio_memory.learn(&self.url, audio);
                continue;
            }
            media_ever |= got_media;
            match exit {
                Exit::Stopped => return Ok(attempt),
                _ if !media_ever => {
                    if audio == AudioMode::Copy && supervisor::audio_refused(&tail) {
                        tracing::info!("camera audio can't be copied; encoding it to AAC");
                        audio = AudioMode::Aac;
                        self.audio_memory.learn(&self.url, audio);
                        continue;
                    }
                    if exit != Exit::NoFirstFrame {
                        if let Some((meant, true)) = supervisor::refusal_by(|s| tail.mentions(s)) {
                            return Err(RecordError::refused(meant));
                        }
                    }
                    let why = match exit {
                        Exit::NoFirstFrame => format!(
                            "no video within {} s",
                            self.cfg.first_frame_timeout.as_secs()
                        ),
                        _ => supervisor::refusal(&tail)
                            .or_else(|| tail.summary())
                            .unwrap_or_else(|| "the stream ended before any media".into()),
                    };
                    return Err(RecordError::camera_unreachable(why));
                }
                _ => {
                    let since = *down_since.get_or_insert_with(Instant::now);
                    if got_media {
                        down_since = Some(Instant::now());
                    }
                    if since.elapsed() > self.cfg.reconnect_window || Instant::now() >= limit {
                        tracing::warn!("camera gone for good; finishing with what was recorded");
                        return Ok(attempt);
                    }
                    attempt += 1;
                    if self.down_at.is_none() {
                        self.down_at = Some(self.last_media.unwrap_or_else(now_both));
                    }
                    let reason = tail.summary().unwrap_or_else(|| "stream ended".into());
                    tracing::warn!(attempt, %reason, "camera dropped; reconnecting");
                    crate::telemetry::ffmpeg_restart();
                    let _ = self
                        .events
                        .send(RecorderEvent::Reconnecting { attempt, reason });
                    tokio::select! {
                        _ = tokio::time::sleep(supervisor::backoff(attempt)) => {}
                        _ = self.stop.changed() => {}
                    }
                }
            }
        }
    }

    fn spawn(&self, audio: AudioMode, start: u32) -> Result<Run, RecordError> {
        let argv = args::record(
            &self.cfg,
            self.url.expose_with_credentials(),
            &self.dir,
            start,
            audio,
        );
        tracing::debug!(first_part = start, "starting ffmpeg");
        Run::start(&self.cfg, &argv, &self.dir, &self.id, &self.url, true)
    }

    /// Watches one ffmpeg run. Returns how it ended and whether it wrote media.
    async fn supervise(
        &mut self,
        mut run: Run,
        tail: &mut StderrTail,
        limit: Instant,
        media_before: bool,
        audio: AudioMode,
    ) -> (Exit, bool) {
        let mut parser = ProgressParser::default();
        let bytes_before = parts::bytes_written(&self.dir);
        let first_frame_deadline = Instant::now() + self.cfg.first_frame_timeout;
        let mut got_media = false;
        // The watchdog: bytes on disk, not whether ffmpeg is alive.
        let mut watchdog = tokio::time::interval(WATCHDOG_EVERY);
        let mut last_bytes = bytes_before;
        let mut last_growth = Instant::now();
        // A freeze on this connection that media came back after: how long,
        // and since when it flows again.
        let mut freeze: Option<(Duration, Instant)> = None;

        let stopped = loop {
            let wait_first = if got_media {
                limit
            } else {
                first_frame_deadline.min(limit)
            };
            tokio::select! {
                line = next_line(&mut run.progress) => {
                    let block = line.and_then(|l| parser.feed(&l));
                    if let Some(p) = block {
                        if !got_media && p.frame > 0 && parts::bytes_written(&self.dir) > bytes_before {
                            got_media = true;
                            if !media_before {
                                tracing::info!("first media written");
                                self.report_first_media();
                            } else {
                                tracing::info!("camera back; recording resumed");
                                self.close_gap();
                            }
                            self.last_media = Some(now_both());
                        }
                    }
                }
                line = next_line(&mut run.stderr) => if let Some(l) = line {
                    let shown = tail.push(&l);
                    tracing::debug!(target: "ffmpeg", "{shown}");
                    if audio == AudioMode::Copy && supervisor::audio_not_carried(&l) {
                        run.kill().await;
                        return (Exit::AudioNotCarried, got_media);
                    }
                },
                status = run.process.wait() => {
                    tracing::debug!(?status, "ffmpeg exited");
                    break false;
                }
                _ = watchdog.tick(), if got_media => {
                    let bytes = parts::bytes_written(&self.dir);
                    if bytes > last_bytes {
                        let quiet = last_growth.elapsed();
                        if quiet >= GAP_AFTER && freeze.is_none() {
                            // Media again after a freeze, or ffmpeg writing
                            // what it held as it gives up on the camera:
                            // only media still flowing a while later tells
                            // (or a stop before that). The freeze's start
                            // stays the last media meanwhile.
                            freeze = Some((quiet, Instant::now()));
                        } else if freeze.is_some_and(|(_, back)| back.elapsed() >= GAP_AFTER) {
                            self.commit_freeze(freeze.take());
                        } else if freeze.is_none() {
                            self.last_media = Some(now_both());
                        }
                        (last_bytes, last_growth) = (bytes, Instant::now());
                    } else if last_growth.elapsed() >= self.cfg.stall_timeout {
                        let why = format!(
                            "camera stalled: nothing written for {} s",
                            self.cfg.stall_timeout.as_secs()
                        );
                        tracing::warn!("{why}; restarting ffmpeg");
                        run.kill().await;
                        tail.push(&why);
                        break false;
                    }
                }
                _ = self.stop.changed() => {
                    if stop_requested(&self.stop) {
                        break true;
                    }
                }
                _ = tokio::time::sleep_until(wait_first) => {
                    if Instant::now() >= limit {
                        tracing::info!("maximum recording length reached");
                        break true;
                    }
                    tracing::warn!("no media before the first-frame deadline");
                    run.kill().await;
                    return (Exit::NoFirstFrame, false);
                }
            }
        };
        if stopped {
            // Media flowed again until the stop: the freeze was one.
            self.commit_freeze(freeze.take());
            run.quit(self.cfg.stop_timeout, tail).await;
        } else {
            // The run ended by itself: what looked like a return was ffmpeg
            // flushing as it gave up; the reconnect's gap covers it.
            run.drain_stderr(tail).await;
        }
        // Media may have reached disk after the last progress block that
        // was read: before the stop, or before the camera dropped (a run
        // that ends right after its first frames must not pass for one
        // that recorded nothing; its folder would be thrown away).
        if !got_media && parts::bytes_written(&self.dir) > bytes_before {
            got_media = true;
            if !media_before {
                self.report_first_media();
            } else {
                self.close_gap();
            }
            self.last_media = Some(now_both());
        }
        let exit = if stopped { Exit::Stopped } else { Exit::Ended };
        (exit, got_media)
    }

    /// A freeze the camera came back from on the same connection is a gap.
    fn commit_freeze(&mut self, freeze: Option<(Duration, Instant)>) {
        let (Some((away, _)), Some((at, _))) = (freeze, self.last_media) else {
            return;
        };
        tracing::warn!(seconds = away.as_secs(), "camera froze and came back");
        self.gaps.push((at, away));
        let _ = self.events.send(RecorderEvent::Resumed { away });
        self.last_media = Some(now_both());
    }

    /// The camera is back: the time since it went away is a gap.
    fn close_gap(&mut self) {
        if let Some((down, since)) = self.down_at.take() {
            let away = since.elapsed();
            self.gaps.push((down, away));
            let _ = self.events.send(RecorderEvent::Resumed { away });
        }
    }

    fn report_first_media(&self) {
        let _ = self.media_since.set(std::time::SystemTime::now());
        let _ = self.events.send(RecorderEvent::MediaWritten);
    }

    async fn finalize(
        &self,
        reconnects: u32,
        growing: Option<crate::remux::Remux>,
    ) -> Result<Clip, RecordError> {
        let clip =
            parts::finish(&self.cfg, &self.dir, reconnects, self.gaps.clone(), growing).await?;
        Manifest::remove(&self.dir);
        Ok(clip)
    }
}

/// Now, as wall time (for the record) and monotonic time (to measure).
fn now_both() -> (std::time::SystemTime, Instant) {
    (std::time::SystemTime::now(), Instant::now())
}

/// Whether the owner asked to stop, or is gone: with every stop handle
/// dropped nobody could stop the recording any more, so it stops (and a
/// closed channel must not make a `select!` spin).
pub(crate) fn stop_requested(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

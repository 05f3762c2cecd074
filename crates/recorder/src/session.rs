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
    RecordError, RecorderConfig,
};
use std::{path::PathBuf, process::Stdio, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
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
    /// The last event: the clip, or why there is none.
    Finished(Result<Clip, RecordError>),
}

enum Exit {
    /// We asked it to stop (or the length limit did).
    Stopped,
    /// It ended by itself: camera gone, bad stream, …
    Ended,
    /// No media before the first-frame deadline.
    NoFirstFrame,
}

pub(crate) struct Session {
    pub cfg: Arc<RecorderConfig>,
    pub id: String,
    pub url: RtspUrl,
    pub dir: PathBuf,
    pub stop: watch::Receiver<bool>,
    pub events: mpsc::UnboundedSender<RecorderEvent>,
    pub media_since: crate::MediaSince,
}

impl Session {
    pub async fn run(mut self) {
        let span = tracing::info_span!("recorder", playback_id = %self.id);
        let result = tracing::Instrument::instrument(self.record(), span.clone()).await;
        let result = match result {
            Ok(reconnects) => {
                tracing::Instrument::instrument(self.finalize(reconnects), span).await
            }
            Err(e) => Err(e),
        };
        let _ = self.events.send(RecorderEvent::Finished(result));
    }

    /// Records until stopped, the length limit, or the camera is gone for
    /// good. Returns the number of reconnects.
    async fn record(&mut self) -> Result<u32, RecordError> {
        let limit = Instant::now() + self.cfg.max_duration;
        let mut tail = StderrTail::new(self.url.clone(), 6);
        let mut audio = AudioMode::Copy;
        let mut media_ever = false;
        let mut attempt = 0u32;
        let mut down_since: Option<Instant> = None;
        loop {
            if stop_requested(&self.stop) {
                return Ok(attempt);
            }
            tail.clear();
            let child = self.spawn(audio)?;
            let (exit, got_media) = self.supervise(child, &mut tail, limit, media_ever).await;
            media_ever |= got_media;
            match exit {
                Exit::Stopped => return Ok(attempt),
                _ if !media_ever => {
                    let unsupported_audio = tail.mentions("Could not find tag for codec")
                        || tail.mentions("codec not currently supported");
                    if audio == AudioMode::Copy && unsupported_audio {
                        tracing::info!("camera audio can't be copied; encoding it to AAC");
                        audio = AudioMode::Aac;
                        continue;
                    }
                    let why = match exit {
                        Exit::NoFirstFrame => format!(
                            "no video within {} s",
                            self.cfg.first_frame_timeout.as_secs()
                        ),
                        _ => tail
                            .summary()
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
                    let reason = tail.summary().unwrap_or_else(|| "stream ended".into());
                    tracing::warn!(attempt, %reason, "camera dropped; reconnecting");
                    crate::telemetry::ffmpeg_restart();
                    let _ = self
                        .events
                        .send(RecorderEvent::Reconnecting { attempt, reason });
                    let backoff = Duration::from_millis(500 * 2u64.pow(attempt.min(4)))
                        .min(Duration::from_secs(5));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.stop.changed() => {}
                    }
                }
            }
        }
    }

    fn spawn(&self, audio: AudioMode) -> Result<Child, RecordError> {
        let start = parts::next_number(&self.dir);
        let argv = args::record(
            &self.cfg,
            self.url.expose_with_credentials(),
            &self.dir,
            start,
            audio,
        );
        let child = Command::new(&self.cfg.ffmpeg)
            .args(&argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            // Only if this supervisor itself is dropped mid-run (a bug or a
            // runtime shutdown); normal stops go through `q`.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RecordError::spawn(format!("{}: {e}", self.cfg.ffmpeg.display())))?;
        if let Some(pid) = child.id() {
            if let Err(e) = Manifest::write(&self.dir, &self.id, pid, &self.url) {
                tracing::warn!(error = %e, "cannot write the recording manifest");
            }
            tracing::debug!(pid, first_part = start, "ffmpeg started");
        }
        Ok(child)
    }

    /// Watches one ffmpeg run. Returns how it ended and whether it wrote media.
    async fn supervise(
        &mut self,
        mut child: Child,
        tail: &mut StderrTail,
        limit: Instant,
        media_before: bool,
    ) -> (Exit, bool) {
        let mut stdin = child.stdin.take();
        let mut progress = child.stdout.take().map(|s| BufReader::new(s).lines());
        let mut stderr = child.stderr.take().map(|s| BufReader::new(s).lines());
        let mut parser = ProgressParser::default();
        let bytes_before = parts::bytes_written(&self.dir);
        let first_frame_deadline = Instant::now() + self.cfg.first_frame_timeout;
        let mut got_media = false;

        let stopped = loop {
            let wait_first = if got_media {
                limit
            } else {
                first_frame_deadline.min(limit)
            };
            tokio::select! {
                line = next_line(&mut progress) => match line {
                    Some(l) => {
                        if let Some(p) = parser.feed(&l) {
                            if !got_media && p.frame > 0 && parts::bytes_written(&self.dir) > bytes_before {
                                got_media = true;
                                if !media_before {
                                    tracing::info!("first media written");
                                    self.report_first_media();
                                } else {
                                    tracing::info!("camera back; recording resumed");
                                }
                            }
                        }
                    }
                    None => progress = None,
                },
                line = next_line(&mut stderr) => match line {
                    Some(l) => {
                        let shown = tail.push(&l);
                        tracing::debug!(target: "ffmpeg", "{shown}");
                    }
                    None => stderr = None,
                },
                status = child.wait() => {
                    tracing::debug!(?status, "ffmpeg exited");
                    break false;
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
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return (Exit::NoFirstFrame, false);
                }
            }
        };
        if !stopped {
            // Drain what is left of stderr for the failure message.
            if let Some(lines) = stderr.as_mut() {
                while let Ok(Some(l)) = lines.next_line().await {
                    tail.push(&l);
                }
            }
            return (Exit::Ended, got_media);
        }
        // Exactly one request to quit; ffmpeg then finalizes the open part.
        if let Some(mut s) = stdin.take() {
            let _ = s.write_all(b"q").await;
            let _ = s.flush().await;
        }
        let drain = async {
            loop {
                tokio::select! {
                    status = child.wait() => return status,
                    Some(l) = next_line(&mut stderr) => { tail.push(&l); }
                    Some(_) = next_line(&mut progress) => {}
                }
            }
        };
        match tokio::time::timeout(self.cfg.stop_timeout, drain).await {
            Ok(status) => tracing::debug!(?status, "ffmpeg stopped"),
            Err(_) => {
                tracing::warn!("ffmpeg did not stop in time; killing it");
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
        // Media may have reached disk between the last progress block and the stop.
        if !got_media && parts::bytes_written(&self.dir) > bytes_before {
            got_media = true;
            if !media_before {
                self.report_first_media();
            }
        }
        (Exit::Stopped, got_media)
    }

    fn report_first_media(&self) {
        let _ = self.media_since.set(std::time::SystemTime::now());
        let _ = self.events.send(RecorderEvent::MediaWritten);
    }

    async fn finalize(&self, reconnects: u32) -> Result<Clip, RecordError> {
        let clip = parts::finish(&self.cfg, &self.dir, reconnects).await?;
        Manifest::remove(&self.dir);
        Ok(clip)
    }
}

/// Whether the owner asked to stop, or is gone: with every stop handle
/// dropped nobody could stop the recording any more, so it stops (and a
/// closed channel must not make a `select!` spin).
pub(crate) fn stop_requested(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

pub(crate) async fn next_line<R>(lines: &mut Option<tokio::io::Lines<R>>) -> Option<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    match lines {
        Some(l) => l.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

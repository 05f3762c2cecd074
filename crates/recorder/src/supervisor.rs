//! What per-event sessions and pre-roll rings share in supervising ffmpeg:
//! starting a run (with its manifest, so a crashed server's orphan is
//! found), the reconnect backoff, falling back to AAC when the camera's
//! audio can't be copied, and stopping with exactly one `q`, then SIGKILL
//! after the stop timeout.

use crate::{
    args::AudioMode,
    launcher::{Process, Reader, Writer},
    manifest::Manifest,
    stderr_tail::StderrTail,
    RecordError, RecorderConfig,
};
use std::{path::Path, time::Duration};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use vigil_domain::RtspUrl;

/// Media that stops this long and resumes in the same run is a gap (every
/// packet is flushed, so a live camera grows its file many times a
/// second); it counts once media has flowed this long again, since ffmpeg
/// giving up on a camera also writes what it held.
pub(crate) const GAP_AFTER: Duration = Duration::from_secs(3);

/// The wait before reconnect `attempt` (numbered from 1): 1 s, 2 s, 4 s,
/// then 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(attempt.clamp(1, 4))).min(Duration::from_secs(5))
}

/// Whether ffmpeg refused to copy the camera's audio (G.711 and others
/// MPEG-TS cannot carry as they are): the next run encodes it to AAC.
pub(crate) fn audio_refused(tail: &StderrTail) -> bool {
    tail.mentions("Could not find tag for codec") || tail.mentions("codec not currently supported")
}

/// What the camera answered, in words, when it refused the stream: RTSP
/// status lines ffmpeg prints as "method DESCRIBE failed: 401
/// Unauthorized". Basic and Digest both end there on wrong credentials.
pub(crate) fn refusal(tail: &StderrTail) -> Option<String> {
    refusal_by(|said| tail.mentions(said)).map(|(meant, _)| meant)
}

/// [`refusal`] in any text, and whether it is of the credentials or the
/// access (401, 403) rather than of the path.
pub(crate) fn refusal_in(text: &str) -> Option<(String, bool)> {
    refusal_by(|said| text.contains(said))
}

/// The refusal `said` recognizes, and whether it is of the credentials or
/// the access.
pub(crate) fn refusal_by(said: impl Fn(&str) -> bool) -> Option<(String, bool)> {
    [
        (
            "401 Unauthorized",
            "camera refused the credentials (401)",
            true,
        ),
        ("403 Forbidden", "camera refused access (403)", true),
        (
            "404 Not Found",
            "camera has no stream at this path (404)",
            false,
        ),
    ]
    .into_iter()
    // The words already said stand for the refusal too, so a reason
    // passed on is recognized again.
    .find(|(s, meant, _)| said(s) || said(meant))
    .map(|(_, meant, denied)| (meant.to_owned(), denied))
}

/// Whether this stderr line says the camera's audio went into MPEG-TS as
/// opaque data: G.711 (A-law, µ-law) is "muxed as a private data stream",
/// which no player reads, so the clip would have no sound without a word.
/// The run is redone with the audio encoded to AAC.
pub(crate) fn audio_not_carried(line: &str) -> bool {
    line.contains("is muxed as a private data stream")
}

/// What was learned of each camera's audio, so later runs, recordings and
/// rings of it start in the right mode (no wasted first connection).
#[derive(Debug, Clone, Default)]
pub(crate) struct AudioMemory(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, AudioMode>>>,
);

impl AudioMemory {
    /// Keyed by the URL as shown (password masked): it is all we need.
    pub fn of(&self, url: &RtspUrl) -> AudioMode {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&url.to_string())
            .copied()
            .unwrap_or(AudioMode::Copy)
    }

    pub fn learn(&self, url: &RtspUrl, mode: AudioMode) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(url.to_string(), mode);
    }
}

/// One ffmpeg run and its streams.
pub(crate) struct Run {
    stdin: Option<Writer>,
    pub progress: Option<Lines<BufReader<Reader>>>,
    pub stderr: Option<Lines<BufReader<Reader>>>,
    pub process: Box<dyn Process>,
}

impl Run {
    /// Starts ffmpeg with `argv` for the folder `dir`, noting it in the
    /// folder's manifest under `id`. `progress`: read ffmpeg's `-progress`
    /// lines from stdout.
    pub(crate) fn start(
        cfg: &RecorderConfig,
        argv: &[String],
        dir: &Path,
        id: &str,
        url: &RtspUrl,
        progress: bool,
    ) -> Result<Run, RecordError> {
        let launched = cfg
            .launcher
            .launch(&cfg.ffmpeg, argv, progress)
            .map_err(|e| RecordError::spawn(format!("{}: {e}", cfg.ffmpeg.display())))?;
        if let Some(pid) = launched.pid {
            if let Err(e) = Manifest::write(dir, id, pid, url) {
                tracing::warn!(error = %e, "cannot write the manifest");
            }
            tracing::debug!(pid, "ffmpeg started");
        }
        Ok(Run {
            stdin: launched.stdin,
            progress: launched.stdout.map(|s| BufReader::new(s).lines()),
            stderr: launched.stderr.map(|s| BufReader::new(s).lines()),
            process: launched.process,
        })
    }

    /// Asks ffmpeg to quit with exactly one `q` (it then finalizes the open
    /// part), keeping its stderr in `tail` meanwhile, and kills it after
    /// `timeout`. Returns whether it had to be killed.
    pub(crate) async fn quit(&mut self, timeout: Duration, tail: &mut StderrTail) -> bool {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"q").await;
            let _ = s.flush().await;
        }
        let (process, stderr, progress) = (&mut self.process, &mut self.stderr, &mut self.progress);
        let drain = async {
            loop {
                tokio::select! {
                    status = process.wait() => return status,
                    Some(l) = next_line(stderr) => { tail.push(&l); }
                    Some(_) = next_line(progress) => {}
                }
            }
        };
        match tokio::time::timeout(timeout, drain).await {
            Ok(status) => {
                tracing::debug!(?status, "ffmpeg stopped");
                false
            }
            Err(_) => {
                tracing::warn!("ffmpeg did not stop in time; killing it");
                let _ = self.process.start_kill();
                let _ = self.process.wait().await;
                true
            }
        }
    }

    /// Kills the run at once (no media before the first-frame deadline).
    pub(crate) async fn kill(&mut self) {
        let _ = self.process.start_kill();
        let _ = self.process.wait().await;
    }

    /// After the run ended by itself: what is left of its stderr, for the
    /// failure message.
    pub(crate) async fn drain_stderr(&mut self, tail: &mut StderrTail) {
        if let Some(lines) = self.stderr.as_mut() {
            while let Ok(Some(l)) = lines.next_line().await {
                tail.push(&l);
            }
        }
    }
}

/// The next line of an optional stream; pending forever once it is gone,
/// so a `select!` arm on it goes quiet instead of spinning.
pub(crate) async fn next_line<R>(lines: &mut Option<Lines<R>>) -> Option<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    match lines {
        Some(l) => match l.next_line().await {
            Ok(Some(line)) => Some(line),
            _ => {
                *lines = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_five_seconds() {
        let ms = |a| backoff(a).as_millis();
        assert_eq!(
            (ms(1), ms(2), ms(3), ms(4), ms(40)),
            (1000, 2000, 4000, 5000, 5000)
        );
    }
}

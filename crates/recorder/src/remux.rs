//! The clip written while its take records: one copy-mode ffmpeg per take,
//! fed the take's parts through stdin as they close, writing a moov-at-end
//! MP4 ([`GROWING_CLIP_NAME`]). The mov muxer writes `mdat` in order and,
//! once stdin ends, patches only the mdat size in the file's first bytes
//! and appends `moov`; so everything past the first bytes is final as soon
//! as it is written, and the clip is ready moments after the take ends,
//! however long it is (no join, no second faststart pass), while its bytes
//! can be stored during the recording.
//!
//! It covers the take while its timestamps run on. A reconnect (new
//! timestamps, perhaps a new stream layout), an audio redo, a transcoded
//! camera or a failed ffmpeg abandon it: the growing file is removed and
//! the parts are joined at the end, as without it. The parts stay the
//! record: a crash leaves them for the usual join (the orphaned ffmpeg sees
//! stdin close, finishes its file and exits; the file is ignored).

use crate::{parts, RecordError, RecorderConfig};
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::{io::AsyncWriteExt, sync::watch};
pub use vigil_domain::capture::GROWING_CLIP_NAME;
use vigil_domain::PartTimes;

/// How often the take's folder is looked at for closed parts.
const POLL: Duration = Duration::from_millis(250);
/// How much of ffmpeg's stderr is kept to explain a failure.
const STDERR_KEEP: usize = 2048;

/// The handle of a take's growing clip.
#[derive(Debug)]
pub(crate) struct Remux {
    ended: watch::Sender<bool>,
    abandoned: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<Option<PathBuf>>>,
    growing: PathBuf,
}

impl Remux {
    /// Starts the growing clip of the take in `dir`, when the recorder is
    /// configured to write one.
    pub(crate) fn start(cfg: &RecorderConfig, dir: &Path) -> Option<Remux> {
        if !cfg.stream_clip {
            return None;
        }
        let (ended, rx) = watch::channel(false);
        let abandoned = Arc::new(AtomicBool::new(false));
        let feeder = Feeder {
            ffmpeg: cfg.ffmpeg.clone(),
            dir: dir.to_owned(),
            deadline: cfg.join_timeout,
            abandoned: abandoned.clone(),
        };
        let task = tokio::spawn(tracing::Instrument::instrument(
            feeder.run(rx),
            tracing::Span::current(),
        ));
        Some(Remux {
            ended,
            abandoned,
            task: Some(task),
            growing: dir.join(GROWING_CLIP_NAME),
        })
    }

    /// Gives the growing clip up: the parts will be joined instead.
    pub(crate) fn abandon(&self, why: &str) {
        if !self.abandoned.swap(true, Ordering::Relaxed) {
            tracing::info!(
                reason = why,
                "the clip will be joined from its parts at the end"
            );
        }
        self.ended.send_replace(true);
    }

    /// Feeds the last parts (the take has ended: all are closed), finishes
    /// the file and returns it renamed to the clip's name; `None` when it
    /// was abandoned, failed or ran past `deadline` (an ffmpeg no longer
    /// reading its input would hold the feeder in a write), and the caller
    /// joins the parts.
    pub(crate) async fn close(mut self, deadline: Duration) -> Option<PathBuf> {
        self.ended.send_replace(true);
        let mut task = self.task.take()?;
        match tokio::time::timeout(deadline, &mut task).await {
            Ok(done) => done.ok().flatten(),
            Err(_) => {
                tracing::warn!(
                    deadline_s = deadline.as_secs_f64(),
                    "the growing clip ran past its deadline; the parts will be joined"
                );
                // Dropping the feeder drops its ffmpeg (`kill_on_drop`).
                task.abort();
                let _ = task.await;
                let _ = tokio::fs::remove_file(&self.growing).await;
                None
            }
        }
    }
}

/// Abandons the growing clip of a session when dropped without being
/// closed (its task then ends by itself).
impl Drop for Remux {
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
        self.ended.send_replace(true);
    }
}

struct Feeder {
    ffmpeg: PathBuf,
    dir: PathBuf,
    deadline: Duration,
    abandoned: Arc<AtomicBool>,
}

impl Feeder {
    async fn run(self, mut ended: watch::Receiver<bool>) -> Option<PathBuf> {
        let out = self.dir.join(GROWING_CLIP_NAME);
        let result = self.feed(&out, &mut ended).await;
        match result {
            Ok(Some(path)) => Some(path),
            Ok(None) => {
                let _ = tokio::fs::remove_file(&out).await;
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "the growing clip failed; the parts will be joined");
                let _ = tokio::fs::remove_file(&out).await;
                None
            }
        }
    }

    fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed) || parts::is_transcoded(&self.dir)
    }

    async fn feed(
        &self,
        out: &Path,
        ended: &mut watch::Receiver<bool>,
    ) -> Result<Option<PathBuf>, RecordError> {
        let mut child = tokio::process::Command::new(&self.ffmpeg)
            .args(crate::args::remux(out))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RecordError::spawn(format!("ffmpeg (remux): {e}")))?;
        let stderr = child.stderr.take().map(|s| tokio::spawn(keep_tail(s)));
        let Some(mut stdin) = child.stdin.take() else {
            return Err(RecordError::io("ffmpeg (remux) has no stdin"));
        };
        let mut next = 0u32;
        let mut last: Option<PartTimes> = None;
        loop {
            let done = *ended.borrow_and_update();
            if self.abandoned() {
                return Ok(None); // the child is killed as it drops
            }
            for part in parts::closed(&self.dir, next, done) {
                next = part.number + 1;
                let Some(times) = part.times else { continue };
                if last.is_some_and(|l| !l.continued_by(&times)) {
                    tracing::info!(part = part.number, "the camera's timestamps jump; the clip will be joined from its parts at the end");
                    return Ok(None);
                }
                last = Some(times);
                let bytes = tokio::fs::read(&part.path).await?;
                if let Err(e) = stdin.write_all(&bytes).await {
                    return Err(self
                        .failed(child, stderr, format!("remux input: {e}"))
                        .await);
                }
            }
            if done {
                break;
            }
            let _ = tokio::time::timeout(POLL, ended.changed()).await;
        }
        // End of input: ffmpeg patches the mdat size and appends moov.
        drop(stdin);
        let status = match tokio::time::timeout(self.deadline, child.wait()).await {
            Err(_) => return Err(RecordError::timeout("ffmpeg (remux)", self.deadline)),
            Ok(status) => status?,
        };
        if !status.success() {
            let tail = tail_of(stderr).await;
            return Err(RecordError::finalize(format!(
                "ffmpeg (remux) exited with {status}: {tail}"
            )));
        }
        if self.abandoned() || last.is_none() {
            return Ok(None);
        }
        let clip = self.dir.join(parts::CLIP_NAME);
        tokio::fs::rename(out, &clip).await?;
        Ok(Some(clip))
    }

    async fn failed(
        &self,
        mut child: tokio::process::Child,
        stderr: Option<tokio::task::JoinHandle<String>>,
        what: String,
    ) -> RecordError {
        let _ = child.start_kill();
        let _ = child.wait().await;
        RecordError::finalize(format!("{what}: {}", tail_of(stderr).await))
    }
}

async fn keep_tail(mut stderr: tokio::process::ChildStderr) -> String {
    use tokio::io::AsyncReadExt;
    let mut kept = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > STDERR_KEEP {
            kept.drain(..kept.len() - STDERR_KEEP);
        }
    }
    String::from_utf8_lossy(&kept).trim().to_owned()
}

async fn tail_of(stderr: Option<tokio::task::JoinHandle<String>>) -> String {
    match stderr {
        Some(t) => tokio::time::timeout(Duration::from_secs(2), t)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
        None => String::new(),
    }
}

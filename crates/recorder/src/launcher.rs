//! The seam between supervising ffmpeg and starting it, in the style of
//! Moonfire NVR's `Opener`: the supervisors (per-event sessions and rings)
//! ask a [`Launcher`] for a process with piped streams, so their reconnect,
//! backoff and stop rules are tested against scripted processes (with
//! tokio's paused clock as the `Clock`) instead of cameras and sleeps.

use async_trait::async_trait;
use std::{fmt, path::Path, process::ExitStatus};
use tokio::io::{AsyncRead, AsyncWrite};

/// Starts long-running tools.
pub(crate) trait Launcher: Send + Sync + fmt::Debug {
    /// Starts `program` with `args` in its own process group (a terminal's
    /// Ctrl-C must not reach it a second time: a second signal aborts
    /// without finalizing), stdin and stderr piped, stdout piped only when
    /// `stdout` is set (nobody reading a pipe would block the writer).
    fn launch(&self, program: &Path, args: &[String], stdout: bool) -> std::io::Result<Launched>;
}

pub(crate) type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub(crate) type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A started process and its streams.
pub(crate) struct Launched {
    pub pid: Option<u32>,
    pub stdin: Option<Writer>,
    pub stdout: Option<Reader>,
    pub stderr: Option<Reader>,
    pub process: Box<dyn Process>,
}

/// A running process: wait for it, or kill it. Dropping it kills it.
#[async_trait]
pub(crate) trait Process: Send {
    async fn wait(&mut self) -> std::io::Result<ExitStatus>;
    fn start_kill(&mut self) -> std::io::Result<()>;
}

/// Starts real processes.
#[derive(Debug, Default)]
pub(crate) struct OsLauncher;

impl Launcher for OsLauncher {
    fn launch(&self, program: &Path, args: &[String], stdout: bool) -> std::io::Result<Launched> {
        use std::process::Stdio;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(if stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .process_group(0)
            // Only if the supervisor itself is dropped mid-run (a bug or a
            // runtime shutdown); normal stops go through `q`.
            .kill_on_drop(true)
            .spawn()?;
        Ok(Launched {
            pid: child.id(),
            stdin: child.stdin.take().map(|s| Box::new(s) as Writer),
            stdout: child.stdout.take().map(|s| Box::new(s) as Reader),
            stderr: child.stderr.take().map(|s| Box::new(s) as Reader),
            process: Box::new(OsProcess(child)),
        })
    }
}

struct OsProcess(tokio::process::Child);

#[async_trait]
impl Process for OsProcess {
    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.0.wait().await
    }

    fn start_kill(&mut self) -> std::io::Result<()> {
        self.0.start_kill()
    }
}

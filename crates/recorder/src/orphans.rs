//! Stopping an ffmpeg a crashed run left behind: one SIGINT (ffmpeg then
//! finalizes its open part), SIGKILL only after the timeout.

use std::{path::Path, time::Duration};

/// One SIGINT (ffmpeg then finalizes its open part), SIGKILL only after the
/// timeout.
pub(crate) async fn stop_orphan(pid: u32, dir: &Path, timeout: Duration) {
    use nix::{
        sys::signal::{kill, Signal},
        unistd::Pid,
    };
    let pid_t = Pid::from_raw(pid as i32);
    tracing::warn!(pid, dir = %dir.display(), "stopping an ffmpeg left by a previous run");
    let _ = kill(pid_t, Signal::SIGINT);
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if crate::manifest::process_start_ticks(pid).is_none() || is_zombie(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = kill(pid_t, Signal::SIGKILL);
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

//! The one way the recorder runs a tool to completion (ffmpeg joining parts,
//! ffprobe, a thumbnail): with a deadline, killed when it passes or when the
//! caller goes away (`kill_on_drop`), and a typed error carrying the last
//! lines the tool printed. A hung ffprobe must not hold an upload worker
//! (and the lease it renews) forever.

use crate::{RecordError, RecordErrorKind};
use std::{ffi::OsStr, path::Path, process::Stdio, time::Duration};

/// How many of the last stderr lines explain a failure.
const TAIL_LINES: usize = 3;

/// Runs `program` with `args`, stdin closed, and returns its stdout. A
/// non-zero exit is an error of `failed` kind with the stderr tail; a run
/// past `deadline` is a [`RecordErrorKind::Timeout`] and the child is
/// killed.
pub async fn run<I, S>(
    program: &Path,
    args: I,
    deadline: Duration,
    failed: RecordErrorKind,
) -> Result<Vec<u8>, RecordError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let name = program.file_name().map_or_else(
        || program.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| RecordError::spawn(format!("{name} ({}): {e}", program.display())))?;
    // Dropping the `wait_with_output` future on timeout drops the child,
    // which kills it.
    let out = match tokio::time::timeout(deadline, child.wait_with_output()).await {
        Err(_) => {
            tracing::warn!(program = %name, deadline_s = deadline.as_secs_f64(), "tool ran past its deadline; killed");
            return Err(RecordError::timeout(&name, deadline));
        }
        Ok(Err(e)) => return Err(RecordError::io(format!("{name}: {e}"))),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let tail = tail(&out.stderr);
        let detail = if tail.is_empty() {
            format!("{name} exited with {}", out.status)
        } else {
            format!("{name} exited with {}: {tail}", out.status)
        };
        return Err(RecordError::new(failed, detail));
    }
    Ok(out.stdout)
}

/// The last non-empty lines of `stderr`, joined by ` / `.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tool_past_its_deadline_is_killed_with_a_timeout() {
        let began = std::time::Instant::now();
        let e = run(
            Path::new("/bin/sleep"),
            ["30"],
            Duration::from_millis(200),
            RecordErrorKind::Probe,
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), RecordErrorKind::Timeout, "{e}");
        assert!(began.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_failing_tool_reports_its_last_lines_under_the_given_kind() {
        let e = run(
            Path::new("/bin/sh"),
            [
                "-c",
                "echo one >&2; echo two >&2; echo three >&2; echo four >&2; exit 3",
            ],
            Duration::from_secs(10),
            RecordErrorKind::Finalize,
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), RecordErrorKind::Finalize);
        assert!(e.message().ends_with("two / three / four"), "{e}");
        assert!(!e.message().contains("one"), "{e}");
    }

    #[tokio::test]
    async fn a_missing_tool_is_a_spawn_error_and_output_is_returned() {
        let e = run(
            Path::new("/nonexistent/ffprobe"),
            ["-v"],
            Duration::from_secs(1),
            RecordErrorKind::Probe,
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), RecordErrorKind::Spawn);
        let out = run(
            Path::new("/bin/echo"),
            ["hi"],
            Duration::from_secs(10),
            RecordErrorKind::Probe,
        )
        .await
        .unwrap();
        assert_eq!(out, b"hi\n");
    }
}

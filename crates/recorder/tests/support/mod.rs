//! Shared by the recorder's integration tests: the test camera, in-memory
//! ports, and checks on finished clips.

#![allow(dead_code, unused_imports)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

pub mod camera;

pub use camera::{frame_lumas, free_port, TestCamera};

/// An ffmpeg Vigil did not start (a test pattern to nowhere); the caller
/// kills it.
pub fn bystander_ffmpeg() -> Child {
    Command::new("ffmpeg")
        .args([
            "-v",
            "quiet",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=5",
            "-f",
            "null",
            "-",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

pub fn tools() -> (PathBuf, PathBuf) {
    ("ffmpeg".into(), "ffprobe".into())
}

/// Decodes a whole file; returns ffmpeg's decoding errors (empty when
/// clean). The null muxer's complaints about a repeated DTS are not
/// decoding errors: the test camera sends some packets without timestamps
/// ("Timestamps are unset"), which ffmpeg fills in, once in a while equal
/// to the previous one; players don't mind.
pub fn decode_errors(path: &std::path::Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg could not read {}",
        path.display()
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("non monotonically increasing dts"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether the MP4's index (moov) comes before its media (mdat).
pub fn is_faststart(path: &std::path::Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let find = |tag: &[u8]| bytes.windows(4).position(|w| w == tag);
    matches!((find(b"moov"), find(b"mdat")), (Some(m), Some(d)) if m < d)
}

/// Bytes of MPEG-TS parts in a recording's folder (0 when it is gone).
pub fn parts_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".ts"))
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await
}

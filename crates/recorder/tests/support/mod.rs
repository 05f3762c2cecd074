//! The test camera (tools/camera.py, GStreamer's RTSP server) as a child
//! process owned by the test: started on a free port, killed on drop.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

pub mod fakes;

pub struct TestCamera {
    child: Child,
    pub port: u16,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/camera.py")
}

impl TestCamera {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        let mut child = Command::new("/usr/bin/python3")
            .arg(script())
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tools/camera.py (needs GStreamer: tools/test installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("ready"), "camera did not start: {line:?}");
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/test", self.port)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestCamera {
    fn drop(&mut self) {
        self.kill();
    }
}

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

pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await
}

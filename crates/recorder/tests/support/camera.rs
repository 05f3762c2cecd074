//! The test camera (tools/camera.py, GStreamer's RTSP server) as a child
//! process owned by the test: started on a free port, killed on drop.
//! Std only, so other crates' tests can include this file by path.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

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
        Self::start_with(port, &[])
    }

    /// A camera showing a black picture until [`TestCamera::paint`]: a
    /// visible marker of when frames were filmed.
    pub fn start_black() -> Self {
        Self::start_with(free_port(), &["--pattern", "black"])
    }

    pub fn start_with(port: u16, args: &[&str]) -> Self {
        let mut child = Command::new("/usr/bin/python3")
            .arg(script())
            .args(["--port", &port.to_string()])
            .args(args)
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

    /// Turns the picture white (`true`) or black, at once.
    pub fn paint(&self, white: bool) {
        self.signal(if white { "-USR1" } else { "-USR2" });
    }

    /// Sends the camera process a signal (`-STOP` freezes it with its
    /// sockets open, as a hung camera; `-CONT` thaws it).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot signal the camera");
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

/// The mean brightness (0–255) of every video frame of a clip, in order:
/// reads the marker [`TestCamera::paint`] leaves in the picture.
pub fn frame_lumas(path: &std::path::Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v:0",
            "-vf",
            "scale=1:1",
            "-pix_fmt",
            "gray",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "cannot decode {}", path.display());
    out.stdout
}

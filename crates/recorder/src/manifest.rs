//! A manifest per running recording (`manifest.json` in its folder): which
//! playback, which ffmpeg (pid *and* process start time, so a recycled pid
//! is never mistaken for ours), and the camera (masked). A restarted server
//! reads these to find its own orphans and partial files; it never touches
//! a process it can't match.

use serde::{Deserialize, Serialize};
use std::path::Path;
use vigil_domain::RtspUrl;

pub const FILE: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub id: String,
    pub pid: u32,
    /// `/proc/PID/stat` field 22, in clock ticks since boot.
    pub start_ticks: Option<u64>,
    pub camera: String,
}

/// Field 22 of `/proc/PID/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after the *last* `)`.
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // After ')' come field 3 (state) onwards; field 22 is the 20th of them.
    after.split_whitespace().nth(19)?.parse().ok()
}

impl Manifest {
    pub fn write(dir: &Path, id: &str, pid: u32, url: &RtspUrl) -> std::io::Result<()> {
        let m = Manifest {
            id: id.to_owned(),
            pid,
            start_ticks: process_start_ticks(pid),
            camera: url.masked(),
        };
        let tmp = dir.join(format!("{FILE}.tmp"));
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(&m).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, dir.join(FILE))
    }

    pub fn read(dir: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(dir.join(FILE)).ok()?).ok()
    }

    pub fn remove(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(FILE));
    }

    /// Whether the process this manifest names is still the ffmpeg we
    /// started: same pid, same start time, and its command line writes into
    /// `dir`.
    pub fn process_is_ours(&self, dir: &Path) -> bool {
        let Some(ticks) = self.start_ticks else {
            return false;
        };
        if process_start_ticks(self.pid) != Some(ticks) {
            return false;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", self.pid)) else {
            return false;
        };
        let needle = dir.to_string_lossy();
        String::from_utf8_lossy(&cmdline)
            .split('\0')
            .any(|arg| arg.starts_with(needle.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_of_this_process_are_stable() {
        let me = std::process::id();
        let a = process_start_ticks(me).unwrap();
        assert_eq!(process_start_ticks(me), Some(a));
        assert_eq!(process_start_ticks(u32::MAX), None);
    }

    #[test]
    fn a_manifest_never_matches_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let url = RtspUrl::parse("rtsp://u:secret@cam/live").unwrap();
        Manifest::write(dir.path(), "p1", std::process::id(), &url).unwrap();
        let m = Manifest::read(dir.path()).unwrap();
        assert_eq!(m.camera, "rtsp://u:***@cam/live");
        // This test process is alive with the right start time, but its
        // command line doesn't write into `dir`: not ours.
        assert!(!m.process_is_ours(dir.path()));
        let forged = Manifest {
            start_ticks: Some(m.start_ticks.unwrap() + 1),
            ..m
        };
        assert!(!forged.process_is_ours(dir.path()));
    }
}

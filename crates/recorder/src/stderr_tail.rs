//! The last lines ffmpeg printed, with the camera's password masked, kept
//! to explain a failure. Lines ffmpeg prints on every healthy RTSP copy are
//! not kept, so they can't become the reason shown to a user.

use std::collections::VecDeque;
use vigil_domain::RtspUrl;

const BENIGN: &[&str] = &[
    "Timestamps are unset in a packet",
    "Non-monotonous DTS",
    "Non-monotonic DTS",
    "concealing",
    "not enough frames to estimate rate",
    "RTP: missed",
    "max delay reached",
    "Packet corrupt",
];

#[derive(Debug)]
pub struct StderrTail {
    url: RtspUrl,
    lines: VecDeque<String>,
    cap: usize,
}

impl StderrTail {
    pub fn new(url: RtspUrl, cap: usize) -> Self {
        Self {
            url,
            lines: VecDeque::with_capacity(cap),
            cap,
        }
    }

    /// Masks a line and keeps it if it says something.
    pub fn push(&mut self, line: &str) -> String {
        let masked = self.url.mask_in(line.trim_end());
        if !masked.trim().is_empty() && !BENIGN.iter().any(|b| masked.contains(b)) {
            if self.lines.len() == self.cap {
                self.lines.pop_front();
            }
            self.lines.push_back(masked.clone());
        }
        masked
    }

    /// The kept lines, newest last, as one message.
    pub fn summary(&self) -> Option<String> {
        if self.lines.is_empty() {
            None
        } else {
            Some(self.lines.iter().cloned().collect::<Vec<_>>().join("; "))
        }
    }

    pub fn clear(&mut self) {
        self.lines.clear();
    }

    pub fn mentions(&self, text: &str) -> bool {
        self.lines.iter().any(|l| l.contains(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_filters() {
        let url = RtspUrl::parse("rtsp://admin:pw123@10.0.0.7/live").unwrap();
        let mut t = StderrTail::new(url, 2);
        t.push("[segment @ 0x1] Timestamps are unset in a packet for stream 0.");
        assert_eq!(t.summary(), None);
        let shown = t.push("rtsp://admin:pw123@10.0.0.7/live: Connection refused");
        assert!(!shown.contains("pw123"));
        t.push("a");
        t.push("b");
        assert_eq!(t.summary().unwrap(), "a; b", "only the last lines are kept");
    }
}

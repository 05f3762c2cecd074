//! ffmpeg's `-progress pipe:1` output: blocks of `key=value` lines, each
//! ending in `progress=continue` or `progress=end`.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Video frames handed to the muxer so far.
    pub frame: u64,
    /// Microseconds of media written (`out_time_us`).
    pub out_time_us: i64,
    /// Whether this is ffmpeg's last block.
    pub end: bool,
}

#[derive(Debug, Default)]
pub struct ProgressParser {
    cur: Progress,
}

impl ProgressParser {
    /// Feeds one line; returns a block when `line` completes one.
    pub fn feed(&mut self, line: &str) -> Option<Progress> {
        let (k, v) = line.trim().split_once('=')?;
        match k {
            "frame" => self.cur.frame = v.trim().parse().unwrap_or(self.cur.frame),
            // out_time_ms is microseconds too; prefer the honest name.
            "out_time_us" => {
                self.cur.out_time_us = v.trim().parse().unwrap_or(self.cur.out_time_us)
            }
            "progress" => {
                self.cur.end = v.trim() == "end";
                return Some(self.cur.clone());
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reported_when_complete() {
        let mut p = ProgressParser::default();
        let text = "frame=0\nfps=0.00\ntotal_size=N/A\nout_time_us=64000\nprogress=continue\nframe=19\nout_time_us=N/A\nprogress=continue\nframe=120\nout_time_us=4800000\nprogress=end\n";
        let blocks: Vec<_> = text.lines().filter_map(|l| p.feed(l)).collect();
        assert_eq!(blocks.len(), 3);
        assert_eq!(
            blocks[0],
            Progress {
                frame: 0,
                out_time_us: 64000,
                end: false
            }
        );
        assert_eq!(blocks[1].frame, 19);
        assert_eq!(blocks[1].out_time_us, 64000, "N/A keeps the last value");
        assert_eq!(
            blocks[2],
            Progress {
                frame: 120,
                out_time_us: 4_800_000,
                end: true
            }
        );
    }
}

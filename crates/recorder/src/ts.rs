//! Reads where an MPEG-TS part's timestamps run, without a process: live
//! upload needs each part's length and whether it carries on from the
//! previous one, for every part of every recording, and an ffprobe per
//! part would cost more than the recording itself. Only PES headers are
//! read (ISO/IEC 13818-1 §2.4.3.2, §2.4.3.7).

use std::path::Path;
use vigil_domain::PartTimes;

const PACKET: usize = 188;
const SYNC: u8 = 0x47;

/// The first and last decoding timestamps of the part's video (of its
/// audio when it has no video), and the typical step between them.
pub fn part_times(path: &Path) -> Option<PartTimes> {
    let bytes = std::fs::read(path).ok()?;
    times_of(&bytes)
}

fn times_of(bytes: &[u8]) -> Option<PartTimes> {
    let mut video = Track::default();
    let mut audio = Track::default();
    for packet in bytes.chunks_exact(PACKET) {
        if packet[0] != SYNC || packet[1] & 0x40 == 0 {
            continue; // lost sync, or no PES starts here
        }
        let control = (packet[3] >> 4) & 0x3;
        let start = match control {
            0b01 => 4,
            0b11 => 5 + usize::from(packet[4]),
            _ => continue,
        };
        let Some(pes) = packet.get(start..) else {
            continue;
        };
        let Some((stream, ts)) = pes_timestamp(pes) else {
            continue;
        };
        match stream {
            0xE0..=0xEF => video.add(ts),
            0xC0..=0xDF | 0xBD => audio.add(ts),
            _ => {}
        }
    }
    video.times().or_else(|| audio.times())
}

/// The stream id and DTS (else PTS) of a PES header.
fn pes_timestamp(pes: &[u8]) -> Option<(u8, u64)> {
    if pes.len() < 14 || pes[..3] != [0, 0, 1] {
        return None;
    }
    let flags = pes[7] >> 6;
    let at = match flags {
        0b11 => 14, // PTS then DTS: decoding order is DTS
        0b10 => 9,
        _ => return None,
    };
    let t = pes.get(at..at + 5)?;
    let ts = (u64::from(t[0] >> 1) & 0x07) << 30
        | u64::from(t[1]) << 22
        | u64::from(t[2] >> 1) << 15
        | u64::from(t[3]) << 7
        | u64::from(t[4] >> 1);
    Some((pes[3], ts))
}

#[derive(Default)]
struct Track {
    first: Option<u64>,
    last: u64,
    count: u64,
}

impl Track {
    fn add(&mut self, ts: u64) {
        self.first.get_or_insert(ts);
        self.last = ts;
        self.count += 1;
    }

    fn times(&self) -> Option<PartTimes> {
        let first = self.first?;
        let span = (self.last + (1 << 33) - first) % (1 << 33);
        // The mean step is one frame; a one-packet part gets 25 fps's.
        let frame = if self.count > 1 {
            span / (self.count - 1)
        } else {
            vigil_domain::live::TS_HZ / 25
        };
        Some(PartTimes {
            first,
            last: self.last,
            frame,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One TS packet starting a PES of `stream` with a PTS only.
    fn packet(stream: u8, pts: u64) -> Vec<u8> {
        let mut p = vec![SYNC, 0x40, 0x100u16 as u8, 0x10];
        p.extend([0, 0, 1, stream, 0, 0, 0x80, 0x80, 5]);
        p.extend([
            0x21 | ((pts >> 29) as u8 & 0x0E),
            (pts >> 22) as u8,
            0x01 | ((pts >> 14) as u8 & 0xFE),
            (pts >> 7) as u8,
            0x01 | ((pts << 1) as u8 & 0xFE),
        ]);
        p.resize(PACKET, 0xFF);
        p
    }

    #[test]
    fn reads_video_timestamps_before_audio() {
        let mut ts = Vec::new();
        for i in 0..50u64 {
            ts.extend(packet(0xC0, 1_000 + i * 1_920));
            ts.extend(packet(0xE0, 126_000 + i * 3_600));
        }
        let t = times_of(&ts).unwrap();
        assert_eq!(t.first, 126_000);
        assert_eq!(t.last, 126_000 + 49 * 3_600);
        assert_eq!(t.frame, 3_600);
        assert!((t.seconds() - 2.0).abs() < 1e-9);
        let audio_only: Vec<u8> = (0..10u64).flat_map(|i| packet(0xC0, i * 1_920)).collect();
        assert_eq!(times_of(&audio_only).unwrap().last, 9 * 1_920);
        assert_eq!(times_of(&[0u8; 376]), None);
    }
}

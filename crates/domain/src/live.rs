//! Live upload: the pieces of a clip stored while it is recorded, so the
//! evidence is off-site during the incident, watchable as HLS, and the clip
//! can be rebuilt from the store when the recorder's disk is lost.
//!
//! A *part* is what the recorder writes (an MPEG-TS file of a few
//! seconds); a *segment* is what is stored: one part, or several
//! consecutive ones concatenated (MPEG-TS concatenates byte-wise), under
//! `playbacks/{id}/live/`. A segment's key carries everything a playlist or
//! a rebuild needs, so the store's listing is the only index:
//! `{seq:06}-{milliseconds}[-d].ts`, where `-d` marks a timestamp
//! discontinuity before it (a reconnect).

use crate::PlaybackId;
use std::path::PathBuf;

/// The MPEG-TS clock: 90 kHz, 33 bits.
pub const TS_HZ: u64 = 90_000;
const TS_WRAP: u64 = 1 << 33;

/// Where a part's decoding timestamps run, in the 90 kHz clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartTimes {
    /// The first video (else audio) packet's timestamp.
    pub first: u64,
    /// The last one's.
    pub last: u64,
    /// One frame's length, as the part's packets space them.
    pub frame: u64,
}

impl PartTimes {
    /// Seconds the part plays on its own.
    pub fn seconds(&self) -> f64 {
        (forward(self.first, self.last) + self.frame) as f64 / TS_HZ as f64
    }

    /// Whether `next` carries on from this part's timestamps (same
    /// connection), rather than after a jump (a reconnect restarts them).
    pub fn continued_by(&self, next: &PartTimes) -> bool {
        let step = forward(self.last, next.first);
        // Up to two seconds forward: a frame, or a short stall.
        step <= 2 * TS_HZ
    }
}

/// `to − from` in the 33-bit clock; "backwards" comes out huge.
fn forward(from: u64, to: u64) -> u64 {
    (to + TS_WRAP - from % TS_WRAP) % TS_WRAP
}

/// A closed part of a running take (a later one exists, or the take has
/// ended), as the recorder lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartFile {
    pub number: u32,
    pub path: PathBuf,
    pub bytes: u64,
    /// `None` when the part holds no packet with a timestamp.
    pub times: Option<PartTimes>,
}

/// One stored segment, as its key names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSegment {
    /// 0, 1, 2… in recording order.
    pub seq: u32,
    /// How long it plays.
    pub millis: u32,
    /// Its timestamps do not carry on from the previous segment's.
    pub discontinuity: bool,
}

impl LiveSegment {
    /// The folder of a playback's segments in the store.
    pub fn prefix(playback: PlaybackId) -> String {
        format!("playbacks/{playback}/live/")
    }

    /// The key under which Vigil serves a playback's live playlist (signed,
    /// at `/media/{key}`); it is made on request, never stored.
    pub fn playlist_key(playback: PlaybackId) -> String {
        format!("playbacks/{playback}/live.m3u8")
    }

    /// The playback whose playlist `key` names.
    pub fn playlist_of(key: &str) -> Option<PlaybackId> {
        key.strip_prefix("playbacks/")?
            .strip_suffix("/live.m3u8")?
            .parse()
            .ok()
    }

    pub fn key(&self, playback: PlaybackId) -> String {
        let d = if self.discontinuity { "-d" } else { "" };
        format!(
            "{}{:06}-{}{d}.ts",
            Self::prefix(playback),
            self.seq,
            self.millis
        )
    }

    /// The segment a stored key names (`None` for anything else).
    pub fn parse(key: &str) -> Option<Self> {
        let name = key.rsplit('/').next()?.strip_suffix(".ts")?;
        let (name, discontinuity) = match name.strip_suffix("-d") {
            Some(n) => (n, true),
            None => (name, false),
        };
        let (seq, millis) = name.split_once('-')?;
        if seq.len() != 6 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            seq: seq.parse().ok()?,
            millis: millis.parse().ok()?,
            discontinuity,
        })
    }

    pub fn seconds(&self) -> f64 {
        f64::from(self.millis) / 1000.0
    }
}

/// The segments among `keys` (a listing of [`LiveSegment::prefix`]), in
/// order, with their keys; anything else is left out.
pub fn segments_of(keys: impl IntoIterator<Item = String>) -> Vec<(LiveSegment, String)> {
    let mut out: Vec<_> = keys
        .into_iter()
        .filter_map(|k| Some((LiveSegment::parse(&k)?, k)))
        .collect();
    out.sort_by_key(|(s, _)| s.seq);
    out.dedup_by_key(|(s, _)| s.seq);
    out
}

/// An HLS media playlist (RFC 8216) of `segments`, each with the URI it is
/// fetched from. `ended`: a VOD playlist with `#EXT-X-ENDLIST`; else an
/// EVENT playlist, which grows while the clip is recorded.
pub fn playlist(segments: &[(LiveSegment, String)], ended: bool) -> String {
    // The target duration must bound every segment, rounded to the
    // nearest second (RFC 8216 §4.3.3.1).
    let target = segments
        .iter()
        .map(|(s, _)| (s.millis + 500) / 1000)
        .max()
        .unwrap_or(2)
        .max(1);
    let kind = if ended { "VOD" } else { "EVENT" };
    let mut m3u8 = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-PLAYLIST-TYPE:{kind}\n#EXT-X-MEDIA-SEQUENCE:0\n"
    );
    for (i, (s, uri)) in segments.iter().enumerate() {
        if s.discontinuity && i > 0 {
            m3u8.push_str("#EXT-X-DISCONTINUITY\n");
        }
        m3u8.push_str(&format!("#EXTINF:{:.3},\n{uri}\n", s.seconds()));
    }
    if ended {
        m3u8.push_str("#EXT-X-ENDLIST\n");
    }
    m3u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_order() {
        let id = PlaybackId::new();
        let s = LiveSegment {
            seq: 12,
            millis: 2040,
            discontinuity: true,
        };
        let key = s.key(id);
        assert_eq!(key, format!("playbacks/{id}/live/000012-2040-d.ts"));
        assert_eq!(LiveSegment::parse(&key), Some(s));
        assert_eq!(
            LiveSegment::playlist_of(&LiveSegment::playlist_key(id)),
            Some(id)
        );
        assert_eq!(LiveSegment::playlist_of("playbacks/x/live.m3u8"), None);
        let plain = LiveSegment {
            discontinuity: false,
            ..s
        };
        assert_eq!(LiveSegment::parse(&plain.key(id)), Some(plain));
        for junk in ["video.mp4", "x/12-40.ts", "000012.ts", "00001a-5.ts"] {
            assert_eq!(LiveSegment::parse(junk), None, "{junk}");
        }
        let listed = segments_of([
            format!("playbacks/{id}/live/000002-1000.ts"),
            format!("playbacks/{id}/live/000000-1000.ts"),
            format!("playbacks/{id}/video.mp4"),
            format!("playbacks/{id}/live/000001-1500-d.ts"),
        ]);
        let seqs: Vec<_> = listed.iter().map(|(s, _)| s.seq).collect();
        assert_eq!(seqs, [0, 1, 2]);
    }

    #[test]
    fn playlists_grow_then_end() {
        let segs = vec![
            (
                LiveSegment {
                    seq: 0,
                    millis: 2000,
                    discontinuity: false,
                },
                "a.ts".to_owned(),
            ),
            (
                LiveSegment {
                    seq: 1,
                    millis: 3600,
                    discontinuity: true,
                },
                "b.ts".to_owned(),
            ),
        ];
        let live = playlist(&segs, false);
        assert!(live.contains("#EXT-X-PLAYLIST-TYPE:EVENT"));
        assert!(live.contains("#EXT-X-TARGETDURATION:4\n"));
        assert!(live.contains("#EXTINF:2.000,\na.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:3.600,\nb.ts\n"));
        assert!(!live.contains("ENDLIST"));
        let done = playlist(&segs, true);
        assert!(done.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
        assert!(done.ends_with("#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn timestamps_carry_on_across_the_wrap_but_not_a_restart() {
        let a = PartTimes {
            first: TS_WRAP - 90_000,
            last: TS_WRAP - 3_600,
            frame: 3_600,
        };
        let b = PartTimes {
            first: 0,
            last: 86_400,
            frame: 3_600,
        };
        assert!(a.continued_by(&b));
        assert!((a.seconds() - 1.0).abs() < 1e-9);
        let restarted = PartTimes {
            first: 1_000,
            last: 90_000,
            frame: 3_600,
        };
        assert!(!b.continued_by(&restarted));
    }
}

//! ffmpeg and ffprobe argument vectors. Always a vector, never a shell
//! string, so nothing in a camera URL is interpreted by a shell.

use crate::RecorderConfig;
use std::path::Path;

/// How audio is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioMode {
    /// Copy the camera's audio (AAC from most cameras).
    Copy,
    /// Encode to AAC: for cameras sending G.711 (PCM μ-law/A-law) and
    /// other codecs MPEG-TS and MP4 can't carry.
    Aac,
}

pub use vigil_domain::capture::PART_PREFIX;

/// Records `url` into numbered MPEG-TS parts in `dir`, starting at
/// `start_number`. Parts are crash-safe: with `-flush_packets 1` every
/// packet reaches the file, and a torn last part still joins cleanly.
pub fn record(
    cfg: &RecorderConfig,
    url: &str,
    dir: &Path,
    start_number: u32,
    audio: AudioMode,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "warning",
        "-nostats",
        "-progress",
        "pipe:1",
        // A progress block every 0.1 s instead of 0.5 s: the first frame is
        // noticed (and the playback RECORDING) up to 0.4 s sooner.
        "-stats_period",
        "0.1",
        // Before -i: restricts what the input may open. RTSP is a demuxer
        // over TCP (and TLS for rtsps), so file:, concat:, http: are refused.
        "-protocol_whitelist",
        "tcp,tls",
        "-rtsp_transport",
        "tcp",
        "-timeout",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    a.push(cfg.io_timeout.as_micros().to_string());
    a.extend(
        [
            // Small probe: first frame in ~0.4 s instead of ~1.3 s; the
            // SDP already gives the codec parameters.
            "-probesize",
            "32768",
            "-analyzeduration",
            "0",
            "-f",
            "rtsp",
            "-i",
        ]
        .map(String::from),
    );
    a.push(url.to_owned());
    a.extend(["-map", "0:v:0", "-map", "0:a:0?", "-c:v", "copy"].map(String::from));
    match audio {
        AudioMode::Copy => a.extend(["-c:a", "copy"].map(String::from)),
        AudioMode::Aac => a.extend(["-c:a", "aac", "-b:a", "64k"].map(String::from)),
    }
    a.extend(
        [
            // A camera whose audio stalls must not hold video back 10 s.
            "-max_interleave_delta",
            "1000000",
            "-f",
            "segment",
            "-segment_format",
            "mpegts",
            "-segment_time",
        ]
        .map(String::from),
    );
    a.push(cfg.segment_seconds.to_string());
    a.push("-segment_start_number".into());
    a.push(start_number.to_string());
    // The outer flag alone leaves each part empty until it closes: the
    // inner MPEG-TS muxer has its own buffer (measured: 0 bytes for 2 s).
    a.extend(
        [
            "-segment_format_options",
            "flush_packets=1",
            "-flush_packets",
            "1",
        ]
        .map(String::from),
    );
    a.push(
        dir.join(format!("{PART_PREFIX}%05d.ts"))
            .to_string_lossy()
            .into_owned(),
    );
    a
}

/// Joins the parts listed in `list` (an ffconcat file) into one faststart
/// MP4 without re-encoding.
pub fn join(list: &Path, out: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
    ]
    .map(String::from)
    .to_vec();
    a.push(list.to_string_lossy().into_owned());
    // ADTS AAC from MPEG-TS must become raw AAC in MP4: the MP4 muxer
    // inserts `aac_adtstoasc` itself for a non-fragmented output. Naming the
    // filter here would refuse every other audio codec (Opus).
    a.extend(["-map", "0", "-c", "copy", "-movflags", "+faststart"].map(String::from));
    a.push(out.to_string_lossy().into_owned());
    a
}

/// Remuxes MPEG-TS read from stdin into a moov-at-end MP4 at `out`, without
/// re-encoding.
pub fn remux(out: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "mpegts",
        "-i",
        "pipe:0",
        // As in `join`: the MP4 muxer inserts `aac_adtstoasc` itself.
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "mp4",
    ]
    .map(String::from)
    .to_vec();
    a.push(out.to_string_lossy().into_owned());
    a
}

/// [`join`], with the video re-encoded to H.264 (for cameras whose H.265
/// browsers can't play). `veryfast` at CRF 23 keeps a 1080p camera's
/// quality at about a fifth of the CPU of `medium`; the audio is already
/// AAC or Opus in the parts and is copied.
pub fn join_transcoded(list: &Path, out: &Path) -> Vec<String> {
    let mut a = join(list, out);
    let Some(at) = a.iter().position(|x| x == "-c") else {
        return a;
    };
    a.splice(
        at..at + 2,
        [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-c:a",
            "copy",
        ]
        .map(String::from),
    );
    a
}

/// One JPEG frame from a clip, for the thumbnail.
pub fn thumbnail(clip: &Path, at_seconds: f64, out: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-ss",
    ]
    .map(String::from)
    .to_vec();
    a.push(format!("{at_seconds:.3}"));
    a.push("-i".into());
    a.push(clip.to_string_lossy().into_owned());
    a.extend(["-frames:v", "1", "-vf", "scale=640:-2", "-q:v", "4"].map(String::from));
    a.push(out.to_string_lossy().into_owned());
    a
}

/// Reads `window` of a stream packet by packet: the streams' codecs and
/// the video packets' times and key flags. `io_timeout` is given for a
/// camera (RTSP over TCP, the same whitelist as recording) and `None` for
/// a file.
pub fn probe_stream(
    io_timeout: Option<std::time::Duration>,
    input: &str,
    window: std::time::Duration,
) -> Vec<String> {
    let mut a: Vec<String> = ["-v", "error", "-print_format", "json"]
        .map(String::from)
        .to_vec();
    if let Some(t) = io_timeout {
        a.extend(
            [
                "-protocol_whitelist",
                "tcp,tls",
                "-rtsp_transport",
                "tcp",
                "-timeout",
            ]
            .map(String::from),
        );
        a.push(t.as_micros().to_string());
        a.extend(["-f", "rtsp"].map(String::from));
    }
    a.push("-read_intervals".into());
    a.push(format!("%+{:.1}", window.as_secs_f64()));
    a.push("-show_entries".into());
    a.push(
        "stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate:\
         packet=stream_index,pts_time,dts_time,flags"
            .into(),
    );
    a.push("-i".into());
    a.push(input.to_owned());
    a
}

pub fn probe(file: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    .map(String::from)
    .to_vec();
    a.push(file.to_string_lossy().into_owned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cfg() -> RecorderConfig {
        RecorderConfig::new("ffmpeg".into(), "ffprobe".into(), "/rec".into())
    }

    #[test]
    fn whitelist_and_transport_come_before_the_input() {
        let a = record(
            &cfg(),
            "rtsp://u:p@cam/live",
            &PathBuf::from("/rec/x"),
            0,
            AudioMode::Copy,
        );
        let pos = |s: &str| a.iter().position(|x| x == s).unwrap();
        assert!(pos("-protocol_whitelist") < pos("-i"));
        assert_eq!(a[pos("-protocol_whitelist") + 1], "tcp,tls");
        assert_eq!(a[pos("-rtsp_transport") + 1], "tcp");
        assert_eq!(
            a[pos("-timeout") + 1],
            "5000000",
            "microseconds in ffmpeg 5"
        );
        assert_eq!(a[pos("-f") + 1], "rtsp");
        assert_eq!(
            a[pos("-i") + 1],
            "rtsp://u:p@cam/live",
            "the URL is one argument"
        );
        assert_eq!(a[pos("-flush_packets") + 1], "1");
        assert!(a.last().unwrap().ends_with("part-%05d.ts"));
        assert!(!a.iter().any(|x| x == "-stimeout"), "removed in ffmpeg 5");
        assert_eq!(a[pos("-stats_period") + 1], "0.1");
    }

    #[test]
    fn audio_mode_and_numbering() {
        let a = record(
            &cfg(),
            "rtsp://cam/live",
            Path::new("/d"),
            7,
            AudioMode::Aac,
        );
        let pos = |s: &str| a.iter().position(|x| x == s).unwrap();
        assert_eq!(a[pos("-c:a") + 1], "aac");
        assert_eq!(a[pos("-segment_start_number") + 1], "7");
    }

    #[test]
    fn a_transcoded_join_encodes_only_the_video() {
        let a = join_transcoded(Path::new("/d/parts.ffconcat"), Path::new("/d/video.mp4"));
        let pos = |s: &str| a.iter().position(|x| x == s).unwrap();
        assert_eq!(a[pos("-c:v") + 1], "libx264");
        assert_eq!(a[pos("-c:a") + 1], "copy");
        assert!(!a.iter().any(|x| x == "-c"), "no blanket copy left");
        assert_eq!(a.last().unwrap(), "/d/video.mp4");
    }

    #[test]
    fn join_is_a_faststart_copy() {
        let a = join(Path::new("/d/list.ffconcat"), Path::new("/d/video.mp4"));
        assert!(a.windows(2).any(|w| w == ["-movflags", "+faststart"]));
        assert!(a.windows(2).any(|w| w == ["-c", "copy"]));
        assert!(
            !a.iter().any(|x| x.contains("frag")),
            "fragment flags would keep it fragmented"
        );
    }
}

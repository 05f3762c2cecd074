//! What ffprobe says about a finished clip. ffprobe's JSON gives numbers as
//! strings ("duration": "6.040000"), so they are read as text and parsed.

use crate::{args, process, RecordError, RecordErrorKind};
use serde::Deserialize;
use std::{path::Path, time::Duration};
use vigil_domain::MediaInfo;

#[derive(Debug, Deserialize)]
struct Output {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Debug, Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<i32>,
    height: Option<i32>,
}

#[derive(Debug, Deserialize)]
struct Format {
    duration: Option<String>,
    size: Option<String>,
    bit_rate: Option<String>,
}

/// A probed clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipInfo {
    pub media: MediaInfo,
    pub has_audio: bool,
    pub bit_rate: Option<i64>,
}

impl ClipInfo {
    /// What is known of a clip ffprobe could not read in time: nothing.
    pub fn unknown() -> Self {
        Self {
            media: MediaInfo::default(),
            has_audio: false,
            bit_rate: None,
        }
    }
}

/// `h264` → `H.264`, as the API shows codecs.
pub fn codec_label(name: &str) -> String {
    match name {
        "h264" => "H.264".into(),
        "hevc" | "h265" => "H.265".into(),
        "mjpeg" => "MJPEG".into(),
        "mpeg4" => "MPEG-4".into(),
        "av1" => "AV1".into(),
        "vp9" => "VP9".into(),
        other => other.to_uppercase(),
    }
}

/// `1080` → `1080p`; 2160 and above are `4K`.
pub fn resolution_label(height: i32) -> String {
    match height {
        h if h >= 2160 => "4K".into(),
        h => format!("{h}p"),
    }
}

pub fn parse(json: &[u8]) -> Result<ClipInfo, RecordError> {
    let out: Output = serde_json::from_slice(json)
        .map_err(|e| RecordError::probe(format!("unreadable ffprobe output: {e}")))?;
    let video = out
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video"));
    let Some(video) = video else {
        return Err(RecordError::probe("the clip has no video stream"));
    };
    let audio = out
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));
    let has_audio = audio.is_some();
    let browser_playable = video
        .codec_name
        .as_deref()
        .map(|v| MediaInfo::plays_in_browsers(v, audio.and_then(|a| a.codec_name.as_deref())));
    let fmt = out.format.as_ref();
    let num = |v: Option<&String>| v.and_then(|s| s.parse::<f64>().ok());
    let media = MediaInfo {
        file_size_bytes: num(fmt.and_then(|f| f.size.as_ref())).map(|n| n as i64),
        duration_sec: num(fmt.and_then(|f| f.duration.as_ref()))
            .map(|d| (d * 1000.0).round() / 1000.0),
        codec: video.codec_name.as_deref().map(codec_label),
        resolution: video.height.map(resolution_label),
        width: video.width,
        height: video.height,
        browser_playable,
    };
    Ok(ClipInfo {
        media,
        has_audio,
        bit_rate: num(fmt.and_then(|f| f.bit_rate.as_ref())).map(|b| b as i64),
    })
}

/// Runs ffprobe on `file`, killing it after `deadline`.
pub async fn probe(
    ffprobe: &Path,
    file: &Path,
    deadline: Duration,
) -> Result<ClipInfo, RecordError> {
    let out = process::run(ffprobe, args::probe(file), deadline, RecordErrorKind::Probe).await?;
    parse(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_ffprobe_5_1_output() {
        let info = parse(include_bytes!(
            "../tests/fixtures/ffprobe_5_1_h264_aac.json"
        ))
        .unwrap();
        assert_eq!(info.media.codec.as_deref(), Some("H.264"));
        assert_eq!(
            (info.media.width, info.media.height),
            (Some(640), Some(360))
        );
        assert_eq!(info.media.resolution.as_deref(), Some("360p"));
        assert!(info.has_audio);
        assert_eq!(info.media.browser_playable, Some(true), "H.264 + AAC");
        let d = info.media.duration_sec.unwrap();
        assert!((4.0..6.0).contains(&d), "{d}");
        assert!(info.media.file_size_bytes.unwrap() > 100_000);
    }

    #[test]
    fn labels() {
        assert_eq!(codec_label("hevc"), "H.265");
        assert_eq!(resolution_label(720), "720p");
        assert_eq!(resolution_label(1080), "1080p");
        assert_eq!(resolution_label(2160), "4K");
    }

    #[test]
    fn h265_or_g711_is_not_browser_playable() {
        let hevc = parse(br#"{"streams":[{"codec_type":"video","codec_name":"hevc"},{"codec_type":"audio","codec_name":"aac"}],"format":{}}"#).unwrap();
        assert_eq!(hevc.media.browser_playable, Some(false));
        let alaw = parse(br#"{"streams":[{"codec_type":"video","codec_name":"h264"},{"codec_type":"audio","codec_name":"pcm_alaw"}],"format":{}}"#).unwrap();
        assert_eq!(alaw.media.browser_playable, Some(false));
        let silent =
            parse(br#"{"streams":[{"codec_type":"video","codec_name":"h264"}],"format":{}}"#)
                .unwrap();
        assert_eq!(silent.media.browser_playable, Some(true));
    }

    #[test]
    fn no_video_or_garbage_is_an_error() {
        assert!(parse(br#"{"streams":[{"codec_type":"audio"}],"format":{}}"#).is_err());
        assert!(parse(b"not json").is_err());
    }
}

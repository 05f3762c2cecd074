//! What a camera sends, measured rather than assumed: a few seconds of its
//! stream (or of a finished clip) read by ffprobe, packet by packet. The
//! keyframe interval comes from the packets' key flags, so a "smart codec"
//! camera that stretches its GOP is caught.

use crate::{args, probe::codec_label, process, supervisor, RecordError, RecordErrorKind};
use serde::Deserialize;
use std::{path::Path, time::Duration};
use vigil_domain::{RtspUrl, StreamFacts};

#[derive(Debug, Deserialize)]
struct Output {
    #[serde(default)]
    streams: Vec<Stream>,
    #[serde(default)]
    packets: Vec<Packet>,
}

#[derive(Debug, Deserialize)]
struct Stream {
    index: Option<u32>,
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<i32>,
    height: Option<i32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Packet {
    stream_index: Option<u32>,
    pts_time: Option<String>,
    dts_time: Option<String>,
    #[serde(default)]
    flags: String,
}

/// `25/1` → 25.0; `0/0` (unknown) → none.
fn rate(r: Option<&str>) -> Option<f64> {
    let (n, d) = r?.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0.0 && d > 0.0).then(|| (n / d * 100.0).round() / 100.0)
}

pub fn parse(json: &[u8]) -> Result<StreamFacts, RecordError> {
    let out: Output = serde_json::from_slice(json)
        .map_err(|e| RecordError::probe(format!("unreadable ffprobe output: {e}")))?;
    let of = |kind: &str| {
        out.streams
            .iter()
            .find(|s| s.codec_type.as_deref() == Some(kind))
    };
    let Some(video) = of("video") else {
        return Err(RecordError::probe("the stream has no video"));
    };
    let audio = of("audio");
    let video_index = video.index.unwrap_or(0);
    // Times of the video packets, in order; the first packet of an RTSP
    // stream may carry no pts, so dts stands in.
    let times: Vec<(f64, bool)> = out
        .packets
        .iter()
        .filter(|p| p.stream_index == Some(video_index))
        .filter_map(|p| {
            let t = p.pts_time.as_deref().or(p.dts_time.as_deref())?;
            Some((t.parse::<f64>().ok()?, p.flags.starts_with('K')))
        })
        .collect();
    let keys: Vec<f64> = times.iter().filter(|(_, k)| *k).map(|(t, _)| *t).collect();
    let keyframe_interval_sec = (keys.len() >= 2).then(|| {
        let span = keys[keys.len() - 1] - keys[0];
        (span / (keys.len() - 1) as f64 * 100.0).round() / 100.0
    });
    let measured_fps = match (times.first(), times.last()) {
        (Some((a, _)), Some((b, _))) if b > a && times.len() > 2 => {
            Some(((times.len() - 1) as f64 / (b - a) * 100.0).round() / 100.0)
        }
        _ => None,
    };
    Ok(StreamFacts {
        video_codec: video.codec_name.as_deref().map(codec_label),
        audio_codec: audio.and_then(|a| a.codec_name.clone()),
        width: video.width,
        height: video.height,
        fps: rate(video.avg_frame_rate.as_deref())
            .or_else(|| rate(video.r_frame_rate.as_deref()))
            .or(measured_fps),
        keyframe_interval_sec,
    })
}

/// Reads `window` of the camera's stream. A camera that refuses the
/// credentials is [`RecordErrorKind::Refused`]; no message holds the
/// password (ffprobe prints the URL it was given).
pub async fn probe_live(
    cfg: &crate::RecorderConfig,
    url: &RtspUrl,
    window: Duration,
) -> Result<StreamFacts, RecordError> {
    let deadline = window + cfg.io_timeout * 2 + Duration::from_secs(5);
    let out = process::run(
        &cfg.ffprobe,
        args::probe_stream(Some(cfg.io_timeout), url.expose_with_credentials(), window),
        deadline,
        RecordErrorKind::CameraUnreachable,
    )
    .await
    .map_err(|e| {
        let message = url.mask_in(e.message());
        match supervisor::refusal_in(&message) {
            Some((meant, true)) => RecordError::refused(meant),
            Some((meant, false)) => RecordError::camera_unreachable(meant),
            None => RecordError::new(e.kind(), message),
        }
    })?;
    parse(&out)
}

/// Reads the first `window` of a clip on disk.
pub async fn probe_file(
    ffprobe: &Path,
    file: &Path,
    window: Duration,
    deadline: Duration,
) -> Result<StreamFacts, RecordError> {
    let out = process::run(
        ffprobe,
        args::probe_stream(None, &file.to_string_lossy(), window),
        deadline,
        RecordErrorKind::Probe,
    )
    .await?;
    parse(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_interval_and_rate_come_from_the_packets() {
        // As ffprobe 5.1 prints an RTSP camera with a 4 s GOP (the first
        // packet without a pts, as GStreamer's server sends it).
        let json = br#"{"packets":[
            {"stream_index":0,"flags":"K_","dts_time":"0.000000"},
            {"stream_index":1,"pts_time":"0.010000","flags":"K_"},
            {"stream_index":0,"pts_time":"0.040000","flags":"__"},
            {"stream_index":0,"pts_time":"4.003644","flags":"K_"},
            {"stream_index":0,"pts_time":"8.003633","flags":"K_"}],
          "streams":[{"index":0,"codec_name":"hevc","codec_type":"video","width":640,"height":360,"r_frame_rate":"25/1","avg_frame_rate":"0/0"},
                     {"index":1,"codec_name":"pcm_alaw","codec_type":"audio"}]}"#;
        let f = parse(json).unwrap();
        assert_eq!(f.keyframe_interval_sec, Some(4.0));
        assert_eq!(f.video_codec.as_deref(), Some("H.265"));
        assert_eq!(f.audio_codec.as_deref(), Some("pcm_alaw"));
        assert_eq!((f.width, f.height), (Some(640), Some(360)));
        assert_eq!(f.fps, Some(25.0), "avg 0/0 falls back to r_frame_rate");
    }

    #[test]
    fn one_keyframe_measures_nothing_and_no_video_is_an_error() {
        let json = br#"{"packets":[{"stream_index":0,"pts_time":"0.1","flags":"K_"}],
          "streams":[{"index":0,"codec_name":"h264","codec_type":"video"}]}"#;
        let f = parse(json).unwrap();
        assert_eq!(f.keyframe_interval_sec, None);
        assert_eq!(f.audio_codec, None);
        assert!(parse(br#"{"streams":[{"codec_type":"audio"}]}"#).is_err());
        assert!(parse(b"garbage").is_err());
    }
}

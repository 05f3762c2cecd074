//! The MPEG-TS parts of one recording, and joining them into one clip.

use crate::{args, probe, process, stream_probe, RecordError, RecordErrorKind, RecorderConfig};
use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

/// The recording's parts in order, with their sizes.
pub fn list(dir: &Path) -> std::io::Result<Vec<(u32, PathBuf, u64)>> {
    list_from(dir, None)
}

/// The parts numbered `from` or later, in order. Only those are stat-ed,
/// so a long pre-roll ring can be read often.
pub fn list_from(dir: &Path, from: Option<u32>) -> std::io::Result<Vec<(u32, PathBuf, u64)>> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix(args::PART_PREFIX))
            .and_then(|n| n.strip_suffix(".ts"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if from.is_some_and(|f| n < f) {
            continue;
        }
        // A part removed between listing and stat-ing is skipped.
        if let Ok(meta) = entry.metadata() {
            parts.push((n, entry.path(), meta.len()));
        }
    }
    parts.sort_by_key(|p| p.0);
    Ok(parts)
}

/// Removes the parts numbered `from` or later (a run whose output is not
/// worth keeping).
pub fn remove_from(dir: &Path, from: u32) {
    for (_, path, _) in list_from(dir, Some(from)).unwrap_or_default() {
        let _ = std::fs::remove_file(path);
    }
}

/// Bytes of media written so far.
pub fn bytes_written(dir: &Path) -> u64 {
    list(dir)
        .map(|p| p.iter().map(|(_, _, s)| s).sum())
        .unwrap_or(0)
}

/// The parts numbered `from` or later that are closed: a later part
/// exists (ffmpeg, or a ring, has moved on), or the take has `ended`.
/// Each is read once for its timestamps.
pub fn closed(dir: &Path, from: u32, ended: bool) -> Vec<vigil_domain::PartFile> {
    let mut listed = list_from(dir, Some(from)).unwrap_or_default();
    if !ended {
        listed.pop();
    }
    listed
        .into_iter()
        .map(|(number, path, bytes)| vigil_domain::PartFile {
            number,
            times: crate::ts::part_times(&path),
            path,
            bytes,
        })
        .collect()
}

/// The number the next ffmpeg run should start its parts at.
pub fn next_number(dir: &Path) -> u32 {
    list(dir)
        .ok()
        .and_then(|p| p.last().map(|(n, _, _)| n + 1))
        .unwrap_or(0)
}

pub use vigil_domain::capture::CLIP_NAME;

/// Joins every non-empty part (a torn last one included: the concat
/// demuxer keeps what decodes) into `dir/video.mp4`, moov first.
pub async fn join(cfg: &RecorderConfig, dir: &Path) -> Result<PathBuf, RecordError> {
    let parts: Vec<_> = list(dir)?
        .into_iter()
        .filter(|(_, _, size)| *size > 0)
        .collect();
    if parts.is_empty() {
        return Err(RecordError::no_media("no media was written"));
    }
    let mut text = String::from("ffconcat version 1.0\n");
    for (_, path, _) in &parts {
        // Names are ours (part-00000.ts), so no quoting issues.
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            text.push_str(&format!("file '{name}'\n"));
        }
    }
    let list_path = dir.join("parts.ffconcat");
    tokio::fs::write(&list_path, text).await?;
    let out = dir.join(CLIP_NAME);
    let res = if is_transcoded(dir) {
        // Re-encoding takes time in proportion to the clip: the deadline
        // grows with it (4 s per second of video is far beyond veryfast's
        // pace on one core), and `nice` leaves the cores to recordings and
        // the API first.
        let seconds = parts.len() as u64 * u64::from(cfg.segment_seconds.max(1));
        let deadline = cfg.join_timeout + Duration::from_secs(seconds * 4);
        // One transcode per two cores at a time: the others wait their
        // turn (their deadline starts with it) instead of starving the
        // recordings.
        let _turn = transcodes().acquire().await;
        let argv = args::join_transcoded(&list_path, &out);
        match nice() {
            Some(nice) => {
                let mut with = vec!["-n".to_owned(), "10".to_owned()];
                with.push(cfg.ffmpeg.to_string_lossy().into_owned());
                with.extend(argv);
                process::run(nice, with, deadline, RecordErrorKind::Finalize).await
            }
            None => process::run(&cfg.ffmpeg, argv, deadline, RecordErrorKind::Finalize).await,
        }
    } else {
        process::run(
            &cfg.ffmpeg,
            args::join(&list_path, &out),
            cfg.join_timeout,
            RecordErrorKind::Finalize,
        )
        .await
    };
    let made = tokio::fs::metadata(&out)
        .await
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    match res {
        Ok(_) if made => Ok(out),
        Ok(_) => {
            let _ = tokio::fs::remove_file(&out).await;
            Err(RecordError::finalize("ffmpeg wrote an empty clip"))
        }
        Err(e) => {
            // A half-written clip must not pass for a finished one.
            let _ = tokio::fs::remove_file(&out).await;
            Err(e)
        }
    }
}

/// The file whose presence in a take's folder makes its join re-encode
/// the video to H.264: written when the take starts, so a clip finished
/// after a crash is transcoded too.
const TRANSCODE_MARK: &str = "transcode-h264";

pub fn mark_transcoded(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join(TRANSCODE_MARK), b"")
}

pub(crate) fn is_transcoded(dir: &Path) -> bool {
    dir.join(TRANSCODE_MARK).exists()
}

fn transcodes() -> &'static tokio::sync::Semaphore {
    static TURNS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new((cores / 2).max(1))
    })
}

fn nice() -> Option<&'static Path> {
    ["/usr/bin/nice", "/bin/nice"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

/// How much of a clip is read to measure the camera's stream.
const STREAM_WINDOW: Duration = Duration::from_secs(30);

/// Finishes the take's growing clip, or joins the parts in `dir` when there
/// is none, and probes the clip.
pub(crate) async fn finish(
    cfg: &RecorderConfig,
    dir: &Path,
    reconnects: u32,
    gaps: Vec<(SystemTime, Duration)>,
    growing: Option<crate::remux::Remux>,
) -> Result<Clip, RecordError> {
    let streamed = match growing {
        // Feeding the last parts and writing the index: a copy, as fast
        // as a join's, so the join's deadline bounds it too.
        Some(g) => g.close(cfg.join_timeout).await,
        None => None,
    };
    let path = match &streamed {
        Some(path) => path.clone(),
        None => join(cfg, dir).await?,
    };
    let info = match probe::probe(&cfg.ffprobe, &path, cfg.probe_timeout).await {
        // The clip is whole; only what ffprobe would have said of it is
        // missing, and the evidence matters more.
        Err(e) if e.kind() == RecordErrorKind::Timeout => {
            tracing::warn!(error = %e, "the clip is kept without its metadata");
            probe::ClipInfo::unknown()
        }
        other => other?,
    };
    // The camera's stream as the clip shows it; a transcoded clip shows
    // the encoder's, not the camera's, so it tells nothing.
    let stream = if is_transcoded(dir) {
        None
    } else {
        match stream_probe::probe_file(&cfg.ffprobe, &path, STREAM_WINDOW, cfg.probe_timeout).await
        {
            Ok(facts) => Some(Box::new(facts)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot measure the stream of the clip");
                None
            }
        }
    };
    tracing::info!(duration = ?info.media.duration_sec, size = ?info.media.file_size_bytes, reconnects, "clip ready");
    Ok(Clip {
        dir: dir.to_owned(),
        path,
        info,
        reconnects,
        gaps,
        stream,
        streamed: streamed.is_some(),
    })
}

/// A finished recording: one MP4 and what ffprobe says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// The recording's working folder, holding the parts and the clip.
    pub dir: PathBuf,
    pub path: PathBuf,
    pub info: probe::ClipInfo,
    /// How many times the camera dropped and was reconnected.
    pub reconnects: u32,
    /// Where the clip skips time: when the camera went away, for how long.
    pub gaps: Vec<(SystemTime, Duration)>,
    /// What the clip shows of the camera's stream (keyframe interval
    /// included); `None` for a transcoded clip or when ffprobe failed.
    pub stream: Option<Box<vigil_domain::StreamFacts>>,
    /// Written while it recorded (moov at the end) rather than joined from
    /// the parts (faststart).
    pub streamed: bool,
}

impl Clip {
    /// Removes the working folder (parts and clip) once the clip is stored.
    pub async fn remove_files(&self) -> std::io::Result<()> {
        match tokio::fs::remove_dir_all(&self.dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

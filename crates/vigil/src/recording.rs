//! Builds the recorder the server uses: supervised ffmpeg per recording,
//! reporting through the playback repository and storing clips in the
//! object store through the durable job queue.

use crate::config::Config;
use std::{path::PathBuf, sync::Arc};
use vigil_domain::ports::{JobQueue, ObjectStore, PlaybackRepo};
use vigil_recorder::{FfmpegRecorder, RecorderConfig, RecordingService, ServiceLimits};

/// Below this much free space in `RECORD_DIR`, new recordings are refused.
const MIN_FREE_BYTES: u64 = 1 << 30;

pub fn build(
    cfg: &Config,
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    playbacks: Arc<dyn PlaybackRepo>,
    store: Arc<dyn ObjectStore>,
    jobs: Arc<dyn JobQueue>,
) -> RecordingService {
    let mut rc = RecorderConfig::new(ffmpeg, ffprobe, cfg.record_dir.clone());
    rc.max_duration = cfg.max_recording;
    RecordingService::new(
        FfmpegRecorder::new(rc),
        playbacks,
        store,
        jobs,
        ServiceLimits {
            job_lease: cfg.job_lease,
            upload_retry: cfg.upload_retry,
            ..ServiceLimits::new(cfg.max_concurrent_recordings, MIN_FREE_BYTES)
        },
    )
}

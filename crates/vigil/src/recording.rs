//! Builds the application the server runs: the ffmpeg capture mechanism
//! under the use cases, clips stored through the durable job queue.

use crate::config::Config;
use std::{path::PathBuf, sync::Arc};
use vigil_application::{App, AppPorts, ServiceLimits};
use vigil_persistence::Database;
use vigil_recorder::{FfmpegCapture, FfmpegRecorder, RecorderConfig};

/// Below this much free space in `RECORD_DIR`, new recordings are refused.
const MIN_FREE_BYTES: u64 = 1 << 30;

pub fn build(
    cfg: &Config,
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    db: &Database,
    store: Arc<dyn vigil_domain::ports::ObjectStore>,
    push: vigil_application::Push,
    cluster: Option<vigil_application::cluster::Cluster>,
) -> App {
    let mut rc = RecorderConfig::new(ffmpeg, ffprobe, cfg.record_dir.clone());
    rc.max_duration = cfg.max_recording;
    // With live upload the clip is written (and stored) while it records.
    rc.stream_clip = cfg.live.enabled;
    let ports = AppPorts {
        cameras: db.cameras(),
        events: db.events(),
        playbacks: db.playbacks(),
        jobs: db.jobs(),
        store,
        capture: Arc::new(
            FfmpegCapture::new(FfmpegRecorder::new(rc)).with_backdate(cfg.backdate_max),
        ),
        push,
        cluster,
        nodes: db.nodes(),
    };
    let limits = ServiceLimits {
        job_lease: cfg.job_lease,
        upload_retry: cfg.upload_retry,
        snapshot_dir: Some(cfg.snapshot_dir.clone()),
        live: cfg.live,
        ..ServiceLimits::new(cfg.max_concurrent_recordings, MIN_FREE_BYTES)
    };
    App::build(ports, limits, cfg.recording_types.clone())
}

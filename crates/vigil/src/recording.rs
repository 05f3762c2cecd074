//! Builds the recorder the server uses.

use crate::config::Config;
use std::{path::PathBuf, sync::Arc};
use vigil_domain::ports::{ObjectStore, PlaybackRepo, Recorder};

pub fn build(
    cfg: &Config,
    _ffmpeg: PathBuf,
    _ffprobe: PathBuf,
    _playbacks: Arc<dyn PlaybackRepo>,
    _store: Arc<dyn ObjectStore>,
) -> Arc<dyn Recorder> {
    tracing::debug!(
        max_concurrent = cfg.max_concurrent_recordings,
        max_seconds = cfg.max_recording.as_secs(),
        "recorder settings"
    );
    Arc::new(Unavailable)
}

/// Refuses every recording with a clear reason.
#[derive(Debug)]
struct Unavailable;

#[async_trait::async_trait]
impl Recorder for Unavailable {
    async fn start(
        &self,
        _: vigil_domain::PlaybackId,
        _: &vigil_domain::Camera,
    ) -> vigil_domain::ports::Result<()> {
        Err(vigil_domain::Error::unavailable(
            "recording is not available in this version",
        ))
    }
    async fn stop(
        &self,
        _: vigil_domain::PlaybackId,
    ) -> vigil_domain::ports::Result<Option<vigil_domain::RecordingStatus>> {
        Ok(None)
    }
    fn is_active(&self, _: vigil_domain::PlaybackId) -> bool {
        false
    }
}

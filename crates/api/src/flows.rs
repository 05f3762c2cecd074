//! The use cases behind the event and playback endpoints, written against
//! ports only: create an event and start its recording, end it, stop or
//! delete a playback. Handlers parse, call one of these, and render.

use std::sync::Arc;
use time::OffsetDateTime;
use vigil_domain::{
    ports::{CameraRepo, EventRepo, ObjectStore, PlaybackRepo, Recorder},
    Error, ErrorKind, Event, EventId, NewEvent, Playback, PlaybackId, PlaybackUpdate,
    RecordingStatus, RecordingTypes,
};

/// The ports the recording use cases need, each a shared handle.
#[derive(Debug, Clone)]
pub struct RecordingFlow {
    pub cameras: Arc<dyn CameraRepo>,
    pub events: Arc<dyn EventRepo>,
    pub playbacks: Arc<dyn PlaybackRepo>,
    pub recorder: Arc<dyn Recorder>,
    pub store: Arc<dyn ObjectStore>,
    pub recording_types: RecordingTypes,
}

impl RecordingFlow {
    /// Stores the event (always) and, for a recording type, a PENDING
    /// playback whose recording is started without waiting for the camera.
    /// A recording that can't start leaves the playback FAILED with the
    /// reason; the event is still created (graceful degradation).
    pub async fn create_event(&self, new: NewEvent) -> Result<Event, Error> {
        let camera = self
            .cameras
            .get(new.camera_id)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::Unprocessable, "cameraId: no such camera"))?;
        let pid = self
            .recording_types
            .records(new.event_type)
            .then(PlaybackId::new);
        let event = self.events.create(new, pid).await?;
        if let Some(pid) = pid {
            let span = tracing::info_span!("recording", playback_id = %pid, camera_id = %camera.id);
            let _g = span.enter();
            if let Err(e) = self.recorder.start(pid, &camera).await {
                tracing::warn!(error = %e.chain(), "recording could not start");
                self.fail(pid, format!("recording could not start: {}", e.message()))
                    .await;
            }
        }
        Ok(event)
    }

    /// Ends an event (the first end time is kept) and stops its recording.
    pub async fn end_event(&self, id: EventId) -> Result<(Event, Option<Playback>), Error> {
        let event = self
            .events
            .mark_ended(id, OffsetDateTime::now_utc())
            .await?;
        let playback = match event.playback_id {
            Some(pid) => self.stop_playback(pid).await?,
            None => None,
        };
        Ok((event, playback))
    }

    /// Stops a playback's recording if it is still running and returns its
    /// current state (None when it no longer exists). Repeating it is harmless.
    pub async fn stop_playback(&self, id: PlaybackId) -> Result<Option<Playback>, Error> {
        let Some(p) = self.playbacks.get(id).await? else {
            return Ok(None);
        };
        if matches!(
            p.status,
            RecordingStatus::Pending | RecordingStatus::Recording
        ) {
            if self.recorder.is_active(id) {
                self.recorder.stop(id).await?;
            } else {
                // Nobody holds this recording (it never started here), so
                // nothing will ever finish it: say so instead of leaving it
                // in flight forever.
                self.fail(id, "recording was not running when it was stopped".into())
                    .await;
            }
        }
        self.playbacks.get(id).await
    }

    /// Stops the recording if running, removes the stored objects, then the row.
    pub async fn delete_playback(&self, id: PlaybackId) -> Result<bool, Error> {
        let Some(p) = self.playbacks.get(id).await? else {
            return Ok(false);
        };
        if self.recorder.is_active(id) {
            self.recorder.stop(id).await?;
        }
        let keys = [
            p.video_key.unwrap_or_else(|| Playback::video_key_for(id)),
            p.thumbnail_key
                .unwrap_or_else(|| Playback::thumbnail_key_for(id)),
        ];
        for key in keys {
            self.store.delete(&key).await?;
        }
        self.playbacks.delete(id).await
    }

    async fn fail(&self, id: PlaybackId, reason: String) {
        let update = PlaybackUpdate {
            error: Some(reason),
            ended_at: Some(OffsetDateTime::now_utc()),
            ..Default::default()
        };
        if let Err(e) = self
            .playbacks
            .transition(id, RecordingStatus::Failed, update)
            .await
        {
            // Conflict: it already reached a final state some other way.
            if e.kind() != ErrorKind::Conflict {
                tracing::error!(playback_id = %id, error = %e.chain(), "could not mark playback FAILED");
            }
        }
    }
}

//! The use cases behind the event and playback endpoints, written against
//! ports only: create an event and start its recording, end it, stop or
//! delete a playback. Handlers parse, call one of these, and render.
//! Built once per process, so there is one set of per-camera locks.

use crate::{
    cluster::Owner,
    lifecycle::Lifecycle,
    merging::{Linger, MergeWindows},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use time::OffsetDateTime;
use tracing::Instrument;
use vigil_domain::{
    ports::{CameraRepo, EventRepo, ObjectStore, PlaybackRepo, Recorder},
    Camera, CameraId, Error, ErrorKind, Event, EventId, NewEvent, Page, Playback, PlaybackFilter,
    PlaybackId, PushKind, RecordWindow, RecordingStatus, RecordingTypes, Signal,
};

/// The ports the recording use cases need, each a shared handle; cheap to
/// clone (clones share the locks).
#[derive(Debug, Clone)]
pub struct Recordings {
    pub cameras: Arc<dyn CameraRepo>,
    pub events: Arc<dyn EventRepo>,
    pub playbacks: Arc<dyn PlaybackRepo>,
    pub recorder: Arc<dyn Recorder>,
    pub store: Arc<dyn ObjectStore>,
    pub recording_types: RecordingTypes,
    lifecycle: Lifecycle,
    /// One lock per camera, so two events arriving together on one camera
    /// can't both start a recording.
    camera_locks: CameraLocks,
    /// Clips of cameras with a `mergeSeconds`, kept open after their last
    /// event for a new one to join.
    merging: MergeWindows,
    /// Where `event.created` and `event.ended` go.
    push: crate::push::Push,
    /// With several nodes: a camera another node owns records there.
    cluster: Option<crate::cluster::Cluster>,
}

/// How long a stop asked of another node waits for it to take effect
/// before answering with the state then.
const ELSEWHERE_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What posting an event gave: a new event, or the one the detector's
/// `externalId` already named on that camera (a retry; nothing recorded
/// again).
#[derive(Debug, Clone)]
pub struct Posted {
    pub event: Event,
    pub created: bool,
}

impl Posted {
    fn new(event: Event) -> Self {
        Self {
            event,
            created: true,
        }
    }
}

impl Recordings {
    /// Announces a new event (not one a retry named again).
    async fn announce(&self, posted: Posted) -> Posted {
        if posted.created {
            self.push.event(PushKind::EventCreated, &posted.event).await;
        }
        posted
    }
}

/// Per-camera async locks (one entry per camera ever seen; cameras are few).
#[derive(Debug, Clone, Default)]
pub struct CameraLocks(Arc<Mutex<HashMap<CameraId, Arc<tokio::sync::Mutex<()>>>>>);

impl CameraLocks {
    fn of(&self, camera: CameraId) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(camera)
            .or_default()
            .clone()
    }
}

impl Recordings {
    pub fn new(
        cameras: Arc<dyn CameraRepo>,
        events: Arc<dyn EventRepo>,
        playbacks: Arc<dyn PlaybackRepo>,
        recorder: Arc<dyn Recorder>,
        store: Arc<dyn ObjectStore>,
        recording_types: RecordingTypes,
    ) -> Self {
        Self {
            cameras,
            events,
            lifecycle: Lifecycle::new(playbacks.clone()),
            playbacks,
            recorder,
            store,
            recording_types,
            camera_locks: Default::default(),
            merging: Default::default(),
            push: crate::push::Push::none(),
            cluster: None,
        }
    }

    pub fn with_cluster(mut self, cluster: crate::cluster::Cluster) -> Self {
        self.cluster = Some(cluster);
        self
    }

    pub fn with_push(mut self, push: crate::push::Push) -> Self {
        self.push = push;
        self
    }

    /// Stores the event (always) and, for a recording type, a PENDING
    /// playback whose recording is started without waiting for the camera.
    /// A recording that can't start leaves the playback FAILED with the
    /// reason; the event is still created (graceful degradation).
    ///
    /// When the camera (one without pre-roll) is already recording for an
    /// event still open, the new event joins that recording instead of
    /// starting a second one: it gets the same `playbackId`, and the
    /// recording stops when the last of its events ends. With a pre-roll
    /// every event gets its own playback from the camera's ring, unless the
    /// camera has a merge window (`mergeSeconds`): then an event joins the
    /// camera's open clip, also within the window after its last end.
    pub async fn create_event(&self, new: NewEvent) -> Result<Posted, Error> {
        let posted = self.post_event(new).await?;
        Ok(self.announce(posted).await)
    }

    async fn post_event(&self, new: NewEvent) -> Result<Posted, Error> {
        let camera = self
            .cameras
            .get(new.camera_id)
            .await?
            .ok_or_else(|| Error::unknown_id("cameraId", "camera"))?;
        if let Some(seen) = self.seen_before(&new).await? {
            return Ok(seen);
        }
        if !self.recording_types.records(new.event_type) {
            let created = self.events.create(new.clone(), None).await;
            return self.or_seen_before(created, &new).await;
        }
        // Before the camera's lock: deleting a clip of this camera takes it.
        self.make_room().await;
        let lock = self.camera_locks.of(camera.id);
        let _held = lock.lock().await;
        // Again under the lock: a retry racing the first POST waits for it.
        if let Some(seen) = self.seen_before(&new).await? {
            return Ok(seen);
        }
        // A camera with a pre-roll gives each event its own clip, cut from
        // the shared ring; joining is for cameras recorded per event, and
        // for merging ones.
        let merge = Duration::from_secs(camera.merge.get().into());
        let joinable = camera.pre_roll.get() == 0 || !merge.is_zero();
        let running = match joinable {
            true => self.running_recording(&camera).await?,
            false => None,
        };
        let post_roll = Duration::from_secs(new.post_roll.unwrap_or(camera.post_roll).get().into());
        if let Some(running) = running {
            match self.events.create_joining(new.clone(), running).await {
                Ok(event) => {
                    self.merging.joined(running, post_roll);
                    tracing::info!(playback_id = %running, event_id = %event.id, camera_id = %camera.id, "event joins the camera's running recording");
                    return Ok(Posted::new(event));
                }
                // It finished in between: start a new one.
                Err(e) if e.kind() == ErrorKind::Conflict => {}
                Err(e) => return Err(e),
            }
        }
        let window = RecordWindow {
            pre_roll: Duration::from_secs(new.pre_roll.unwrap_or(camera.pre_roll).get().into()),
            // A merging clip's post-roll is kept here (see `merging`).
            post_roll: if merge.is_zero() {
                post_roll
            } else {
                Duration::ZERO
            },
            trigger: new.occurred_at.map(SystemTime::from),
        };
        let pid = PlaybackId::new();
        if let Some(c) = &self.cluster {
            if let Owner::Node(owner) = c.owner_of(&camera, self.recorder.as_ref()).await? {
                let window = RecordWindow {
                    // The owner keeps no merge window for it: the post-roll
                    // is recorded as such.
                    post_roll,
                    // Its pre-roll counts back from now, not from when the
                    // owner starts it.
                    trigger: window.trigger.or_else(|| Some(SystemTime::now())),
                    ..window
                };
                let event = self.events.create(new, Some(pid)).await?;
                if let Err(e) = self.playbacks.hand_off(pid, &owner, &window).await {
                    self.fail(
                        pid,
                        format!(
                            "recording could not be handed to node {owner}: {}",
                            e.message()
                        ),
                    )
                    .await;
                    return Ok(Posted::new(event));
                }
                tracing::info!(playback_id = %pid, camera_id = %camera.id, node_id = %owner, "recording handed to the camera's owner");
                c.tell(Signal::Work { node: owner }).await;
                return Ok(Posted::new(event));
            }
        }
        let event = self.events.create(new, Some(pid)).await?;
        // `instrument`, not `span.enter()`: a guard held across an
        // await would put other tasks' log lines in this span.
        let span = tracing::info_span!("recording", playback_id = %pid, camera_id = %camera.id);
        async {
            match self.recorder.start(pid, &camera, window).await {
                Ok(()) if !merge.is_zero() => self
                    .merging
                    .opened(pid, post_roll, merge, |p| self.recorder.is_active(p)),
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "recording could not start");
                    self.fail(pid, format!("recording could not start: {}", e.message()))
                        .await;
                }
            }
        }
        .instrument(span)
        .await;
        Ok(Posted::new(event))
    }

    /// The event the detector's `externalId` already names on the camera.
    async fn seen_before(&self, new: &NewEvent) -> Result<Option<Posted>, Error> {
        let Some(external) = &new.external_id else {
            return Ok(None);
        };
        let seen = self.events.find_external(new.camera_id, external).await?;
        if let Some(e) = &seen {
            tracing::info!(event_id = %e.id, "a repeated externalId: the existing event is answered");
        }
        Ok(seen.map(|event| Posted {
            event,
            created: false,
        }))
    }

    /// A conflict on insert with an `externalId` is a retry that raced
    /// the first: the first is the answer.
    async fn or_seen_before(
        &self,
        created: Result<Event, Error>,
        new: &NewEvent,
    ) -> Result<Posted, Error> {
        match created {
            Ok(e) => Ok(Posted::new(e)),
            Err(e) if e.kind() == ErrorKind::Conflict && new.external_id.is_some() => {
                self.seen_before(new).await?.ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// One trigger on several cameras: one event each (and its recording),
    /// sharing a new group id, in the order given. Every camera is checked
    /// first, so an unknown one (NotFound, field `cameraIds`) creates none.
    pub async fn create_group(
        &self,
        template: NewEvent,
        cameras: &[CameraId],
    ) -> Result<Vec<Posted>, Error> {
        for id in cameras {
            if self.cameras.get(*id).await?.is_none() {
                return Err(Error::unknown_id("cameraIds", "camera"));
            }
        }
        let group = uuid::Uuid::new_v4();
        let mut events = Vec::with_capacity(cameras.len());
        for id in cameras {
            let new = NewEvent {
                camera_id: *id,
                group_id: Some(group),
                ..template.clone()
            };
            match self.create_event(new).await {
                Ok(e) => events.push(e),
                // Deleted since it was checked: the others stand.
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    tracing::warn!(camera_id = %id, "a camera of the group was deleted meanwhile")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(events)
    }

    /// A recording this server runs on `camera` that a new event may join:
    /// one with an event still open, or a merging one within its window.
    async fn running_recording(&self, camera: &Camera) -> Result<Option<PlaybackId>, Error> {
        for status in [RecordingStatus::Recording, RecordingStatus::Pending] {
            let filter = PlaybackFilter {
                camera_id: Some(camera.id),
                status: Some(status),
                ..Default::default()
            };
            for p in self.playbacks.list(filter, Page::default()).await?.rows {
                let elsewhere = self.cluster.is_some()
                    && !self.recorder.is_active(p.id)
                    && self.playbacks.recorded_elsewhere(p.id).await?;
                if !self.recorder.is_active(p.id) && !elsewhere {
                    continue;
                }
                let open = self.events.open_events_of(p.id).await? > 0;
                let joinable = match self.merging.is_merging(p.id) {
                    true => self.merging.joinable(p.id, open),
                    false => open && camera.pre_roll.get() == 0,
                };
                if joinable {
                    return Ok(Some(p.id));
                }
            }
        }
        Ok(None)
    }

    /// Ends an event (the first end time is kept) and stops its recording,
    /// unless another event sharing the recording is still open.
    pub async fn end_event(&self, id: EventId) -> Result<(Event, Option<Playback>), Error> {
        let was_open = self
            .events
            .get(id)
            .await?
            .is_some_and(|e| e.ended_at.is_none());
        let event = self
            .events
            .mark_ended(id, OffsetDateTime::now_utc())
            .await?;
        if was_open {
            self.push.event(PushKind::EventEnded, &event).await;
        }
        let playback = match event.playback_id {
            Some(pid) => {
                let lock = self.camera_locks.of(event.camera_id);
                let _held = lock.lock().await;
                if self.events.open_events_of(pid).await? > 0 {
                    self.playbacks.get(pid).await?
                } else if let Some(linger) = self
                    .merging
                    .ended(pid)
                    .filter(|_| self.recorder.is_active(pid))
                {
                    // Still RECORDING: a new event may join it for a while.
                    self.stop_later(event.camera_id, pid, linger);
                    self.playbacks.get(pid).await?
                } else {
                    self.merging.forget(pid);
                    self.stop_playback(pid).await?
                }
            }
            None => None,
        };
        Ok((event, playback))
    }

    /// Stops a merging clip once its window and post-roll have passed,
    /// unless an event joined it meanwhile.
    fn stop_later(&self, camera: CameraId, id: PlaybackId, linger: Linger) {
        let this = self.clone();
        let span = tracing::info_span!("merge window", playback_id = %id, camera_id = %camera);
        tracing::info!(playback_id = %id, open_s = linger.after.as_secs(), "last event ended; the clip stays open for a new one to join");
        tokio::spawn(
            async move {
                tokio::time::sleep(linger.after).await;
                let lock = this.camera_locks.of(camera);
                let _held = lock.lock().await;
                if this.merging.due(id, linger) {
                    if let Err(e) = this.stop_playback(id).await {
                        tracing::warn!(error = %e.chain(), "cannot stop the clip after its merge window");
                    }
                }
            }
            .instrument(span),
        );
    }

    /// A manual stop (`POST /playbacks/{id}/stop`): ends every event still
    /// open on the playback, so a recording shared by several events really
    /// stops and none of them is left open on a finished clip, then stops
    /// it. Returns the event that started it and the state the stop left
    /// (None when the playback does not exist).
    pub async fn stop_recording(
        &self,
        id: PlaybackId,
    ) -> Result<Option<(EventId, Option<Playback>)>, Error> {
        let Some(p) = self.playbacks.get(id).await? else {
            return Ok(None);
        };
        let lock = self.camera_locks.of(p.camera_id);
        let _held = lock.lock().await;
        let ended = self
            .events
            .end_all_of(id, OffsetDateTime::now_utc())
            .await?;
        self.merging.forget(id);
        tracing::info!(playback_id = %id, events_ended = ended, "recording stopped by hand");
        Ok(Some((p.event_id, self.stop_playback(id).await?)))
    }

    /// Stops a playback's recording if it is still running and returns its
    /// current state (None when it no longer exists). Repeating it is harmless.
    pub async fn stop_playback(&self, id: PlaybackId) -> Result<Option<Playback>, Error> {
        let Some(p) = self.playbacks.get(id).await? else {
            return Ok(None);
        };
        let mut left_in = None;
        if matches!(
            p.status,
            RecordingStatus::Pending | RecordingStatus::Recording
        ) {
            if self.recorder.is_active(id) {
                left_in = self.recorder.stop(id).await?;
            } else if self.playbacks.recorded_elsewhere(id).await? {
                // Another node records it: it stops it within a second of
                // this request (`follow_stop_requests`); the answer waits
                // for that, so it says what a stop here would.
                tracing::info!(playback_id = %id, "recorded by another node; stop asked of it");
                self.playbacks.request_stop(id).await?;
                let deadline = tokio::time::Instant::now() + ELSEWHERE_STOP_WAIT;
                while tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    match self.playbacks.get(id).await? {
                        Some(p)
                            if matches!(
                                p.status,
                                RecordingStatus::Pending | RecordingStatus::Recording
                            ) => {}
                        _ => break,
                    }
                }
            } else {
                // Nobody holds this recording (it never started here), so
                // nothing will ever finish it: say so instead of leaving it
                // in flight forever.
                self.fail(id, "recording was not running when it was stopped".into())
                    .await;
            }
        }
        // The answer to a stop is the status the stop left it in
        // (PROCESSING), even if storing the clip has already moved on.
        let mut now = self.playbacks.get(id).await?;
        if let (Some(p), Some(status)) = (now.as_mut(), left_in) {
            p.status = status;
        }
        Ok(now)
    }

    /// Starts the recordings handed to this node (and those of its
    /// cameras handed to a node that is gone), when told and every second,
    /// until `stop`. Nothing without a cluster.
    pub async fn follow_handoffs(self, stop: tokio_util::sync::CancellationToken) {
        let Some(c) = self.cluster.clone() else {
            return;
        };
        let mut heard = c.heard.subscribe();
        let mut failing = false;
        loop {
            match self.playbacks.handoffs(&c.ownership.cameras()).await {
                Ok(handed) => {
                    failing = false;
                    for (pid, camera) in handed {
                        if let Err(e) = self.start_handed(pid, camera).await {
                            tracing::warn!(playback_id = %pid, error = %e.chain(), "cannot start a recording handed to this node");
                        }
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e.chain(), "cannot read the recordings handed to this node");
                }
                Err(_) => {}
            }
            let woken = |s: &Signal| matches!(s, Signal::Work { node } if node == c.me());
            if !crate::cluster::nap(&mut heard, Duration::from_secs(1), &stop, woken).await {
                return;
            }
        }
    }

    /// Takes a handed-off recording and starts it here.
    async fn start_handed(&self, pid: PlaybackId, camera: CameraId) -> Result<(), Error> {
        let lock = self.camera_locks.of(camera);
        let _held = lock.lock().await;
        if self.recorder.is_active(pid) {
            return Ok(());
        }
        let Some(window) = self.playbacks.take_handoff(pid).await? else {
            return Ok(());
        };
        let span = tracing::info_span!("recording", playback_id = %pid, camera_id = %camera);
        async {
            let Some(camera) = self.cameras.get(camera).await? else {
                self.fail(
                    pid,
                    "the camera was deleted before its recording started".into(),
                )
                .await;
                return Ok(());
            };
            match self.recorder.start(pid, &camera, window).await {
                Ok(()) => tracing::info!("recording handed by another node started"),
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "recording could not start");
                    self.fail(pid, format!("recording could not start: {}", e.message()))
                        .await;
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Stops this node's recordings that other nodes were asked to stop,
    /// every second until `stop`.
    pub async fn follow_stop_requests(
        self,
        service: crate::RecordingService,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut failing = false;
        loop {
            let ids = service.active_ids();
            match self.playbacks.stop_requested(&ids).await {
                Ok(asked) => {
                    failing = false;
                    for id in asked {
                        let Ok(Some(p)) = self.playbacks.get(id).await else {
                            continue;
                        };
                        let lock = self.camera_locks.of(p.camera_id);
                        let _held = lock.lock().await;
                        self.merging.forget(id);
                        tracing::info!(playback_id = %id, "stop asked by another node");
                        if let Err(e) = self.stop_playback(id).await {
                            tracing::warn!(playback_id = %id, error = %e.chain(), "cannot stop a recording another node asked to stop");
                        }
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e.chain(), "cannot read the stops asked by other nodes");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }

    /// Ends the playback's open events, stops the recording if running,
    /// removes the stored objects, then the row.
    pub async fn delete_playback(&self, id: PlaybackId, force: bool) -> Result<bool, Error> {
        let Some(p) = self.playbacks.get(id).await? else {
            return Ok(false);
        };
        if p.retain && !force {
            return Err(Error::conflict(
                "the playback is retained: unset retain first, or delete with force=true",
            ));
        }
        {
            // Every event sharing the recording ends with it, so none is
            // left open (and joinable) on a clip that is gone.
            let lock = self.camera_locks.of(p.camera_id);
            let _held = lock.lock().await;
            self.events
                .end_all_of(id, OffsetDateTime::now_utc())
                .await?;
            self.merging.forget(id);
            if self.recorder.is_active(id) {
                self.recorder.stop(id).await?;
            }
        }
        let keys = [
            p.video_key.unwrap_or_else(|| Playback::video_key_for(id)),
            p.thumbnail_key
                .unwrap_or_else(|| Playback::thumbnail_key_for(id)),
        ];
        for key in keys {
            self.store.delete(&key).await?;
        }
        self.store
            .delete_prefix(&vigil_domain::LiveSegment::prefix(id))
            .await?;
        self.playbacks.delete(id).await
    }

    /// Below the free-space floor of the recording disk, with clips stored
    /// on that same disk: deletes the oldest finished, unretained ones
    /// until the floor is met, so recording goes on rather than being
    /// refused. Clips in S3 free nothing here and are left alone.
    async fn make_room(&self) {
        if !self.store.on_local_disk() {
            return;
        }
        let mut freed = 0u64;
        while self.recorder.space_short() > 0 {
            let oldest = match self.playbacks.oldest_finished(None, 10).await {
                Ok(o) if !o.is_empty() => o,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "cannot list clips to make room");
                    break;
                }
            };
            let mut progressed = false;
            for p in oldest {
                if self.recorder.space_short() == 0 {
                    break;
                }
                let size = p.media.file_size_bytes.unwrap_or(0).max(0) as u64;
                match self.delete_playback(p.id, false).await {
                    Ok(_) => {
                        progressed = true;
                        freed += size;
                        tracing::info!(playback_id = %p.id, bytes = size, "deleted to make room on the recording disk");
                    }
                    Err(e) => {
                        tracing::warn!(playback_id = %p.id, error = %e.chain(), "cannot delete a clip to make room")
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        if freed > 0 {
            tracing::warn!(freed_bytes = freed, "the recording disk reached its free-space floor; the oldest unretained clips were deleted");
        }
    }

    /// Keeps the playback from retention (or lets it go again); `None`
    /// when there is none.
    pub async fn retain(&self, id: PlaybackId, retain: bool) -> Result<Option<Playback>, Error> {
        let p = self.playbacks.set_retain(id, retain).await?;
        if let Some(p) = &p {
            tracing::info!(playback_id = %p.id, retain, "playback retention changed");
        }
        Ok(p)
    }

    async fn fail(&self, id: PlaybackId, reason: String) {
        self.lifecycle.fail(id, reason, None).await;
    }
}

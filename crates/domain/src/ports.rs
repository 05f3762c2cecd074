//! The ports: what the api needs from the outer crates. Persistence
//! implements the repositories, storage the [`ObjectStore`], the recorder
//! crate (wired by the bin) the [`Recorder`]. Signatures use domain types
//! only, so no `sea_orm`, `rust-s3` or actix type crosses a crate boundary.

use crate::{
    playback::PlaybackUpdate, Camera, CameraId, CameraPatch, Error, Event, EventFilter, EventId,
    Job, JobId, NewCamera, NewEvent, NewJob, NewShare, NewUser, Page, Playback, PlaybackFilter,
    PlaybackId, RecordingStatus, User, UserId, UserPatch, Username,
};
use async_trait::async_trait;
use std::{fmt::Debug, path::Path, time::Duration};
use time::OffsetDateTime;

pub type Result<T> = std::result::Result<T, Error>;

/// A page of rows and the total matching the filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    pub rows: Vec<T>,
    pub total: u64,
}

#[async_trait]
pub trait UserRepo: Send + Sync + Debug {
    /// Conflict when the username is taken.
    async fn create(&self, new: NewUser) -> Result<User>;
    async fn get(&self, id: UserId) -> Result<Option<User>>;
    async fn find_by_username(&self, username: &Username) -> Result<Option<User>>;
    async fn list(&self, page: Page) -> Result<Listed<User>>;
    /// NotFound for an unknown id; Conflict when renaming onto a taken name.
    /// A change of password or role also bumps the user's token version,
    /// ending every token issued before it.
    async fn update(&self, id: UserId, patch: UserPatch) -> Result<User>;
    /// Ends every token issued to the user so far; NotFound for an unknown id.
    async fn revoke_tokens(&self, id: UserId) -> Result<User>;
    /// Returns whether a row was deleted.
    async fn delete(&self, id: UserId) -> Result<bool>;
    async fn count(&self) -> Result<u64>;
    /// Admins left, so the last one can't be deleted or demoted.
    async fn count_admins(&self) -> Result<u64>;
}

#[async_trait]
pub trait CameraRepo: Send + Sync + Debug {
    async fn create(&self, new: NewCamera) -> Result<Camera>;
    async fn get(&self, id: CameraId) -> Result<Option<Camera>>;
    async fn list(&self, page: Page) -> Result<Listed<Camera>>;
    async fn update(&self, id: CameraId, patch: CameraPatch) -> Result<Camera>;
    /// Replaces the camera's `stream` object (a deleted camera is no
    /// error: there is nothing left to describe).
    async fn set_stream(&self, id: CameraId, stream: &crate::CameraStream) -> Result<()>;
    /// Conflict while the camera still has events (their clips would lose
    /// their camera); returns whether a row was deleted.
    async fn delete(&self, id: CameraId) -> Result<bool>;
}

#[async_trait]
pub trait ShareRepo: Send + Sync + Debug {
    async fn create(&self, new: NewShare) -> Result<crate::Share>;
    /// The playback's links, newest first, expired ones included.
    async fn list_of(&self, playback: PlaybackId) -> Result<Vec<crate::Share>>;
    /// The link whose token hashes to `token_hash`.
    async fn find(&self, token_hash: &str) -> Result<Option<crate::Share>>;
    /// Revokes a link; returns whether there was one.
    async fn delete(&self, id: crate::ShareId) -> Result<bool>;
}

/// The nodes sharing the database, as their heartbeats say.
#[async_trait]
pub trait NodeRepo: Send + Sync + Debug {
    /// Records that `beat.id` is alive now, with what it holds.
    async fn beat(&self, beat: &crate::NodeBeat) -> Result<()>;
    /// Every node ever heard of, by id.
    async fn list(&self) -> Result<Vec<crate::Node>>;
    /// Records that `id` stopped: it is not alive from now on, so the
    /// others share the cameras without it at once.
    async fn leave(&self, _id: &crate::NodeId) -> Result<()> {
        Ok(())
    }
}

/// Camera leases: which node owns which camera (docs/design/cluster.md,
/// invariant 5). Every change is one conditional write, so two nodes
/// asking at once never both hold a camera.
#[async_trait]
pub trait LeaseRepo: Send + Sync + Debug {
    /// Takes or renews `camera` for `node` until `ttl` from now, when it is
    /// free, run out, or already `node`'s: the epoch it is held at (one
    /// more than the last holder's when it changes hands), or None when
    /// another node holds it.
    async fn claim(
        &self,
        camera: CameraId,
        node: &crate::NodeId,
        ttl: std::time::Duration,
    ) -> Result<Option<u64>>;
    /// Renews every lease `node` still holds (not run out); returns them.
    async fn renew(
        &self,
        node: &crate::NodeId,
        ttl: std::time::Duration,
    ) -> Result<Vec<crate::CameraLease>>;
    /// Gives `camera` back, if `node` holds it.
    async fn release(&self, camera: CameraId, node: &crate::NodeId) -> Result<()>;
    /// Gives back every camera of `node`.
    async fn release_all(&self, node: &crate::NodeId) -> Result<u64>;
    /// Every lease row, held or run out.
    async fn all(&self) -> Result<Vec<crate::CameraLease>>;
    /// `camera`'s lease row, held or run out.
    async fn get(&self, camera: CameraId) -> Result<Option<crate::CameraLease>>;
}

/// Signals between nodes (PostgreSQL `LISTEN`/`NOTIFY`). A hint only: a
/// missed one is made up for by polling the database.
#[async_trait]
pub trait Signals: Send + Sync + Debug {
    /// Sends to every node, this one included.
    async fn send(&self, signal: &crate::Signal) -> Result<()>;
    /// The next signal from any node. An error means the channel was lost
    /// (signals may have been missed); the next call listens again.
    async fn recv(&self) -> Result<crate::Signal>;
    /// Stops listening (the process is stopping), so the connection goes
    /// back before the database is closed.
    async fn close(&self) {}
}

/// Webhooks, and their durable delivery queue.
#[async_trait]
pub trait WebhookRepo: Send + Sync + Debug {
    async fn create(&self, new: crate::NewWebhook) -> Result<crate::Webhook>;
    async fn list(&self, page: Page) -> Result<Listed<crate::Webhook>>;
    /// Every webhook (they are few), for fanning news out.
    async fn all(&self) -> Result<Vec<crate::Webhook>>;
    async fn get(&self, id: crate::WebhookId) -> Result<Option<crate::Webhook>>;
    /// With its deliveries and their attempts; whether there was one.
    async fn delete(&self, id: crate::WebhookId) -> Result<bool>;
    /// Queues a delivery, due at once.
    async fn enqueue(&self, delivery: crate::Delivery) -> Result<()>;
    /// Up to `limit` due deliveries, each held for `lease` (a server that
    /// dies holding one lets it come due again after that).
    async fn claim_due(
        &self,
        lease: std::time::Duration,
        limit: u64,
    ) -> Result<Vec<crate::Delivery>>;
    /// Stores an attempt; `retry_at` None: the delivery is over (taken or
    /// given up), else it is due again then.
    async fn record(
        &self,
        webhook: crate::WebhookId,
        attempt: crate::Attempt,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<()>;
    /// A webhook's attempts, newest first.
    async fn attempts(
        &self,
        webhook: crate::WebhookId,
        page: Page,
    ) -> Result<Listed<crate::Attempt>>;
}

/// Sends webhook deliveries over HTTP.
#[async_trait]
pub trait WebhookSender: Send + Sync + Debug {
    /// Whether `url`'s host may be reached (not a loopback, private,
    /// link-local or metadata address, unless allowed); why not.
    async fn check(&self, url: &str) -> std::result::Result<(), String>;
    /// POSTs `body` as JSON with `headers`; the status code, or why there
    /// is none. Redirects are not followed.
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> std::result::Result<u16, String>;
}

#[async_trait]
pub trait EventRepo: Send + Sync + Debug {
    /// Stores the event and, when `with_playback` is set, its PENDING
    /// playback, in one transaction. NotFound (field `cameraId`) when the
    /// camera is unknown.
    async fn create(&self, new: NewEvent, with_playback: Option<PlaybackId>) -> Result<Event>;
    async fn get(&self, id: EventId) -> Result<Option<Event>>;
    async fn list(&self, filter: EventFilter, page: Page) -> Result<Listed<Event>>;
    /// Sets `ended_at` once; later calls keep the first time. Returns the event.
    async fn mark_ended(&self, id: EventId, at: OffsetDateTime) -> Result<Event>;
    /// Stores an event that joins `playback`, a recording already running
    /// on the same camera, in one transaction with the check. Conflict when
    /// that playback is gone, finished, or of another camera.
    async fn create_joining(&self, new: NewEvent, playback: PlaybackId) -> Result<Event>;
    /// The event of `camera` with the detector's id `external_id`.
    async fn find_external(&self, camera: CameraId, external_id: &str) -> Result<Option<Event>>;
    /// Events pointing at `playback` that have not ended.
    async fn open_events_of(&self, playback: PlaybackId) -> Result<u64>;
    /// Ends every open event pointing at `playback` at `at` (a manual stop
    /// or delete of a shared recording); returns how many it ended.
    async fn end_all_of(&self, playback: PlaybackId, at: OffsetDateTime) -> Result<u64>;
}

#[async_trait]
pub trait PlaybackRepo: Send + Sync + Debug {
    async fn get(&self, id: PlaybackId) -> Result<Option<Playback>>;
    async fn list(&self, filter: PlaybackFilter, page: Page) -> Result<Listed<Playback>>;
    /// Moves a playback to `to` if [`RecordingStatus::transition`] allows it
    /// from its current status, writing `update` in the same statement.
    /// Conflict when the transition is not allowed (e.g. it was already
    /// finished by someone else).
    async fn transition(
        &self,
        id: PlaybackId,
        to: RecordingStatus,
        update: PlaybackUpdate,
    ) -> Result<Playback>;
    /// Playbacks in a given status, oldest first (start-up recovery): of
    /// this node and of no node, when the repository is a node's.
    async fn in_status(&self, status: RecordingStatus) -> Result<Vec<Playback>>;
    /// Makes this node's the in-flight playbacks (PENDING, RECORDING,
    /// PROCESSING) of nodes that are lost (not heard of within their
    /// lease), and returns them; of several nodes asking at once, each
    /// playback goes to one. Those of the cameras in `leave` (held by
    /// another live node, which adopts them to resume them) are left.
    /// None for a repository of no node.
    async fn adopt_orphans(&self, _leave: &[CameraId]) -> Result<Vec<Playback>> {
        Ok(Vec::new())
    }
    /// Whether another node that is alive records `id` (so a stop asked
    /// here must go to it). False for a repository of no node.
    async fn recorded_elsewhere(&self, _id: PlaybackId) -> Result<bool> {
        Ok(false)
    }
    /// Asks the node recording `id` to stop it (it looks every second).
    async fn request_stop(&self, _id: PlaybackId) -> Result<()> {
        Ok(())
    }
    /// Which of `ids` (recordings of this node) another node asked to stop.
    async fn stop_requested(&self, _ids: &[PlaybackId]) -> Result<Vec<PlaybackId>> {
        Ok(Vec::new())
    }
    /// Hands the PENDING playback `id` to `node`, the owner of its camera,
    /// which starts its recording with `window` (docs/design/cluster.md,
    /// invariant 8).
    async fn hand_off(
        &self,
        _id: PlaybackId,
        _node: &crate::NodeId,
        _window: &crate::RecordWindow,
    ) -> Result<()> {
        Err(crate::Error::internal(
            "this repository cannot hand recordings to other nodes",
        ))
    }
    /// Handed-off playbacks this node is to start: those handed to it, and
    /// those of `cameras` (its own) handed to a node that is lost or gone.
    async fn handoffs(&self, _cameras: &[CameraId]) -> Result<Vec<(PlaybackId, CameraId)>> {
        Ok(Vec::new())
    }
    /// Takes the hand-off of `id` for this node: its window, or None when
    /// another node took it, it was started, or it is no longer PENDING.
    async fn take_handoff(&self, _id: PlaybackId) -> Result<Option<crate::RecordWindow>> {
        Ok(None)
    }
    /// Gives back the hand-offs this node has not started (it is
    /// stopping): the camera's next owner starts them.
    async fn release_handoffs(&self) -> Result<u64> {
        Ok(0)
    }
    /// Another node changed `id`: forget what was cached about it.
    fn changed_elsewhere(&self, _id: PlaybackId) {}
    /// Up to `limit` finished (COMPLETED or FAILED), unretained playbacks of `camera`
    /// created before `cutoff`, oldest first (retention).
    async fn finished_before(
        &self,
        camera: CameraId,
        cutoff: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<Playback>>;
    /// Bytes of the stored clips (COMPLETED) of `camera`, or of all.
    async fn stored_bytes(&self, camera: Option<CameraId>) -> Result<u64>;
    /// Up to `limit` finished (COMPLETED or FAILED), unretained playbacks
    /// of `camera` (or of all), oldest first: what a quota deletes first.
    async fn oldest_finished(&self, camera: Option<CameraId>, limit: u64) -> Result<Vec<Playback>>;
    /// Sets whether retention keeps the playback; `None` when there is
    /// none.
    async fn set_retain(&self, id: PlaybackId, retain: bool) -> Result<Option<Playback>>;
    async fn delete(&self, id: PlaybackId) -> Result<bool>;
}

/// The durable queue of recording jobs (see [`crate::job`]). A job is held
/// by one worker at a time through a lease that expires, so the work of a
/// crashed worker is taken up again once its lease runs out.
#[async_trait]
pub trait JobQueue: Send + Sync + Debug {
    /// Stores a job due now. A playback has at most one job: enqueuing
    /// again replaces the kind, folder and note and makes it due now.
    async fn enqueue(&self, job: NewJob) -> Result<JobId>;
    /// Takes the oldest due job nobody holds (or whose lease ran out),
    /// leasing it to `owner` for `lease`.
    async fn claim(&self, owner: &str, lease: Duration) -> Result<Option<Job>>;
    /// Extends a held lease; false when `owner` no longer holds the job.
    async fn renew(&self, id: JobId, owner: &str, lease: Duration) -> Result<bool>;
    /// Removes a finished job.
    async fn finish(&self, id: JobId) -> Result<()>;
    /// Releases a job to be tried again after `after`, noting why.
    async fn retry_later(&self, id: JobId, owner: &str, after: Duration, error: &str)
        -> Result<()>;
    /// Releases every lease `owner` holds (a clean shutdown), so another
    /// worker need not wait for them to expire. Returns how many.
    async fn release_all(&self, owner: &str) -> Result<u64>;
    /// Whether `playback` has a job.
    async fn has_job(&self, playback: PlaybackId) -> Result<bool>;
    /// Jobs stored, held or not.
    async fn depth(&self) -> Result<u64>;
}

/// What an object store knows about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: Option<String>,
    pub etag: Option<String>,
}

/// What a store that takes whole files only answers an upload in parts.
fn no_parts(key: &str) -> crate::Error {
    crate::Error::internal(format!("this store cannot upload {key} in parts"))
}

/// Where finished clips and thumbnails live: local disk or S3/R2.
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug {
    /// Uploads a file from disk under `key`, returning the stored size.
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<u64>;
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>>;
    /// Deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
    /// The keys stored under `prefix` (which ends with `/`), in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Downloads `key` to `path` (replacing it), returning its size.
    async fn get_file(&self, key: &str, path: &Path) -> Result<u64>;
    /// The size of every part but the last of an upload in parts (see
    /// [`ObjectStore::start_upload`]); `None` when the store takes whole
    /// files only (local disk), and the other part methods then refuse.
    fn part_size(&self) -> Option<u64> {
        None
    }
    /// Begins an upload of `key` in parts, returning its upload id: the
    /// object appears only when [`ObjectStore::complete_upload`] succeeds.
    async fn start_upload(&self, key: &str, _content_type: &str) -> Result<String> {
        Err(no_parts(key))
    }
    /// Stores part `number` (from 1) of an upload: `len` bytes of `path`
    /// from `offset` (every part but the last is [`ObjectStore::part_size`]
    /// long); storing a number again replaces it. Returns its ETag.
    async fn upload_part(
        &self,
        key: &str,
        _upload_id: &str,
        _number: u32,
        _path: &Path,
        _offset: u64,
        _len: u64,
    ) -> Result<String> {
        Err(no_parts(key))
    }
    /// Makes the object of an upload from its parts' ETags, part 1 first.
    async fn complete_upload(&self, key: &str, _upload_id: &str, _etags: &[String]) -> Result<()> {
        Err(no_parts(key))
    }
    /// Drops an upload and the parts stored for it.
    async fn abort_upload(&self, _key: &str, _upload_id: &str) -> Result<()> {
        Ok(())
    }
    /// Deletes every object under `prefix` (which ends with `/`).
    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        for key in self.list(prefix).await? {
            self.delete(&key).await?;
        }
        Ok(())
    }
    /// A URL a client can fetch the object from, valid for about `ttl`.
    async fn url(&self, key: &str, ttl: Duration) -> Result<String>;
    /// A cheap call proving the store answers (`/ready`).
    async fn health_check(&self) -> Result<()>;
    /// Whether deleting objects frees space on this machine's disk (local
    /// storage), so that the free-space floor can be met by deleting clips.
    fn on_local_disk(&self) -> bool;
}

/// Starts and stops recordings. The implementation reports progress
/// (RECORDING, PROCESSING, COMPLETED/FAILED) through the [`PlaybackRepo`]
/// itself; callers only ask.
#[async_trait]
pub trait Recorder: Send + Sync + Debug {
    /// Begins recording `camera` for `playback` and returns without waiting
    /// for the camera. Unavailable when no capacity is left.
    async fn start(
        &self,
        playback: PlaybackId,
        camera: &Camera,
        window: crate::RecordWindow,
    ) -> Result<()>;
    /// Asks a running recording to stop and be finalized, and returns the
    /// status the stop left it in (PROCESSING while it is finalized and
    /// uploaded, or FAILED); `None` when it was not running here, which is
    /// not an error.
    async fn stop(&self, playback: PlaybackId) -> Result<Option<RecordingStatus>>;
    /// Whether the recording of `playback` is held by this process.
    fn is_active(&self, playback: PlaybackId) -> bool;
    /// Recordings running in this process.
    fn active_count(&self) -> usize;
    /// Whether a recording of `camera` runs in this process.
    fn records(&self, _camera: CameraId) -> bool {
        false
    }
    /// Stops this process's rings and takes of `camera` without asking the
    /// database (it may be out of reach): the node no longer owns it.
    async fn fence(&self, _camera: CameraId) {}
    /// Keeps `camera` connected when it has a pre-roll (its recent video
    /// held in a ring, so a recording starts before its event), and stops
    /// doing so when it has none. Called when a camera is created or
    /// changed. Unavailable when the ring cannot start. (No default: an
    /// implementation that silently ignored it would lose every pre-roll.)
    async fn watch(&self, camera: &Camera) -> Result<()>;
    /// Stops keeping a deleted camera warm.
    async fn forget(&self, camera: CameraId);
    /// Bytes missing below the free-space floor of the disk recordings are
    /// written to (0 when there is enough), so a caller can make room
    /// before a start that would be refused.
    fn space_short(&self) -> u64;
    /// Probes what the camera sends, in the background, and stores it as
    /// the camera's `stream` (state `connecting` until the probe ends).
    /// Called when a camera is created or its URL changes.
    fn check_stream(&self, camera: &Camera);
}

/// Something `/ready` checks: the database or the object store.
#[async_trait]
pub trait Probe: Send + Sync + Debug {
    /// Short name shown in `/ready` (e.g. `database`).
    fn name(&self) -> &'static str;
    async fn check(&self) -> Result<()>;
}

/// Signs the URLs Vigil serves itself.
pub trait MediaSigner: Send + Sync + Debug {
    /// `{PUBLIC_URL}/media/{key}?exp=…&sig=…`, valid for about `ttl`: what
    /// Vigil serves itself without a token (local objects, live playlists).
    fn sign(&self, key: &str, ttl: Duration) -> String;
    /// Whether `sig` signs `key` until `exp` (unix seconds) and `exp` is
    /// still in the future.
    fn verify(&self, key: &str, exp: i64, sig: &str) -> bool;
}

/// Objects the server itself serves at `/media/{key}` (local storage
/// mode), their URLs signed by the [`MediaSigner`].
pub trait LocalMedia: Send + Sync + Debug {
    /// The file holding `key`; InvalidArgument for a key that could escape
    /// the store.
    fn path_of(&self, key: &str) -> Result<std::path::PathBuf>;
}

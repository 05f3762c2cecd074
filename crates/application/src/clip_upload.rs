//! The clip's own upload, begun while its take records. The recorder writes
//! the clip as the take records ([`GROWING_CLIP_NAME`]: a moov-at-end MP4
//! whose bytes past its first are final once written), so its media goes
//! to the store as parts 2, 3, … of one upload while the take runs. When
//! the take ends only part 1 and the tail are left: part 1 is the
//! faststart header (the index, made at the end, moved first) followed by
//! the media up to part 2, so the object is a faststart MP4 while none of
//! the media stored during the recording is sent again, and the end →
//! COMPLETED time no longer grows with the clip
//! (docs/design/live-upload.md).
//!
//! Nothing here is durable. The clip's durable upload is the queue's job;
//! it finishes this upload when it finds one begun for its playback, and
//! uploads the file whole otherwise (after a restart, a reconnect that made
//! the recorder join the parts instead, or any failure here).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::watch;
use vigil_domain::{capture::GROWING_CLIP_NAME, ports::ObjectStore, Playback, PlaybackId};

/// How often the growing clip's size is looked at.
const POLL: Duration = Duration::from_secs(1);
/// First wait after a failed part; it doubles up to [`RETRY_MAX`].
const RETRY: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How long the end of a take waits for a part being stored; a part cut
/// short is stored again at the end.
const STOP_WAIT: Duration = Duration::from_secs(2);
/// Parts stored at once, across every take: each is held in memory while
/// it goes (16 MiB by default).
const IN_FLIGHT: usize = 4;
/// Room kept in part 1 for the clip's index (`moov`): part 2 begins this
/// much before the end of the clip's first part-length of bytes. An hour
/// of 30 fps video with AAC needs about 2 MiB; a clip whose index is
/// larger is uploaded whole.
pub(crate) const INDEX_ROOM: u64 = 4 * 1024 * 1024;
/// The file part 1 is written to before it is uploaded.
const FIRST_PART_FILE: &str = "first-part.mp4";

fn in_flight() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(IN_FLIGHT))
}

/// An upload of a clip begun while it recorded: parts 2 and on are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Begun {
    key: String,
    upload_id: String,
    part_size: u64,
    /// Where part 2 begins in the clip.
    from: u64,
    /// The ETags of parts 2, 3, …
    etags: Vec<String>,
}

impl Begun {
    /// Where the clip's bytes not yet stored begin (part 1 aside).
    fn covered(&self) -> u64 {
        self.from + self.etags.len() as u64 * self.part_size
    }
}

/// Where part 2 begins in a clip uploaded in parts of `part_size`.
fn second_part_at(part_size: u64) -> u64 {
    part_size.saturating_sub(INDEX_ROOM).max(part_size / 2)
}

/// The running upload of one take's growing clip.
#[derive(Debug)]
pub(crate) struct ClipUpload {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    progress: Arc<Mutex<Option<Begun>>>,
}

impl ClipUpload {
    /// Follows the growing clip in `dir`; `None` when the store takes
    /// whole files only.
    pub(crate) fn start(
        store: Arc<dyn ObjectStore>,
        playback: PlaybackId,
        dir: &Path,
    ) -> Option<ClipUpload> {
        let part_size = store.part_size()?;
        let (stop, rx) = watch::channel(false);
        let progress = Arc::new(Mutex::new(None));
        let follower = Follower {
            store,
            key: Playback::video_key_for(playback),
            path: dir.join(GROWING_CLIP_NAME),
            part_size,
            progress: progress.clone(),
        };
        let span = tracing::info_span!("clip upload", playback_id = %playback);
        let task = tokio::spawn(tracing::Instrument::instrument(follower.run(rx), span));
        Some(ClipUpload {
            stop,
            task,
            progress,
        })
    }

    /// Stops following (the take ended) and returns what was stored.
    pub(crate) async fn finish(self) -> Option<Begun> {
        self.stop.send_replace(true);
        let mut task = self.task;
        if tokio::time::timeout(STOP_WAIT, &mut task).await.is_err() {
            task.abort();
        }
        crate::service::lock(&self.progress).take()
    }
}

struct Follower {
    store: Arc<dyn ObjectStore>,
    key: String,
    path: PathBuf,
    part_size: u64,
    progress: Arc<Mutex<Option<Begun>>>,
}

impl Follower {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut delay = RETRY;
        let mut begun: Option<Begun> = None;
        loop {
            if *stop.borrow_and_update() {
                return;
            }
            let size = tokio::fs::metadata(&self.path).await.map_or(0, |m| m.len());
            let covered = begun
                .as_ref()
                .map_or(second_part_at(self.part_size), Begun::covered);
            if size < covered + self.part_size {
                let _ = tokio::time::timeout(POLL, stop.changed()).await;
                continue;
            }
            match self.store_next(&mut begun, covered).await {
                Ok(()) => {
                    delay = RETRY;
                    crate::telemetry::live_clip_part(true, self.part_size);
                    *crate::service::lock(&self.progress) = begun.clone();
                }
                Err(e) => {
                    crate::telemetry::live_clip_part(false, 0);
                    tracing::warn!(error = %e.chain(), "cannot store a part of the clip yet; retrying");
                    let _ = tokio::time::timeout(delay, stop.changed()).await;
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Stores the part starting at `covered` (beginning the upload first).
    async fn store_next(
        &self,
        begun: &mut Option<Begun>,
        covered: u64,
    ) -> vigil_domain::ports::Result<()> {
        let _slot = in_flight().acquire().await;
        if begun.is_none() {
            let upload_id = self.store.start_upload(&self.key, "video/mp4").await?;
            *begun = Some(Begun {
                key: self.key.clone(),
                upload_id,
                part_size: self.part_size,
                from: covered,
                etags: Vec::new(),
            });
            *crate::service::lock(&self.progress) = begun.clone();
        }
        let Some(b) = begun.as_mut() else {
            return Ok(());
        };
        let number = b.etags.len() as u32 + 2;
        let etag = self
            .store
            .upload_part(
                &b.key,
                &b.upload_id,
                number,
                &self.path,
                covered,
                self.part_size,
            )
            .await?;
        b.etags.push(etag);
        tracing::debug!(part = number, "clip part stored while recording");
        Ok(())
    }
}

/// Uploads begun for clips now waiting for their upload job, by playback.
#[derive(Debug, Clone, Default)]
pub(crate) struct BegunUploads(Arc<Mutex<HashMap<PlaybackId, Begun>>>);

impl BegunUploads {
    pub(crate) fn keep(&self, playback: PlaybackId, begun: Begun) {
        crate::service::lock(&self.0).insert(playback, begun);
    }

    pub(crate) fn take(&self, playback: PlaybackId) -> Option<Begun> {
        crate::service::lock(&self.0).remove(&playback)
    }
}

/// Drops an upload that will not be finished (a failed take, a joined
/// clip, a deleted playback); a failure is logged (R2 drops open uploads
/// after 7 days).
pub(crate) async fn abort(store: &dyn ObjectStore, begun: &Begun) {
    if let Err(e) = store.abort_upload(&begun.key, &begun.upload_id).await {
        tracing::warn!(key = %begun.key, error = %e.chain(), "cannot abort a clip upload begun while recording");
    }
}

/// Stores the finished `clip` through `begun`: part 1 (the faststart
/// header and the media before part 2) and what follows the parts stored
/// while it recorded, up to the end of the media (the index at the clip's
/// end is in part 1 now); returns the object's size.
pub(crate) async fn complete(
    store: &dyn ObjectStore,
    capture: &dyn vigil_domain::capture::Capture,
    begun: &Begun,
    clip: &Path,
) -> vigil_domain::ports::Result<u64> {
    let ps = begun.part_size;
    let first = clip.with_file_name(FIRST_PART_FILE);
    let end = capture
        .faststart_start(clip, begun.from, ps, &first)
        .await
        .map_err(|e| vigil_domain::Error::internal(format!("first part: {e}")))?;
    let covered = begun.covered();
    if end < covered {
        return Err(vigil_domain::Error::internal(
            "the clip is shorter than the parts stored while it recorded",
        ));
    }
    let mut parts = vec![(1u32, first.clone(), 0u64, ps)];
    let (mut number, mut offset) = (begun.etags.len() as u32 + 2, covered);
    while offset < end {
        let len = ps.min(end - offset);
        parts.push((number, clip.to_owned(), offset, len));
        number += 1;
        offset += len;
    }
    let stored = futures_util::future::try_join_all(parts.iter().map(|(n, path, off, len)| {
        store.upload_part(&begun.key, &begun.upload_id, *n, path, *off, *len)
    }))
    .await;
    let _ = tokio::fs::remove_file(&first).await;
    let stored = stored?;
    let mut etags = Vec::with_capacity(stored.len() + begun.etags.len());
    etags.push(stored[0].clone());
    etags.extend(begun.etags.iter().cloned());
    etags.extend(stored[1..].iter().cloned());
    store
        .complete_upload(&begun.key, &begun.upload_id, &etags)
        .await?;
    let size = ps + (end - begun.from);
    match store.head(&begun.key).await? {
        Some(meta) if meta.size == size => Ok(size),
        Some(meta) => Err(vigil_domain::Error::unavailable(format!(
            "object store: {} holds {} bytes after uploading {size}",
            begun.key, meta.size
        ))),
        None => Err(vigil_domain::Error::unavailable(format!(
            "object store: {} missing after upload",
            begun.key
        ))),
    }
}

//! Live upload: while a take records, its closed parts go to the store as
//! segments under `playbacks/{id}/live/` (see `vigil_domain::live`), so the
//! evidence is off-site during the incident. One task per take, beside it:
//! it never blocks the recording (the parts are on disk either way, and the
//! final clip is made from them), and when the store is slow or down it
//! keeps the backlog in order and retries, losing nothing.
//!
//! Parts are batched to at least [`MIN_SEGMENT`] of media per object: a
//! ring's 1 s parts would otherwise cost a billed PUT per second on R2,
//! while two seconds still keep the store within a few seconds of live.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tokio::sync::watch;
use vigil_domain::{
    capture::{Capture, PART_PREFIX},
    ports::ObjectStore,
    LiveSegment, PartFile, PartTimes, PlaybackId,
};

/// Media per stored segment, at least (a longer part is one segment).
pub const MIN_SEGMENT: Duration = Duration::from_secs(2);
/// How often the take's folder is looked at for closed parts.
const POLL: Duration = Duration::from_millis(250);
/// First wait after a failed upload; it doubles up to [`RETRY_MAX`].
const RETRY: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// After the take ends, how long its last segments may take to store
/// before the clip is handed on without them (the final clip holds them
/// anyway, and its upload is durable: the hand-off to the queue must not
/// wait long on a hanging store, nor at all on one already failing).
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);
/// How long a take's backlog may go on being stored after the take ended
/// (in the background, once the hand-off stopped waiting for it).
const TAIL_DEADLINE: Duration = Duration::from_secs(300);
/// The file a batch of several parts is concatenated into before upload.
const BATCH_FILE: &str = "live-batch.ts";
/// Segments uploaded at once, across every take: each upload holds its
/// segment in memory, and without a bound 40 recordings' uploads peaked at
/// 312 MiB more than without live upload (docs/benchmarks.md). 8 PUTs in
/// flight carry 40 recordings' 2 s segments on loopback with room to spare,
/// and about 25 PUTs a second at R2's ~0.3 s each.
const IN_FLIGHT: usize = 8;

fn in_flight() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(IN_FLIGHT))
}

/// A part waiting to be stored, with whether its timestamps jump from the
/// previous part's.
#[derive(Debug)]
struct Waiting {
    part: PartFile,
    discontinuity: bool,
}

/// Uploads one take's parts as they close.
#[derive(Debug)]
pub(crate) struct LiveUpload {
    capture: Arc<dyn Capture>,
    store: Arc<dyn ObjectStore>,
    playback: PlaybackId,
    dir: PathBuf,
    /// The next part number to look for.
    next_part: u32,
    /// The next segment's number.
    seq: u32,
    /// The first part follows other media with a gap (a resumed take).
    jump_first: bool,
    last_times: Option<PartTimes>,
    waiting: VecDeque<Waiting>,
    failing_since: Option<std::time::Instant>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

/// The handle the take's driver keeps: say the take ended, then wait for
/// the last segments.
#[derive(Debug)]
pub(crate) struct LiveHandle {
    ended: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// Set while the store refuses or does not answer.
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl LiveHandle {
    /// Says the take ended and waits for what is left (the last part
    /// included) to be stored, within [`FLUSH_DEADLINE`], or not at all
    /// when the store is already failing. What is still left then goes on
    /// in the background: the returned tail, for whoever removes the take's
    /// folder and segments to wait on first (`None`: nothing left).
    pub(crate) async fn finish(self) -> Option<tokio::task::JoinHandle<()>> {
        self.ended.send_replace(true);
        let mut task = self.task;
        let wait = if self.failing.load(std::sync::atomic::Ordering::Relaxed) {
            Duration::ZERO
        } else {
            FLUSH_DEADLINE
        };
        match tokio::time::timeout(wait, &mut task).await {
            Ok(_) => None,
            Err(_) => {
                tracing::info!("the last live segments are still being stored; the clip goes on without waiting");
                Some(task)
            }
        }
    }
}

/// Live uploads still storing an ended take's backlog, by playback.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tails(
    Arc<std::sync::Mutex<std::collections::HashMap<PlaybackId, tokio::task::JoinHandle<()>>>>,
);

impl Tails {
    pub(crate) fn keep(&self, playback: PlaybackId, tail: Option<tokio::task::JoinHandle<()>>) {
        if let Some(t) = tail {
            crate::service::lock(&self.0).insert(playback, t);
        }
    }

    /// Waits for the playback's backlog to be stored (within
    /// [`TAIL_DEADLINE`] of its end), so its folder and segments are removed
    /// only after.
    pub(crate) async fn settle(&self, playback: PlaybackId) {
        let tail = crate::service::lock(&self.0).remove(&playback);
        if let Some(tail) = tail {
            let _ = tail.await;
        }
    }

    /// Waits up to `limit` for the playback's backlog to be stored; false
    /// when some is still left (it goes on storing).
    pub(crate) async fn settle_within(&self, playback: PlaybackId, limit: Duration) -> bool {
        let tail = crate::service::lock(&self.0).remove(&playback);
        let Some(mut tail) = tail else {
            return true;
        };
        match tokio::time::timeout(limit, &mut tail).await {
            Ok(_) => true,
            Err(_) => {
                self.keep(playback, Some(tail));
                false
            }
        }
    }

    /// Stops storing the backlog of a playback that is gone.
    pub(crate) fn drop_tail(&self, playback: PlaybackId) {
        if let Some(tail) = crate::service::lock(&self.0).remove(&playback) {
            tail.abort();
        }
    }
}

impl LiveUpload {
    /// Stores the parts of the take in `dir` as they close, numbering its
    /// segments from `first_seq`; a take that resumes another node's
    /// recording (`first_seq` above 0) marks its first segment as a jump.
    pub(crate) fn start(
        capture: Arc<dyn Capture>,
        store: Arc<dyn ObjectStore>,
        playback: PlaybackId,
        dir: &Path,
        first_seq: u32,
    ) -> LiveHandle {
        let (ended, rx) = watch::channel(false);
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let upload = LiveUpload {
            failing: failing.clone(),
            capture,
            store,
            playback,
            dir: dir.to_owned(),
            next_part: 0,
            seq: first_seq,
            jump_first: first_seq > 0,
            last_times: None,
            waiting: VecDeque::new(),
            failing_since: None,
        };
        let span = tracing::info_span!("live upload", playback_id = %playback);
        let task = tokio::spawn(tracing::Instrument::instrument(upload.run(rx), span));
        LiveHandle {
            ended,
            task,
            failing,
        }
    }

    async fn run(mut self, mut ended: watch::Receiver<bool>) {
        let mut delay = RETRY;
        let mut ended_at = None;
        loop {
            let done = *ended.borrow();
            if done
                && *ended_at.get_or_insert_with(std::time::Instant::now) + TAIL_DEADLINE
                    < std::time::Instant::now()
            {
                tracing::warn!(
                    left = self.waiting.len(),
                    "gave up storing the last live segments; the clip holds them"
                );
                return;
            }
            self.collect(done);
            match self.store_ready(done).await {
                Ok(()) => {
                    delay = RETRY;
                    self.failing
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => {
                    self.failing
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    if self.failing_since.is_none() {
                        tracing::warn!(error = %e.chain(), "cannot store live segments; they wait on disk");
                        self.failing_since = Some(std::time::Instant::now());
                    }
                    crate::telemetry::live_segment(false, 0);
                    if done {
                        // The take is over: its clip carries this media,
                        // and the clip's own upload is the durable one;
                        // the backlog goes on until the tail's deadline.
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(RETRY_MAX);
                        continue;
                    }
                    let _ = tokio::time::timeout(delay, ended.changed()).await;
                    delay = (delay * 2).min(RETRY_MAX);
                    continue;
                }
            }
            if done && self.waiting.is_empty() {
                let _ = tokio::fs::remove_file(self.dir.join(BATCH_FILE)).await;
                return;
            }
            if !done {
                // Woken early when the take ends, so its tail is stored at once.
                let _ = tokio::time::timeout(POLL, ended.changed()).await;
            }
        }
    }

    /// Queues the parts closed since the last look.
    fn collect(&mut self, ended: bool) {
        for part in self.capture.closed_parts(&self.dir, self.next_part, ended) {
            self.next_part = part.number + 1;
            let Some(times) = part.times else {
                continue; // nothing with a timestamp: nothing to play
            };
            let discontinuity = match self.last_times {
                Some(last) => !last.continued_by(&times),
                None => std::mem::take(&mut self.jump_first),
            };
            self.last_times = Some(times);
            self.waiting.push_back(Waiting {
                part,
                discontinuity,
            });
        }
    }

    /// Stores every full batch waiting (every batch once the take ended),
    /// oldest first; stops at the first failure, keeping the rest queued.
    async fn store_ready(&mut self, ended: bool) -> vigil_domain::ports::Result<()> {
        while let Some(n) = self.next_batch(ended) {
            let batch: Vec<&Waiting> = self.waiting.iter().take(n).collect();
            let millis = batch
                .iter()
                .map(|w| w.part.times.map_or(0.0, |t| t.seconds()))
                .sum::<f64>()
                * 1000.0;
            let segment = LiveSegment {
                seq: self.seq,
                millis: millis.round() as u32,
                discontinuity: batch[0].discontinuity,
            };
            let key = segment.key(self.playback);
            let _slot = in_flight().acquire().await;
            let bytes = if let [one] = batch.as_slice() {
                self.store
                    .put_file(&key, &one.part.path, "video/mp2t")
                    .await?
            } else {
                let file = self.dir.join(BATCH_FILE);
                concat(&batch, &file)
                    .await
                    .map_err(|e| vigil_domain::Error::internal(format!("live batch: {e}")))?;
                self.store.put_file(&key, &file, "video/mp2t").await?
            };
            crate::telemetry::live_segment(true, bytes);
            if let Some(since) = self.failing_since.take() {
                tracing::info!(
                    after_s = since.elapsed().as_secs_f64(),
                    "the store is back; live segments catch up"
                );
            }
            self.seq += 1;
            self.waiting.drain(..n);
        }
        Ok(())
    }

    /// How many waiting parts make the next segment: at least
    /// [`MIN_SEGMENT`] of media, never across a discontinuity (each
    /// segment's timestamps run on); what is left once the take ended.
    fn next_batch(&self, ended: bool) -> Option<usize> {
        let mut seconds = 0.0;
        for (i, w) in self.waiting.iter().enumerate() {
            if i > 0 && w.discontinuity {
                return Some(i);
            }
            seconds += w.part.times.map_or(0.0, |t| t.seconds());
            if seconds >= MIN_SEGMENT.as_secs_f64() {
                return Some(i + 1);
            }
        }
        (ended && !self.waiting.is_empty()).then_some(self.waiting.len())
    }
}

async fn concat(batch: &[&Waiting], out: &Path) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(out).await?;
    for w in batch {
        file.write_all(&tokio::fs::read(&w.part.path).await?)
            .await?;
    }
    file.flush().await
}

/// Deletes a playback's stored segments; a failure is logged (they are
/// deleted with the playback later).
pub(crate) async fn remove_segments(store: &dyn ObjectStore, playback: PlaybackId) {
    if let Err(e) = store.delete_prefix(&LiveSegment::prefix(playback)).await {
        tracing::warn!(playback_id = %playback, error = %e.chain(), "cannot delete the live segments");
    }
}

/// Fills `dir` with the segments stored for `playback`, as parts in their
/// order, for the clip to be joined from them; returns how many there were
/// and the seconds they hold.
pub(crate) async fn fetch_segments(
    store: &dyn ObjectStore,
    playback: PlaybackId,
    dir: &Path,
) -> vigil_domain::ports::Result<(usize, f64)> {
    let segments =
        vigil_domain::live::segments_of(store.list(&LiveSegment::prefix(playback)).await?);
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| vigil_domain::Error::internal(format!("rebuild folder: {e}")))?;
    let mut seconds = 0.0;
    for (segment, key) in &segments {
        // Named as the recorder names parts, so the usual join applies.
        let part = dir.join(format!("{PART_PREFIX}{:05}.ts", segment.seq));
        store.get_file(key, &part).await?;
        seconds += segment.seconds();
    }
    Ok((segments.len(), seconds))
}

/// Whether live upload is on, and its segments kept after the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSettings {
    pub enabled: bool,
    pub keep: bool,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            keep: false,
        }
    }
}

/// Whether a playback's live segments are worth a `liveUrl`: from its first
/// frame until they are removed, which happens once the clip is stored
/// (COMPLETED) unless they are kept. A FAILED playback keeps what it
/// stored.
pub fn shows_live(p: &vigil_domain::Playback, live: LiveSettings) -> bool {
    let keep = live.keep;
    use vigil_domain::RecordingStatus as S;
    live.enabled
        && p.started_at.is_some()
        && match p.status {
            S::Pending => false,
            S::Recording | S::Processing | S::Failed => true,
            S::Completed => keep,
        }
}

impl crate::Recordings {
    /// The HLS playlist of what is stored of `playback` so far, each
    /// segment with a URL valid for `ttl` (presigned, public, or Vigil's
    /// signed `/media`): EVENT while its take runs, VOD once it ended.
    pub async fn live_playlist(
        &self,
        playback: PlaybackId,
        ttl: Duration,
    ) -> vigil_domain::ports::Result<String> {
        let p = self
            .playbacks
            .get(playback)
            .await?
            .ok_or_else(|| vigil_domain::Error::not_found("playback"))?;
        let listed = self.store.list(&LiveSegment::prefix(playback)).await?;
        let mut segments = Vec::new();
        for (segment, key) in vigil_domain::live::segments_of(listed) {
            segments.push((segment, self.store.url(&key, ttl).await?));
        }
        let ended = p.status != vigil_domain::RecordingStatus::Recording
            && !self.recorder.is_active(playback);
        Ok(vigil_domain::live::playlist(&segments, ended))
    }
}

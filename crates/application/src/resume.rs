//! Failover that resumes a lost node's recording into the same playback
//! (docs/design/cluster.md, invariant 9).
//!
//! A survivor that adopts a recording whose event is still open takes the
//! camera (when its lease is free or run out) and starts a new take for
//! the same playback. That take stores its segments after the ones the
//! lost node stored, leaving room for a tail a cut-off (not dead) node may
//! still store, and notes in its folder (`resumed.json`) where the stored
//! media ends. When the clip is finished, the stored segments from before
//! the resume are fetched in front of the take's own parts, so the clip
//! holds both, joined as across a reconnect, with the time between them
//! noted as a gap. When the camera cannot be had within about a lease, or
//! the event has ended, the clip is finished from the store alone, as
//! before.

use crate::service::{lock, RecordingService};
use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};
use vigil_domain::{
    capture::PART_PREFIX,
    ports::{CameraRepo, EventRepo, NodeRepo, Result},
    Gap, LiveSegment, PlaybackId, RecordWindow, RecordingStatus,
};

/// Marks a take folder as the resumption of another node's recording.
const RESUMED_FILE: &str = "resumed.json";
/// Segment numbers left free after the last stored one: a node cut off
/// from the database (fenced, not dead) may still store the tail of its
/// take, about half a lease of media, which then sorts before the resumed
/// take's segments.
const TAIL_ROOM: u32 = 100;
/// At a node's stop, how long a take's last segments may take to reach
/// the store before it is left for another node to resume (else the node
/// stores its clip itself, as on one node).
const HANDOVER_FLUSH: Duration = Duration::from_secs(10);

/// What resuming a recording needs besides the service's own ports.
#[derive(Debug, Clone)]
pub struct ResumePorts {
    pub cameras: Arc<dyn CameraRepo>,
    pub events: Arc<dyn EventRepo>,
    pub nodes: Arc<dyn NodeRepo>,
}

/// What the survivor does with an adopted recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// A take records it here again.
    Resumed,
    /// Its camera is still held (by the lost node's lease, not yet run
    /// out): asked again at the next beat.
    Waiting,
    /// It is finished from the store.
    Finish,
}

/// The note a resumed take's folder carries to its upload job.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Resumed {
    /// The resumed take's first segment number; stored segments below it
    /// are the media from before.
    pub base: u32,
    /// The node that resumed it.
    pub node: String,
    /// When the stored media before the resume ends (unix ms), roughly.
    pub stored_until_ms: Option<i64>,
    /// When the resumed take's first frame was filmed (unix ms).
    pub media_since_ms: Option<i64>,
    /// Whether the stored media is already in the folder.
    #[serde(default)]
    pub merged: bool,
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Resumed {
    pub(crate) async fn read(dir: &Path) -> Option<Self> {
        let bytes = tokio::fs::read(dir.join(RESUMED_FILE)).await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub(crate) async fn write(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        tokio::fs::write(dir.join(RESUMED_FILE), json).await
    }

    /// Notes when the resumed take's first frame was filmed.
    pub(crate) async fn media_started(id: PlaybackId, dir: &Path, since: SystemTime) {
        if let Some(mut r) = Self::read(dir).await {
            tracing::info!(playback_id = %id, "the resumed recording has media on disk again");
            r.media_since_ms = Some(unix_ms(since));
            if let Err(e) = r.write(dir).await {
                tracing::warn!(error = %e, "cannot note when the resumed take began");
            }
        }
    }

    /// The time between the stored media and the resumed take's, when both
    /// ends are known.
    fn gap(&self) -> Option<Gap> {
        let (from, to) = (self.stored_until_ms?, self.media_since_ms?);
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(from) * 1_000_000).ok()?;
        Some(Gap {
            at,
            seconds: ((to - from).max(0) as f64) / 1000.0,
        })
    }
}

impl RecordingService {
    /// Holds adopted recordings as this node's while each is offered for
    /// resuming (a stop of one then waits for the offer, and never finds
    /// it held by nobody).
    pub(crate) fn hold_adopted(&self, ids: &[PlaybackId]) {
        let mut held = lock(&self.resuming);
        for id in ids {
            held.entry(*id).or_insert_with(Instant::now);
        }
    }

    /// Resumes here the adopted recording `id` if its event is still open
    /// and its camera can be had, or waits for the camera (asked again at
    /// the next beat, for up to a lease), or finishes it from the store.
    pub async fn offer_resume(&self, id: PlaybackId) {
        // A stop of it waits for this attempt, then finds it running or
        // waiting, never in between.
        let _gate = self.resume_gate.lock().await;
        let since = *lock(&self.resuming).entry(id).or_insert_with(Instant::now);
        let offer = match self.try_resume(id).await {
            // The lost node's lease runs out within one lease of its last
            // renewal; past that, another node holds the camera.
            Ok(Offer::Waiting) if since.elapsed() <= self.lease() => return,
            Ok(Offer::Waiting) => {
                tracing::info!(playback_id = %id, "the camera went to another node; the clip is finished from the store");
                Offer::Finish
            }
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(playback_id = %id, error = %e.chain(), "cannot resume the recording; it is finished from the store");
                Offer::Finish
            }
        };
        if offer == Offer::Finish {
            if let Err(e) = self.finish_adopted(id).await {
                tracing::error!(playback_id = %id, error = %e.chain(), "cannot queue the job that finishes an adopted recording; the next start will");
            }
        }
        self.let_go(id);
    }

    /// The adopted recordings still waiting for their cameras.
    pub fn waiting_to_resume(&self) -> Vec<PlaybackId> {
        lock(&self.resuming).keys().copied().collect()
    }

    /// No longer holds an adopted playback for resuming; true when it was
    /// held.
    pub(crate) fn let_go(&self, id: PlaybackId) -> bool {
        lock(&self.resuming).remove(&id).is_some()
    }

    /// At this node's stop (SIGTERM), with another node alive: a take
    /// whose event is still open is left RECORDING for the camera's next
    /// owner to resume, once every part of it is in the store (true then).
    /// The node, marked stopped, is adopted from at once (`Leasing::release`
    /// signals it), so the recording goes on elsewhere within about a
    /// second instead of ending with this node.
    pub(crate) async fn hand_over(&self, id: PlaybackId) -> bool {
        if !self.workers.stopping() || !self.limits.live.enabled {
            return false;
        }
        let (Some(ports), Some(cluster)) = (&self.resume, &self.cluster) else {
            return false;
        };
        if !matches!(ports.events.open_events_of(id).await, Ok(n) if n > 0) {
            return false;
        }
        let now = time::OffsetDateTime::now_utc();
        let others = match ports.nodes.list().await {
            Ok(nodes) => nodes
                .iter()
                .any(|n| &n.id != cluster.me() && n.alive(now, cluster.ttl)),
            Err(_) => false,
        };
        if !others || !self.live_tails.settle_within(id, HANDOVER_FLUSH).await {
            return false;
        }
        if let Some(begun) = self.begun_uploads.take(id) {
            crate::clip_upload::abort(self.store.as_ref(), &begun).await;
        }
        tracing::info!(playback_id = %id, "this node stops: its recording is left for the camera's next owner to resume");
        true
    }

    fn lease(&self) -> Duration {
        self.cluster
            .as_ref()
            .map_or(Duration::from_secs(10), |c| c.ttl)
    }

    async fn try_resume(&self, id: PlaybackId) -> Result<Offer> {
        let (Some(ports), Some(cluster)) = (&self.resume, &self.cluster) else {
            return Ok(Offer::Finish);
        };
        // Never a second take of one playback.
        if lock(&self.active).contains_key(&id) {
            return Ok(Offer::Resumed);
        }
        let Some(p) = self.playbacks.get(id).await? else {
            return Ok(Offer::Finish);
        };
        if !matches!(
            p.status,
            RecordingStatus::Pending | RecordingStatus::Recording
        ) || ports.events.open_events_of(id).await? == 0
            || !self.playbacks.stop_requested(&[id]).await?.is_empty()
        {
            return Ok(Offer::Finish);
        }
        let Some(camera) = ports.cameras.get(p.camera_id).await? else {
            return Ok(Offer::Finish);
        };
        match cluster.take_if_free(camera.id).await? {
            (crate::cluster::Owner::Here, taken) => {
                if taken {
                    if let Err(e) = vigil_domain::ports::Recorder::watch(self, &camera).await {
                        tracing::warn!(camera_id = %camera.id, error = %e.chain(), "cannot keep the camera warm");
                    }
                }
            }
            (crate::cluster::Owner::Node(_), _) => return Ok(Offer::Waiting),
        }
        let stored =
            vigil_domain::live::segments_of(self.store.list(&LiveSegment::prefix(id)).await?);
        let base = stored.last().map_or(0, |(s, _)| s.seq + 1) + TAIL_ROOM;
        let stored_seconds: f64 = stored.iter().map(|(s, _)| s.seconds()).sum();
        let stored_until_ms = p.started_at.map(|t| {
            (t.unix_timestamp_nanos() / 1_000_000) as i64 + (stored_seconds * 1000.0) as i64
        });
        let resumed = Resumed {
            base,
            node: cluster.me().to_string(),
            stored_until_ms,
            media_since_ms: None,
            merged: false,
        };
        let window = RecordWindow {
            pre_roll: Duration::ZERO,
            post_roll: Duration::from_secs(camera.post_roll.get().into()),
            trigger: None,
        };
        // The take's own first frame would otherwise be written as the
        // clip's start.
        self.start_take(id, &camera, window, Some(resumed)).await?;
        tracing::info!(playback_id = %id, camera_id = %camera.id, stored_segments = stored.len(), stored_seconds, "a lost node's recording resumed here");
        Ok(Offer::Resumed)
    }

    /// Before a resumed take's clip is joined: puts the segments stored
    /// before the resume in front of the take's own parts, once, and notes
    /// the gap between them. Returns the note for the playback; None when
    /// `dir` is not a resumed take's.
    pub(crate) async fn merge_stored(&self, id: PlaybackId, dir: &Path) -> Result<Option<String>> {
        let Some(mut resumed) = Resumed::read(dir).await else {
            return Ok(None);
        };
        let stored: Vec<_> =
            vigil_domain::live::segments_of(self.store.list(&LiveSegment::prefix(id)).await?)
                .into_iter()
                .filter(|(s, _)| s.seq < resumed.base)
                .collect();
        let before: f64 = stored.iter().map(|(s, _)| s.seconds()).sum();
        if !resumed.merged {
            let shift = u32::try_from(stored.len()).unwrap_or(u32::MAX);
            shift_parts(dir, shift)
                .await
                .map_err(|e| vigil_domain::Error::internal(format!("resumed take: {e}")))?;
            for (i, (_, key)) in stored.iter().enumerate() {
                let part = dir.join(format!("{PART_PREFIX}{i:05}.ts"));
                self.store.get_file(key, &part).await?;
            }
            if let Some(gap) = resumed.gap() {
                let mut gaps = crate::jobs::read_gaps(dir).await;
                gaps.push(gap);
                gaps.sort_by_key(|g| g.at);
                crate::jobs::write_gaps(dir, &gaps).await;
            }
            resumed.merged = true;
            resumed
                .write(dir)
                .await
                .map_err(|e| vigil_domain::Error::internal(format!("resumed take: {e}")))?;
        }
        let gap = resumed
            .gap()
            .map(|g| format!(" after a gap of about {:.1} s", g.seconds))
            .unwrap_or_default();
        Ok(Some(format!(
            "its node stopped or was lost while it recorded; {} resumed it{gap}: the first {:.1} s ({} segment(s)) are from the store",
            resumed.node,
            before,
            stored.len()
        )))
    }
}

/// Renumbers the take's parts `shift` places up, highest first, so each
/// name it moves to is free. Run again after a crash halfway, it keeps
/// their order (parts moved once move again, past the others).
async fn shift_parts(dir: &Path, shift: u32) -> std::io::Result<()> {
    if shift == 0 {
        return Ok(());
    }
    let mut numbers = Vec::new();
    let mut rd = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = rd.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix(PART_PREFIX)
            .and_then(|n| n.strip_suffix(".ts"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    for n in numbers.into_iter().rev() {
        tokio::fs::rename(
            dir.join(format!("{PART_PREFIX}{n:05}.ts")),
            dir.join(format!("{PART_PREFIX}{:05}.ts", n + shift)),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(dir: &Path, n: u32) -> std::path::PathBuf {
        dir.join(format!("{PART_PREFIX}{n:05}.ts"))
    }

    /// The parts' contents in the order of their numbers, and the lowest.
    fn in_order(dir: &Path) -> (Vec<u8>, Option<u32>) {
        let found: Vec<(u32, u8)> = (0..20)
            .filter_map(|n| Some((n, std::fs::read(part(dir, n)).ok()?[0])))
            .collect();
        (
            found.iter().map(|(_, b)| *b).collect(),
            found.first().map(|(n, _)| *n),
        )
    }

    #[tokio::test]
    async fn parts_shift_up_in_order_and_again_after_a_crash_halfway() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..3u32 {
            std::fs::write(part(dir.path(), n), [n as u8]).unwrap();
        }
        shift_parts(dir.path(), 2).await.unwrap();
        assert_eq!(in_order(dir.path()), (vec![0, 1, 2], Some(2)));
        assert!(part(dir.path(), 4).exists());

        // A crash after the highest part moved: running it again keeps the
        // order and frees the first two names.
        let again = tempfile::tempdir().unwrap();
        for n in 0..3u32 {
            std::fs::write(part(again.path(), n), [n as u8]).unwrap();
        }
        std::fs::rename(part(again.path(), 2), part(again.path(), 4)).unwrap();
        shift_parts(again.path(), 2).await.unwrap();
        assert_eq!(in_order(again.path()), (vec![0, 1, 2], Some(2)));
    }

    #[test]
    fn the_gap_runs_from_the_stored_media_to_the_resumed_take() {
        let r = Resumed {
            base: 105,
            node: "node-b".into(),
            stored_until_ms: Some(1_000_000),
            media_since_ms: Some(1_009_250),
            merged: false,
        };
        let gap = r.gap().unwrap();
        assert_eq!(gap.seconds, 9.25);
        assert_eq!(gap.at.unix_timestamp(), 1_000);
        assert!(Resumed {
            media_since_ms: None,
            ..r
        }
        .gap()
        .is_none());
    }
}

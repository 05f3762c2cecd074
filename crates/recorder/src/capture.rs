//! [`FfmpegCapture`]: the recorder behind the domain's [`Capture`] port.
//! Per-event recordings and takes from warm rings look the same to the
//! caller; this module owns which cameras are kept warm and for how long,
//! and waits a recording's post-roll before stopping it.

use crate::{
    manifest::Manifest, parts, probe, process, FfmpegRecorder, RecordError, RecordErrorKind,
    RecorderEvent, Recording, Ring, RING_DIR,
};
use async_trait::async_trait;
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};
use tokio::sync::Mutex;
use vigil_domain::{
    capture::{Capture, ClipFile, StopTake, Take, TakeEvent, WarmLink, WarmStats},
    Camera, CameraId, MediaInfo, PartFile, RecordWindow, StreamFacts, Transcode,
};

/// Segments a ring keeps beyond the pre-roll: the clip starts at the
/// keyframe before `trigger − pre-roll`, and a slow tick must not evict
/// what a tap is about to link.
const RING_MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct FfmpegCapture {
    recorder: FfmpegRecorder,
    /// Warm cameras (those with a pre-roll), by camera.
    rings: Arc<Mutex<HashMap<CameraId, Ring>>>,
    /// A snapshot of the rings for the synchronous gauges.
    ring_list: Arc<std::sync::Mutex<Vec<(CameraId, Ring)>>>,
    /// How far back a late trigger may reach on a warm camera: its ring
    /// keeps at least this much.
    backdate: Duration,
}

impl FfmpegCapture {
    pub fn new(recorder: FfmpegRecorder) -> Self {
        Self {
            recorder,
            rings: Arc::default(),
            ring_list: Arc::default(),
            backdate: Duration::ZERO,
        }
    }

    /// Warm cameras keep at least `backdate` of video, so a trigger that
    /// arrives that late still gets its pre-roll (`BACKDATE_MAX_SECONDS`).
    pub fn with_backdate(mut self, backdate: Duration) -> Self {
        self.backdate = backdate;
        self
    }

    pub fn recorder(&self) -> &FfmpegRecorder {
        &self.recorder
    }

    fn publish_rings(&self, rings: &HashMap<CameraId, Ring>) {
        *self.ring_list.lock().unwrap_or_else(|p| p.into_inner()) =
            rings.iter().map(|(id, r)| (*id, r.clone())).collect();
    }

    /// The camera's ring, started (or restarted for a new URL) as needed.
    async fn ring_of(&self, camera: &Camera) -> Result<Ring, RecordError> {
        let keep =
            Duration::from_secs(camera.pre_roll.get().into()).max(self.backdate) + RING_MARGIN;
        let mut rings = self.rings.lock().await;
        if let Some(ring) = rings.get(&camera.id) {
            if ring.url() == &camera.rtsp_url {
                ring.set_keep(keep);
                return Ok(ring.clone());
            }
            // A new URL: the old ffmpeg stops (its taps end with what they
            // have) before a new ring takes over the folder.
            tracing::info!(camera_id = %camera.id, "camera URL changed; reconnecting its ring");
            ring.stop_and_wait().await;
        }
        let ring = self
            .recorder
            .ring(&camera.id.to_string(), camera.rtsp_url.clone(), keep)?;
        tracing::info!(camera_id = %camera.id, keep_s = keep.as_secs(), "camera kept warm for pre-roll");
        rings.insert(camera.id, ring.clone());
        self.publish_rings(&rings);
        Ok(ring)
    }
}

/// Free bytes on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

/// A [`Recording`] seen through the port.
#[derive(Debug)]
struct RecordingTake {
    rec: Recording,
    /// Waited after a stop before stopping ffmpeg; zero for takes from a
    /// ring, which keep their post-roll themselves.
    post_roll: Duration,
}

impl RecordingTake {
    fn map(&self, ev: RecorderEvent) -> Option<TakeEvent> {
        Some(match ev {
            RecorderEvent::MediaWritten => TakeEvent::MediaStarted {
                since: self.rec.media_since().unwrap_or_else(SystemTime::now),
            },
            RecorderEvent::Reconnecting { attempt, reason } => {
                TakeEvent::Interrupted { attempt, reason }
            }
            RecorderEvent::Resumed { away } => TakeEvent::Resumed { away },
            RecorderEvent::Finished(r) => TakeEvent::Finished(r.map(|clip| {
                ClipFile {
                    dir: clip.dir,
                    path: clip.path,
                    media: clip.info.media,
                    reconnects: clip.reconnects,
                    gaps: clip
                        .gaps
                        .into_iter()
                        .map(|(at, away)| vigil_domain::Gap {
                            at: time::OffsetDateTime::from(at),
                            seconds: (away.as_secs_f64() * 1000.0).round() / 1000.0,
                        })
                        .collect(),
                    stream: clip.stream,
                    streamed: clip.streamed,
                }
            })),
        })
    }
}

#[async_trait]
impl Take for RecordingTake {
    fn dir(&self) -> &Path {
        self.rec.dir()
    }

    fn stopper(&self) -> StopTake {
        let stop = self.rec.stop_handle();
        let post_roll = self.post_roll;
        StopTake::new(move || {
            if post_roll.is_zero() {
                stop.stop();
            } else {
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(post_roll).await;
                    stop.stop();
                });
            }
        })
    }

    async fn next_event(&mut self) -> Option<TakeEvent> {
        loop {
            let ev = self.rec.next_event().await?;
            if let Some(ev) = self.map(ev) {
                return Some(ev);
            }
        }
    }

    fn try_next_event(&mut self) -> Option<TakeEvent> {
        loop {
            let ev = self.rec.events.try_recv().ok()?;
            if let Some(ev) = self.map(ev) {
                return Some(ev);
            }
        }
    }
}

#[async_trait]
impl Capture for FfmpegCapture {
    async fn record(
        &self,
        take: &str,
        camera: &Camera,
        window: RecordWindow,
    ) -> Result<Box<dyn Take>, RecordError> {
        // Only a warm camera has video from before now.
        let take = if camera.pre_roll.get() == 0 {
            RecordingTake {
                rec: self.recorder.start(take, camera.rtsp_url.clone())?,
                post_roll: window.post_roll,
            }
        } else {
            let ring = self.ring_of(camera).await?;
            RecordingTake {
                rec: ring.record(take, window.reach(SystemTime::now()), window.post_roll)?,
                post_roll: Duration::ZERO,
            }
        };
        if camera.transcode == Transcode::H264 {
            parts::mark_transcoded(take.rec.dir())?;
        }
        Ok(Box::new(take))
    }

    async fn keep_warm(&self, camera: &Camera) -> Result<(), RecordError> {
        if camera.pre_roll.get() == 0 {
            self.cool(camera.id).await;
            return Ok(());
        }
        self.ring_of(camera).await.map(|_| ())
    }

    async fn cool(&self, camera: CameraId) {
        let ring = {
            let mut rings = self.rings.lock().await;
            let ring = rings.remove(&camera);
            self.publish_rings(&rings);
            ring
        };
        if let Some(ring) = ring {
            tracing::info!(camera_id = %camera, "camera no longer kept warm");
            ring.remove().await;
        }
    }

    async fn remove_cold(&self) {
        let ring_root = self.recorder.config().record_dir.join(RING_DIR);
        let known: Vec<String> = self
            .rings
            .lock()
            .await
            .keys()
            .map(|c| c.to_string())
            .collect();
        if let Ok(rd) = std::fs::read_dir(&ring_root) {
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !known.contains(&name) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }

    async fn stop_warm(&self) {
        let rings: Vec<_> = {
            let mut map = self.rings.lock().await;
            let rings = map.drain().map(|(_, r)| r).collect();
            self.publish_rings(&map);
            rings
        };
        for r in &rings {
            r.stop_and_wait().await;
        }
    }

    async fn finalize(&self, dir: &Path) -> Result<PathBuf, RecordError> {
        parts::join(self.recorder.config(), dir).await
    }

    async fn make_faststart(&self, clip: &Path) -> Result<(), RecordError> {
        let clip = clip.to_owned();
        tokio::task::spawn_blocking(move || crate::mp4::make_faststart(&clip))
            .await
            .map_err(|e| RecordError::io(format!("faststart: {e}")))?
    }

    async fn faststart_start(
        &self,
        clip: &Path,
        from: u64,
        len: u64,
        out: &Path,
    ) -> Result<u64, RecordError> {
        let (clip, out) = (clip.to_owned(), out.to_owned());
        tokio::task::spawn_blocking(move || crate::mp4::faststart_start(&clip, from, len, &out))
            .await
            .map_err(|e| RecordError::io(format!("faststart: {e}")))?
    }

    async fn probe(&self, clip: &Path) -> Result<MediaInfo, RecordError> {
        let cfg = self.recorder.config();
        Ok(probe::probe(&cfg.ffprobe, clip, cfg.probe_timeout)
            .await?
            .media)
    }

    async fn thumbnail(&self, clip: &Path, at_sec: f64, out: &Path) -> Result<(), RecordError> {
        let cfg = self.recorder.config();
        process::run(
            &cfg.ffmpeg,
            crate::args::thumbnail(clip, at_sec, out),
            cfg.probe_timeout,
            RecordErrorKind::Finalize,
        )
        .await
        .map(|_| ())
    }

    async fn stop_orphans(&self) -> usize {
        let cfg = self.recorder.config();
        let mut stopped = crate::ring::stop_orphans(&cfg.record_dir, cfg.stop_timeout).await;
        for (_, dir) in self.takes_on_disk() {
            if let Some(m) = Manifest::read(&dir) {
                if m.process_is_ours(&dir) {
                    crate::orphans::stop_orphan(m.pid, &dir, cfg.stop_timeout).await;
                    stopped += 1;
                }
                Manifest::remove(&dir);
            }
        }
        stopped
    }

    fn takes_on_disk(&self) -> Vec<(String, PathBuf)> {
        let Ok(rd) = std::fs::read_dir(&self.recorder.config().record_dir) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.file_name() != RING_DIR && e.path().is_dir())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect()
    }

    fn take_dir(&self, take: &str) -> PathBuf {
        self.recorder.config().record_dir.join(take)
    }

    fn closed_parts(&self, dir: &Path, from: u32, ended: bool) -> Vec<PartFile> {
        parts::closed(dir, from, ended)
    }

    fn free_bytes(&self) -> Option<u64> {
        free_bytes(&self.recorder.config().record_dir)
    }

    fn warm_stats(&self) -> WarmStats {
        let rings = self.ring_list.lock().unwrap_or_else(|p| p.into_inner());
        WarmStats {
            warm: rings.iter().filter(|(_, r)| r.is_warm()).count(),
            total: rings.len(),
            bytes: rings.iter().map(|(_, r)| r.disk_usage().1).sum(),
        }
    }

    fn warm_links(&self) -> Vec<WarmLink> {
        let rings = self.ring_list.lock().unwrap_or_else(|p| p.into_inner());
        rings
            .iter()
            .map(|(camera, r)| {
                let (state, error) = r.link();
                WarmLink {
                    camera: *camera,
                    state,
                    error,
                }
            })
            .collect()
    }

    async fn probe_stream(&self, camera: &Camera) -> Result<StreamFacts, RecordError> {
        let cfg = self.recorder.config();
        crate::stream_probe::probe_live(cfg, &camera.rtsp_url, cfg.stream_probe_window).await
    }
}

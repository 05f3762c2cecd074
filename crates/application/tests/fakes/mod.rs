//! In-memory stand-ins for the ports the recording service reports to. The
//! real repositories and stores have their own tests against real servers.
//! (Each test crate uses part of them.)
#![allow(dead_code)]

use std::{collections::HashMap, path::Path, sync::Mutex, time::Duration};
use vigil_domain::{
    ports::{JobQueue, Listed, ObjectMeta, ObjectStore, PlaybackRepo, Result},
    CameraId, Error, EventId, Job, JobId, MediaInfo, NewJob, Page, Playback, PlaybackFilter,
    PlaybackId, PlaybackUpdate, RecordingStatus,
};

#[derive(Debug, Default)]
pub struct MemPlaybacks(pub Mutex<HashMap<PlaybackId, Playback>>);

impl MemPlaybacks {
    pub fn insert(&self, id: PlaybackId, status: RecordingStatus) {
        let now = time::OffsetDateTime::now_utc();
        self.0.lock().unwrap().insert(
            id,
            Playback {
                id,
                event_id: EventId::new(),
                camera_id: CameraId::new(),
                status,
                video_key: None,
                thumbnail_key: None,
                media: MediaInfo::default(),
                local_path: None,
                error: None,
                started_at: None,
                ended_at: None,
                gaps: Vec::new(),
                retain: false,
                created_at: now,
                updated_at: now,
                event: None,
            },
        );
    }

    pub fn status(&self, id: PlaybackId) -> RecordingStatus {
        self.0.lock().unwrap()[&id].status
    }

    pub fn get_now(&self, id: PlaybackId) -> Playback {
        self.0.lock().unwrap()[&id].clone()
    }
}

#[async_trait::async_trait]
impl PlaybackRepo for MemPlaybacks {
    async fn get(&self, id: PlaybackId) -> Result<Option<Playback>> {
        Ok(self.0.lock().unwrap().get(&id).cloned())
    }
    async fn list(&self, f: PlaybackFilter, _: Page) -> Result<Listed<Playback>> {
        let rows: Vec<_> = self
            .0
            .lock()
            .unwrap()
            .values()
            .filter(|p| f.matches(p))
            .cloned()
            .collect();
        Ok(Listed {
            total: rows.len() as u64,
            rows,
        })
    }
    async fn transition(
        &self,
        id: PlaybackId,
        to: RecordingStatus,
        u: PlaybackUpdate,
    ) -> Result<Playback> {
        let mut map = self.0.lock().unwrap();
        let p = map
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("playback"))?;
        p.status = p
            .status
            .transition(to)
            .map_err(|e| Error::conflict(e.to_string()))?;
        if let Some(k) = u.video_key {
            p.video_key = Some(k);
        }
        if let Some(k) = u.thumbnail_key {
            p.thumbnail_key = Some(k);
        }
        if let Some(m) = u.media {
            p.media = m;
        }
        if let Some(l) = u.local_path {
            p.local_path = l;
        }
        if let Some(e) = u.error {
            p.error = Some(e);
        }
        if let Some(t) = u.started_at {
            p.started_at = Some(t);
        }
        if let Some(g) = u.gaps {
            p.gaps = g;
        }
        if let Some(t) = u.ended_at {
            p.ended_at = Some(t);
        }
        Ok(p.clone())
    }
    async fn in_status(&self, s: RecordingStatus) -> Result<Vec<Playback>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.status == s)
            .cloned()
            .collect())
    }
    async fn finished_before(
        &self,
        camera: CameraId,
        cutoff: time::OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<Playback>> {
        let mut rows: Vec<_> = self
            .0
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.camera_id == camera && p.status.is_final() && p.created_at < cutoff)
            .cloned()
            .collect();
        rows.sort_by_key(|p| p.created_at);
        rows.truncate(limit as usize);
        Ok(rows)
    }
    async fn stored_bytes(&self, camera: Option<CameraId>) -> Result<u64> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.status == RecordingStatus::Completed)
            .filter(|p| camera.is_none_or(|c| p.camera_id == c))
            .filter_map(|p| p.media.file_size_bytes)
            .map(|b| b.max(0) as u64)
            .sum())
    }

    async fn oldest_finished(&self, camera: Option<CameraId>, limit: u64) -> Result<Vec<Playback>> {
        let mut v: Vec<_> = self
            .0
            .lock()
            .unwrap()
            .values()
            .filter(|p| {
                matches!(
                    p.status,
                    RecordingStatus::Completed | RecordingStatus::Failed
                )
            })
            .filter(|p| !p.retain && camera.is_none_or(|c| p.camera_id == c))
            .cloned()
            .collect();
        v.sort_by_key(|p| p.created_at);
        v.truncate(limit as usize);
        Ok(v)
    }

    async fn set_retain(&self, id: PlaybackId, retain: bool) -> Result<Option<Playback>> {
        let mut all = self.0.lock().unwrap();
        Ok(all.get_mut(&id).map(|p| {
            p.retain = retain;
            p.clone()
        }))
    }

    async fn delete(&self, id: PlaybackId) -> Result<bool> {
        Ok(self.0.lock().unwrap().remove(&id).is_some())
    }
}

/// Objects as files in a folder; the next `fail_puts` uploads fail as if
/// the store were down.
#[derive(Debug)]
pub struct DirStore {
    pub root: std::path::PathBuf,
    pub fail_puts: std::sync::atomic::AtomicUsize,
    /// Uploads in parts of this size (0: whole files only).
    pub part_size: std::sync::atomic::AtomicU64,
    /// The part numbers stored, in order.
    pub parts_log: Mutex<Vec<u32>>,
}

impl DirStore {
    pub fn new(root: std::path::PathBuf) -> Self {
        Self {
            root,
            fail_puts: Default::default(),
            part_size: Default::default(),
            parts_log: Default::default(),
        }
    }

    fn upload_dir(&self, upload_id: &str) -> std::path::PathBuf {
        self.root.join(".uploads").join(upload_id)
    }
}

#[async_trait::async_trait]
impl ObjectStore for DirStore {
    async fn put_file(&self, key: &str, path: &Path, _: &str) -> Result<u64> {
        use std::sync::atomic::Ordering;
        // Injected failures are for clips; live segments retry on their own.
        if !key.contains("/live/")
            && self
                .fail_puts
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(Error::unavailable("object store down (injected)"));
        }
        let dest = self.root.join(key);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        Ok(std::fs::copy(path, dest).unwrap())
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        Ok(std::fs::metadata(self.root.join(key))
            .ok()
            .map(|m| ObjectMeta {
                size: m.len(),
                content_type: None,
                etag: None,
            }))
    }
    async fn delete(&self, key: &str) -> Result<()> {
        let _ = std::fs::remove_file(self.root.join(key));
        Ok(())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = std::fs::read_dir(self.root.join(prefix))
            .map(|d| {
                d.filter_map(|e| Some(format!("{prefix}{}", e.ok()?.file_name().to_str()?)))
                    .collect()
            })
            .unwrap_or_default();
        keys.sort();
        Ok(keys)
    }
    async fn get_file(&self, key: &str, path: &Path) -> Result<u64> {
        std::fs::copy(self.root.join(key), path)
            .map_err(|_| Error::not_found(&format!("object {key}")))
    }
    fn part_size(&self) -> Option<u64> {
        match self.part_size.load(std::sync::atomic::Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }
    async fn start_upload(&self, _key: &str, _: &str) -> Result<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        std::fs::create_dir_all(self.upload_dir(&id)).unwrap();
        Ok(id)
    }
    async fn upload_part(
        &self,
        _key: &str,
        upload_id: &str,
        number: u32,
        path: &Path,
        offset: u64,
        len: u64,
    ) -> Result<String> {
        use std::io::{Read, Seek};
        let mut f = std::fs::File::open(path).unwrap();
        f.seek(std::io::SeekFrom::Start(offset)).unwrap();
        let mut chunk = vec![0u8; len as usize];
        f.read_exact(&mut chunk).unwrap();
        std::fs::write(
            self.upload_dir(upload_id).join(format!("{number:05}")),
            &chunk,
        )
        .unwrap();
        self.parts_log.lock().unwrap().push(number);
        Ok(format!("\"{number}-{len}\""))
    }
    async fn complete_upload(&self, key: &str, upload_id: &str, etags: &[String]) -> Result<()> {
        let mut whole = Vec::new();
        for (i, etag) in etags.iter().enumerate() {
            let part =
                std::fs::read(self.upload_dir(upload_id).join(format!("{:05}", i + 1))).unwrap();
            assert_eq!(
                etag,
                &format!("\"{}-{}\"", i + 1, part.len()),
                "parts in order"
            );
            whole.extend(part);
        }
        let dest = self.root.join(key);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, whole).unwrap();
        std::fs::remove_dir_all(self.upload_dir(upload_id)).unwrap();
        Ok(())
    }
    async fn abort_upload(&self, _key: &str, upload_id: &str) -> Result<()> {
        let _ = std::fs::remove_dir_all(self.upload_dir(upload_id));
        Ok(())
    }
    async fn url(&self, key: &str, _: Duration) -> Result<String> {
        Ok(format!("file://{}", self.root.join(key).display()))
    }
    async fn health_check(&self) -> Result<()> {
        Ok(())
    }

    fn on_local_disk(&self) -> bool {
        true
    }
}

/// The real (SQLite) job queue, whose next `fail_enqueues` enqueues fail
/// as if the database were down. Everything else is the real queue's.
#[derive(Debug)]
pub struct FlakyJobs {
    pub inner: std::sync::Arc<dyn JobQueue>,
    pub fail_enqueues: std::sync::atomic::AtomicUsize,
}

impl FlakyJobs {
    pub fn new(inner: std::sync::Arc<dyn JobQueue>) -> Self {
        Self {
            inner,
            fail_enqueues: Default::default(),
        }
    }

    pub async fn len(&self) -> u64 {
        self.inner.depth().await.unwrap()
    }
}

#[async_trait::async_trait]
impl JobQueue for FlakyJobs {
    async fn enqueue(&self, new: NewJob) -> Result<JobId> {
        use std::sync::atomic::Ordering::SeqCst;
        if self
            .fail_enqueues
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::unavailable("database down (injected)"));
        }
        self.inner.enqueue(new).await
    }
    async fn claim(&self, owner: &str, lease: Duration) -> Result<Option<Job>> {
        self.inner.claim(owner, lease).await
    }
    async fn renew(&self, id: JobId, owner: &str, lease: Duration) -> Result<bool> {
        self.inner.renew(id, owner, lease).await
    }
    async fn finish(&self, id: JobId) -> Result<()> {
        self.inner.finish(id).await
    }
    async fn retry_later(
        &self,
        id: JobId,
        owner: &str,
        after: Duration,
        error: &str,
    ) -> Result<()> {
        self.inner.retry_later(id, owner, after, error).await
    }
    async fn release_all(&self, owner: &str) -> Result<u64> {
        self.inner.release_all(owner).await
    }
    async fn has_job(&self, playback: PlaybackId) -> Result<bool> {
        self.inner.has_job(playback).await
    }
    async fn depth(&self) -> Result<u64> {
        self.inner.depth().await
    }
}

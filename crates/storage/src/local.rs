//! Objects as files under a root directory. A put copies to a temporary
//! name in the root, fsyncs it, renames it over the key and fsyncs the
//! directory, so a crash leaves either the old object or the new one, never
//! half of one under the real key. Leftover temporaries (from a crash) are
//! removed when the store opens.

use crate::{content_type_for, validate_key, UrlSigner};
use async_trait::async_trait;
use std::{
    path::{Path, PathBuf},
    time::Duration,
};
use vigil_domain::{
    ports::{ObjectMeta, ObjectStore, Probe, Result},
    Error,
};

const TMP_DIR: &str = ".tmp";

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    signer: UrlSigner,
}

fn io_err(what: &str, e: std::io::Error) -> Error {
    Error::unavailable(format!("local storage: {what}: {e}")).with_source(e)
}

fn key_err(e: crate::KeyError) -> Error {
    Error::invalid(e.to_string())
}

impl LocalStore {
    /// Opens (creating) the store at `root`.
    pub async fn open(root: impl Into<PathBuf>, signer: UrlSigner) -> Result<Self> {
        let root = root.into();
        let tmp = root.join(TMP_DIR);
        if tokio::fs::try_exists(&tmp).await.unwrap_or(false) {
            tokio::fs::remove_dir_all(&tmp)
                .await
                .map_err(|e| io_err("clearing temporaries", e))?;
        }
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(|e| io_err("creating root", e))?;
        Ok(Self { root, signer })
    }

    /// The file holding `key`, if the key is valid. It may not exist.
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        let key = validate_key(key).map_err(key_err)?;
        if key.split('/').next() == Some(TMP_DIR) {
            return Err(Error::invalid("object key names a reserved directory"));
        }
        Ok(self.root.join(key))
    }

    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put_file(&self, key: &str, path: &Path, _content_type: &str) -> Result<u64> {
        let dest = self.path_of(key)?;
        let tmp = self
            .root
            .join(TMP_DIR)
            .join(uuid::Uuid::new_v4().to_string());
        let src = path.to_owned();
        let res = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let parent = dest.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent)?;
            let size = std::fs::copy(&src, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            if let Err(e) = std::fs::rename(&tmp, &dest) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            sync_dir(parent)?;
            Ok(size)
        })
        .await
        .map_err(|e| Error::internal(format!("storage task: {e}")))?;
        res.map_err(|e| io_err("writing object", e))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(ObjectMeta {
                size: m.len(),
                content_type: Some(content_type_for(key).to_owned()),
                etag: None,
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading metadata", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                // Remove now-empty parent directories up to the root, so
                // deleted playbacks leave no empty folders behind.
                let mut dir = path.parent().map(Path::to_path_buf);
                while let Some(d) = dir {
                    if d == self.root || tokio::fs::remove_dir(&d).await.is_err() {
                        break;
                    }
                    dir = d.parent().map(Path::to_path_buf);
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("deleting object", e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = self.path_of(prefix.trim_end_matches('/'))?;
        let mut keys = Vec::new();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
            Err(e) => return Err(io_err("listing objects", e)),
        };
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io_err("listing objects", e))?
        {
            let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
            if let (true, Some(name)) = (is_file, entry.file_name().to_str()) {
                keys.push(format!("{prefix}{name}"));
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn get_file(&self, key: &str, path: &Path) -> Result<u64> {
        let src = self.path_of(key)?;
        match tokio::fs::copy(&src, path).await {
            Ok(size) => Ok(size),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::not_found(&format!("object {key}")))
            }
            Err(e) => Err(io_err("reading object", e)),
        }
    }

    async fn url(&self, key: &str, ttl: Duration) -> Result<String> {
        let key = validate_key(key).map_err(key_err)?;
        Ok(self.signer.sign(key, crate::signer::now_unix(), ttl))
    }

    async fn health_check(&self) -> Result<()> {
        let probe = self
            .root
            .join(TMP_DIR)
            .join(format!("probe-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok")
            .await
            .map_err(|e| io_err("root not writable", e))?;
        let _ = tokio::fs::remove_file(&probe).await;
        Ok(())
    }

    fn on_local_disk(&self) -> bool {
        true
    }
}

#[async_trait]
impl Probe for LocalStore {
    fn name(&self) -> &'static str {
        "storage"
    }

    async fn check(&self) -> Result<()> {
        self.health_check().await
    }
}

impl vigil_domain::ports::LocalMedia for LocalStore {
    fn path_of(&self, key: &str) -> Result<PathBuf> {
        LocalStore::path_of(self, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(
            dir.path().join("objects"),
            UrlSigner::new(&[7; 32], "http://h"),
        )
        .await
        .unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn put_head_url_delete() {
        let (dir, s) = store().await;
        let src = dir.path().join("clip.mp4");
        std::fs::write(&src, vec![1u8; 4096]).unwrap();
        let key = "playbacks/abc/video.mp4";
        assert_eq!(s.put_file(key, &src, "video/mp4").await.unwrap(), 4096);
        assert_eq!(
            std::fs::read(s.path_of(key).unwrap()).unwrap(),
            vec![1u8; 4096]
        );
        let meta = s.head(key).await.unwrap().unwrap();
        assert_eq!(
            (meta.size, meta.content_type.as_deref()),
            (4096, Some("video/mp4"))
        );
        let url = s.url(key, Duration::from_secs(60)).await.unwrap();
        assert!(url.starts_with("http://h/media/playbacks/abc/video.mp4?exp="));
        // Nothing temporary is left beside the object.
        assert_eq!(
            std::fs::read_dir(dir.path().join("objects/.tmp"))
                .unwrap()
                .count(),
            0
        );

        s.delete(key).await.unwrap();
        assert!(s.head(key).await.unwrap().is_none());
        assert!(
            !dir.path().join("objects/playbacks").exists(),
            "empty folders removed"
        );
        s.delete(key).await.unwrap();
        s.health_check().await.unwrap();
    }

    #[tokio::test]
    async fn listing_downloading_and_deleting_a_prefix() {
        let (dir, store) = store().await;
        let src = dir.path().join("seg.ts");
        std::fs::write(&src, b"segment").unwrap();
        for key in [
            "playbacks/p1/live/000001-2000.ts",
            "playbacks/p1/live/000000-2000.ts",
            "playbacks/p1/video.mp4",
        ] {
            store.put_file(key, &src, "video/mp2t").await.unwrap();
        }
        let listed = store.list("playbacks/p1/live/").await.unwrap();
        assert_eq!(
            listed,
            [
                "playbacks/p1/live/000000-2000.ts",
                "playbacks/p1/live/000001-2000.ts"
            ]
        );
        assert!(store.list("playbacks/p2/live/").await.unwrap().is_empty());
        let out = dir.path().join("got.ts");
        assert_eq!(store.get_file(&listed[0], &out).await.unwrap(), 7);
        assert_eq!(std::fs::read(&out).unwrap(), b"segment");
        let missing = store.get_file("playbacks/p1/live/x.ts", &out).await;
        assert_eq!(
            missing.unwrap_err().kind(),
            vigil_domain::ErrorKind::NotFound
        );
        store.delete_prefix("playbacks/p1/live/").await.unwrap();
        assert!(store.list("playbacks/p1/live/").await.unwrap().is_empty());
        assert!(store
            .head("playbacks/p1/video.mp4")
            .await
            .unwrap()
            .is_some());
        assert!(store.list("../").await.is_err(), "no escaping the root");
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let (dir, s) = store().await;
        let src = dir.path().join("x");
        std::fs::write(&src, b"x").unwrap();
        for key in ["../escape", "/abs", "a/../../b", ".tmp/x", "a\0b"] {
            let e = s.put_file(key, &src, "video/mp4").await.unwrap_err();
            assert_eq!(
                e.kind(),
                vigil_domain::ErrorKind::InvalidArgument,
                "{key:?}"
            );
        }
        assert!(!dir.path().join("escape").exists());
    }

    #[tokio::test]
    async fn leftover_temporaries_are_cleared_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("objects");
        std::fs::create_dir_all(root.join(".tmp")).unwrap();
        std::fs::write(root.join(".tmp/half"), b"partial").unwrap();
        LocalStore::open(&root, UrlSigner::new(&[1; 32], "http://h"))
            .await
            .unwrap();
        assert_eq!(std::fs::read_dir(root.join(".tmp")).unwrap().count(), 0);
    }
}

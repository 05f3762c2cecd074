//! S3-compatible object storage (Cloudflare R2 in production) on rust-s3.
//!
//! - Path-style requests, so MinIO, moto and other S3 servers work.
//! - Files stream from disk: one PUT below [`PART_SIZE`], else a multipart
//!   upload of equal parts (R2 refuses uneven non-trailing parts and parts
//!   under 5 MiB), [`PARTS_IN_FLIGHT`] at a time, so memory stays at most
//!   `PART_SIZE × PARTS_IN_FLIGHT` whatever the file size.
//! - Each request is retried on its own (5xx, 429, timeouts, dropped
//!   connections) with exponential backoff and jitter within a total
//!   deadline; other 4xx fail at once with the store's message. A multipart
//!   upload that fails for good is aborted so no orphan parts are billed.
//! - Every body carries Content-MD5, so a corrupted one is refused by the
//!   store; the size is checked with HEAD afterwards. Single PUTs go
//!   through rust-s3; parts through presigned URLs (signed request,
//!   unsigned payload), which saves hashing each part three times.
//! - Parts are 16 MiB, 4 in flight: measured against 8 MiB × 4 and 8 × 8 in
//!   `docs/benchmarks.md`; fewer, larger parts upload faster on loopback and
//!   cost less per request on R2.

use async_trait::async_trait;
use s3::{creds::Credentials, error::S3Error, serde_types::Part, Bucket, Region};
use std::{
    fmt,
    future::Future,
    path::Path,
    time::{Duration, Instant},
};
use vigil_domain::{
    ports::{ObjectMeta, ObjectStore, Probe, Result},
    Error, ErrorKind,
};

/// Default multipart part size: above S3's and R2's 5 MiB minimum.
pub const PART_SIZE: u64 = 16 * 1024 * 1024;
/// Default number of parts uploaded at once per file.
pub const PARTS_IN_FLIGHT: usize = 4;
/// S3's and R2's smallest allowed non-trailing part.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// How files are cut and sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Files of this size or more go as multipart uploads of such parts.
    pub part_size: u64,
    /// Parts sent at once per file; memory is at most this × `part_size`.
    pub parts_in_flight: usize,
}

impl Default for Transfer {
    fn default() -> Self {
        Self {
            part_size: PART_SIZE,
            parts_in_flight: PARTS_IN_FLIGHT,
        }
    }
}

/// How to reach the bucket.
#[derive(Clone)]
pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// If set, URLs are `public_url/key`; else presigned GETs.
    pub public_url: Option<String>,
    /// Total time a request may take with its retries.
    pub retry_deadline: Duration,
    /// Timeout of one request (a whole part).
    pub request_timeout: Duration,
    pub transfer: Transfer,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("public_url", &self.public_url)
            .field("transfer", &self.transfer)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct S3Store {
    bucket: Box<Bucket>,
    /// Sends the part uploads (see [`S3Store::put_part`]).
    http: reqwest::Client,
    /// The same bucket, sending [`CACHE_CONTROL`] with writes.
    upload: Box<Bucket>,
    settings: S3Settings,
}

/// Objects never change under a key (each playback has its own), so a CDN
/// may keep them as long as it likes.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("settings", &self.settings)
            .finish()
    }
}

/// Whether a failed request may succeed if repeated.
fn transient(e: &S3Error) -> bool {
    match e {
        S3Error::HttpFailWithBody(code, _) => *code == 429 || *code == 408 || *code >= 500,
        S3Error::Reqwest(_) | S3Error::Io(_) | S3Error::HttpFail => true,
        _ => false,
    }
}

fn is_not_found(e: &S3Error) -> bool {
    matches!(e, S3Error::HttpFailWithBody(404, _))
}

/// The store's own words, without the XML around them.
fn describe(e: &S3Error) -> String {
    match e {
        S3Error::HttpFailWithBody(code, body) => {
            let msg = body
                .split("<Message>")
                .nth(1)
                .and_then(|m| m.split("</Message>").next())
                .or_else(|| {
                    body.split("<Code>")
                        .nth(1)
                        .and_then(|c| c.split("</Code>").next())
                })
                .unwrap_or("");
            format!("HTTP {code} {msg}").trim().to_owned()
        }
        other => other.to_string(),
    }
}

fn to_error(what: &str, e: S3Error) -> Error {
    let kind = match &e {
        S3Error::HttpFailWithBody(401 | 403, _) => ErrorKind::Unavailable,
        S3Error::HttpFailWithBody(404, _) => ErrorKind::NotFound,
        e if transient(e) => ErrorKind::Unavailable,
        S3Error::HttpFailWithBody(_, _) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("object store: {what}: {}", describe(&e))).with_source(e)
}

impl S3Store {
    pub fn new(settings: S3Settings) -> Result<Self> {
        if settings.transfer.part_size < MIN_PART_SIZE || settings.transfer.parts_in_flight == 0 {
            return Err(Error::invalid(format!(
                "object store: parts must be at least {MIN_PART_SIZE} bytes, and at least one in flight"
            )));
        }
        let region = Region::Custom {
            region: settings.region.clone(),
            endpoint: settings.endpoint.clone(),
        };
        let creds = Credentials::new(
            Some(&settings.access_key_id),
            Some(&settings.secret_access_key),
            None,
            None,
            None,
        )
        .map_err(|e| Error::invalid(format!("object store credentials: {e}")))?;
        let bucket = Bucket::new(&settings.bucket, region, creds)
            .map_err(|e| Error::invalid(format!("object store: {e}")))?
            .with_path_style()
            .with_request_timeout(settings.request_timeout)
            .map_err(|e| Error::invalid(format!("object store: {e}")))?;
        // Retries are ours (per request, with jitter and a deadline); rust-s3's
        // own are global, jitter-free and skip PUT.
        s3::set_retries(0);
        let mut upload = bucket.clone();
        upload.add_header("Cache-Control", CACHE_CONTROL);
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::internal(format!("object store http client: {e}")))?;
        Ok(Self {
            bucket,
            http,
            upload,
            settings,
        })
    }

    /// Runs `op` until it succeeds, fails for good, or the deadline passes.
    async fn retry<T, F, Fut>(&self, what: &str, mut op: F) -> std::result::Result<T, S3Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, S3Error>>,
    {
        let started = Instant::now();
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1u32;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e)
                    if transient(&e)
                        && started.elapsed() + delay < self.settings.retry_deadline =>
                {
                    let jitter = Duration::from_millis(
                        rand::random::<u64>() % (delay.as_millis() as u64 + 1),
                    );
                    tracing::warn!(what, attempt, error = %describe(&e), "object store request failed; retrying");
                    tokio::time::sleep(delay + jitter).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn put_single(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> std::result::Result<(), S3Error> {
        let body = tokio::fs::read(path).await?;
        self.retry("put", || {
            self.upload
                .put_object_with_content_type(key, &body, content_type)
        })
        .await
        .map(|_| ())
    }

    async fn put_multipart(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> std::result::Result<(), S3Error> {
        let init = self
            .retry("initiate multipart", || {
                self.upload.initiate_multipart_upload(key, content_type)
            })
            .await?;
        let upload_id = init.upload_id;
        let result = self
            .upload_parts(key, path, size, content_type, &upload_id)
            .await;
        match result {
            Ok(parts) => {
                let done = self
                    .retry("complete multipart", || {
                        self.bucket
                            .complete_multipart_upload(key, &upload_id, parts.clone())
                    })
                    .await;
                if let Err(e) = done {
                    self.abort(key, &upload_id).await;
                    return Err(e);
                }
                Ok(())
            }
            Err(e) => {
                self.abort(key, &upload_id).await;
                Err(e)
            }
        }
    }

    async fn abort(&self, key: &str, upload_id: &str) {
        if let Err(e) = self
            .retry("abort multipart", || {
                self.bucket.abort_upload(key, upload_id)
            })
            .await
        {
            tracing::error!(key, error = %describe(&e), "could not abort a failed multipart upload");
        }
    }

    async fn upload_parts(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        content_type: &str,
        upload_id: &str,
    ) -> std::result::Result<Vec<Part>, S3Error> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let Transfer {
            part_size,
            parts_in_flight,
        } = self.settings.transfer;
        let count = size.div_ceil(part_size);
        // Each part is its own task: rust-s3 hashes the body (SHA-256 for
        // the signature, MD5 for Content-MD5) inside the request future, so
        // parts polled in one task would hash one after another on one core.
        let mut parts: Vec<Part> = stream::iter(0..count)
            .map(|i| {
                let (store, path, key, upload_id, content_type) = (
                    self.clone(),
                    path.to_path_buf(),
                    key.to_owned(),
                    upload_id.to_owned(),
                    content_type.to_owned(),
                );
                let task = tokio::spawn(async move {
                    let offset = i * part_size;
                    let len = part_size.min(size - offset) as usize;
                    let number = (i + 1) as u32;
                    // Each attempt reads its part from disk again, so no
                    // second copy of the part is held for retries.
                    store
                        .retry("upload part", || {
                            let (store, path, key, upload_id, content_type) =
                                (&store, &path, &key, &upload_id, &content_type);
                            async move {
                                let (chunk, md5) = read_part(path, offset, len).await?;
                                store
                                    .put_part(key, upload_id, number, chunk, md5, content_type)
                                    .await
                            }
                        })
                        .await
                });
                // Dropping the stream (another part failed) must not leave
                // this part uploading behind the abort.
                let task = tokio_util::task::AbortOnDropHandle::new(task);
                async move {
                    match task.await {
                        Ok(r) => r,
                        Err(e) => Err(S3Error::Io(std::io::Error::other(e))),
                    }
                }
            })
            .buffer_unordered(parts_in_flight)
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }
}

/// Reads a part and its Content-MD5 on the blocking pool, in one go
/// (tokio's own file reads go 2 MiB at a time).
impl S3Store {
    /// Uploads one part through a presigned URL: the signature covers the
    /// request but not the body (`UNSIGNED-PAYLOAD`), so the body is hashed
    /// once, for Content-MD5 (the store refuses a part that does not match
    /// it), instead of three times as rust-s3's signed requests do — on a
    /// 2-core server that CPU is what limits throughput.
    async fn put_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Vec<u8>,
        md5: String,
        content_type: &str,
    ) -> std::result::Result<Part, S3Error> {
        let query = std::collections::HashMap::from([
            ("partNumber".to_owned(), number.to_string()),
            ("uploadId".to_owned(), upload_id.to_owned()),
        ]);
        let url = self
            .bucket
            .presign_put(key, PART_URL_SECS, None, Some(query))
            .await?;
        let resp = self
            .http
            .put(url)
            .header("Content-MD5", md5)
            .header("Content-Type", content_type)
            .timeout(self.settings.request_timeout)
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(S3Error::HttpFailWithBody(
                status,
                resp.text().await.unwrap_or_default(),
            ));
        }
        let etag = resp
            .headers()
            .get("ETag")
            .and_then(|v| v.to_str().ok())
            .ok_or(S3Error::HttpFailWithBody(
                status,
                "the store answered a part upload without an ETag".into(),
            ))?
            .to_owned();
        Ok(Part {
            part_number: number,
            etag,
        })
    }
}

/// Lifetime of a part's presigned URL: longer than any one attempt.
const PART_URL_SECS: u32 = 3600;

async fn read_part(path: &Path, offset: u64, len: usize) -> std::io::Result<(Vec<u8>, String)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use base64::Engine;
        use std::{io::Read, io::Seek};
        let mut chunk = vec![0u8; len];
        let mut f = std::fs::File::open(path)?;
        f.seek(std::io::SeekFrom::Start(offset))?;
        f.read_exact(&mut chunk)?;
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::compute(&chunk).0);
        Ok((chunk, md5))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<u64> {
        crate::validate_key(key).map_err(|e| Error::invalid(e.to_string()))?;
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?
            .len();
        let res = if size < self.settings.transfer.part_size {
            self.put_single(key, path, content_type).await
        } else {
            self.put_multipart(key, path, size, content_type).await
        };
        res.map_err(|e| to_error("upload", e))?;
        match self.head(key).await? {
            Some(meta) if meta.size == size => Ok(size),
            Some(meta) => Err(Error::unavailable(format!(
                "object store: {key} holds {} bytes after uploading {size}",
                meta.size
            ))),
            None => Err(Error::unavailable(format!(
                "object store: {key} missing after upload"
            ))),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        match self.retry("head", || self.bucket.head_object(key)).await {
            Ok((h, _)) => Ok(Some(ObjectMeta {
                size: h.content_length.unwrap_or(0).max(0) as u64,
                content_type: h.content_type,
                etag: h.e_tag,
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(to_error("head", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self
            .retry("delete", || self.bucket.delete_object(key))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(to_error("delete", e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let pages = self
            .retry("list", || self.bucket.list(prefix.to_owned(), None))
            .await
            .map_err(|e| to_error("list", e))?;
        let mut keys: Vec<String> = pages
            .into_iter()
            .flat_map(|page| page.contents.into_iter().map(|o| o.key))
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn get_file(&self, key: &str, path: &Path) -> Result<u64> {
        let res = self
            .retry("get", || async {
                let mut file = tokio::fs::File::create(path).await?;
                self.bucket.get_object_to_writer(key, &mut file).await?;
                tokio::io::AsyncWriteExt::flush(&mut file).await?;
                Ok(())
            })
            .await;
        match res {
            Ok(()) => tokio::fs::metadata(path)
                .await
                .map(|m| m.len())
                .map_err(|e| Error::internal(format!("reading {}: {e}", path.display()))),
            Err(e) => {
                let _ = tokio::fs::remove_file(path).await;
                if is_not_found(&e) {
                    Err(Error::not_found(&format!("object {key}")))
                } else {
                    Err(to_error("download", e))
                }
            }
        }
    }

    fn part_size(&self) -> Option<u64> {
        Some(self.settings.transfer.part_size)
    }

    async fn start_upload(&self, key: &str, content_type: &str) -> Result<String> {
        crate::validate_key(key).map_err(|e| Error::invalid(e.to_string()))?;
        self.retry("initiate multipart", || {
            self.upload.initiate_multipart_upload(key, content_type)
        })
        .await
        .map(|init| init.upload_id)
        .map_err(|e| to_error("initiate multipart", e))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        path: &Path,
        offset: u64,
        len: u64,
    ) -> Result<String> {
        let len = usize::try_from(len).map_err(|_| Error::invalid("part too large"))?;
        // Read again on each attempt, as the parts of `put_file` are.
        self.retry("upload part", || async move {
            let (chunk, md5) = read_part(path, offset, len).await?;
            self.put_part(key, upload_id, number, chunk, md5, "video/mp4")
                .await
        })
        .await
        .map(|part| part.etag)
        .map_err(|e| to_error("upload part", e))
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, etags: &[String]) -> Result<()> {
        let parts: Vec<Part> = etags
            .iter()
            .enumerate()
            .map(|(i, etag)| Part {
                part_number: i as u32 + 1,
                etag: etag.clone(),
            })
            .collect();
        self.retry("complete multipart", || {
            self.bucket
                .complete_multipart_upload(key, upload_id, parts.clone())
        })
        .await
        .map(|_| ())
        .map_err(|e| to_error("complete multipart", e))
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        self.retry("abort multipart", || {
            self.bucket.abort_upload(key, upload_id)
        })
        .await
        .map_err(|e| to_error("abort multipart", e))
    }

    async fn url(&self, key: &str, ttl: Duration) -> Result<String> {
        if let Some(base) = &self.settings.public_url {
            return Ok(format!("{}/{key}", base.trim_end_matches('/')));
        }
        // S3 caps presigned URLs at one week.
        let secs = ttl.as_secs().clamp(1, 604_800) as u32;
        self.bucket
            .presign_get(key, secs, None)
            .await
            .map_err(|e| to_error("presign", e))
    }

    async fn health_check(&self) -> Result<()> {
        // HEAD of a key that needn't exist: any answer but an error status
        // other than 404 proves the bucket and credentials work.
        self.head(".vigil-health-check").await.map(|_| ())
    }

    fn on_local_disk(&self) -> bool {
        false
    }
}

#[async_trait]
impl Probe for S3Store {
    fn name(&self) -> &'static str {
        "storage"
    }

    async fn check(&self) -> Result<()> {
        self.health_check().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retryable_failures_are_retried() {
        assert!(transient(&S3Error::HttpFailWithBody(503, String::new())));
        assert!(transient(&S3Error::HttpFailWithBody(429, String::new())));
        assert!(!transient(&S3Error::HttpFailWithBody(403, String::new())));
        assert!(!transient(&S3Error::HttpFailWithBody(404, String::new())));
    }

    #[test]
    fn store_messages_are_extracted() {
        let e = S3Error::HttpFailWithBody(
            403,
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>".into(),
        );
        assert_eq!(describe(&e), "HTTP 403 Access Denied");
    }
}

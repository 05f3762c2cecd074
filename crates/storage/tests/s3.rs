//! The S3 store against a real S3 server (moto, started by `tools/test`
//! through `VIGIL_TEST_S3_ENDPOINT`), directly and through a proxy that
//! injects failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use s3::{creds::Credentials, Bucket, Region};
use std::{
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use vigil_domain::{ports::ObjectStore, ErrorKind};
use vigil_storage::{S3Settings, S3Store, PART_SIZE};

fn endpoint() -> String {
    std::env::var("VIGIL_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!("VIGIL_TEST_S3_ENDPOINT is not set: run the tests with tools/test (it starts an S3 server)")
    })
}

fn settings(endpoint: &str, bucket: &str) -> S3Settings {
    S3Settings {
        endpoint: endpoint.to_owned(),
        region: "auto".into(),
        bucket: bucket.to_owned(),
        access_key_id: "test".into(),
        secret_access_key: "test-secret".into(),
        public_url: None,
        retry_deadline: Duration::from_secs(20),
        request_timeout: Duration::from_secs(10),
        transfer: Default::default(),
    }
}

async fn new_bucket() -> String {
    let name = format!("vigil-{}", uuid::Uuid::new_v4().simple());
    // moto takes an unsigned CreateBucket; rust-s3's sends a location
    // constraint moto refuses for us-east-1.
    let r = reqwest::Client::new()
        .put(format!("{}/{name}", endpoint()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    name
}

fn raw_bucket(name: &str) -> Box<Bucket> {
    let creds = Credentials::new(Some("test"), Some("test-secret"), None, None, None).unwrap();
    Bucket::new(
        name,
        Region::Custom {
            region: "auto".into(),
            endpoint: endpoint(),
        },
        creds,
    )
    .unwrap()
    .with_path_style()
}

fn file_of(dir: &Path, name: &str, len: usize) -> (std::path::PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let p = dir.join(name);
    std::fs::write(&p, &data).unwrap();
    (p, data)
}

async fn fetch(url: &str) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn put_head_url_delete_small_object() {
    let bucket = new_bucket().await;
    let store = S3Store::new(settings(&endpoint(), &bucket)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = file_of(dir.path(), "clip.mp4", 300_000);
    let key = "playbacks/p1/video.mp4";
    assert_eq!(
        store.put_file(key, &path, "video/mp4").await.unwrap(),
        300_000
    );
    let meta = store.head(key).await.unwrap().unwrap();
    assert_eq!(meta.size, 300_000);
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    let r = reqwest::get(store.url(key, Duration::from_secs(60)).await.unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert!(r.bytes().await.unwrap() == data);
    store.delete(key).await.unwrap();
    assert!(store.head(key).await.unwrap().is_none());
    store.delete(key).await.unwrap();
    store.health_check().await.unwrap();
}

#[tokio::test]
async fn listing_downloading_and_deleting_a_prefix() {
    let bucket = new_bucket().await;
    let store = S3Store::new(settings(&endpoint(), &bucket)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = file_of(dir.path(), "seg.ts", 70_000);
    // More keys than one listing page of moto's would hold is not needed:
    // rust-s3 follows continuation tokens; order and prefix are ours.
    for key in [
        "playbacks/p1/live/000001-2000.ts",
        "playbacks/p1/live/000000-2000.ts",
        "playbacks/p1/video.mp4",
        "playbacks/p10/live/000000-2000.ts",
    ] {
        store.put_file(key, &path, "video/mp2t").await.unwrap();
    }
    let listed = store.list("playbacks/p1/live/").await.unwrap();
    assert_eq!(
        listed,
        [
            "playbacks/p1/live/000000-2000.ts",
            "playbacks/p1/live/000001-2000.ts"
        ]
    );
    let out = dir.path().join("got.ts");
    assert_eq!(store.get_file(&listed[1], &out).await.unwrap(), 70_000);
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let missing = store.get_file("playbacks/p1/live/none.ts", &out).await;
    assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);
    store.delete_prefix("playbacks/p1/live/").await.unwrap();
    assert!(store.list("playbacks/p1/live/").await.unwrap().is_empty());
    assert!(store
        .head("playbacks/p1/video.mp4")
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.list("playbacks/p10/live/").await.unwrap().len(), 1);
}

#[tokio::test]
async fn large_files_go_multipart_and_arrive_byte_identical() {
    let bucket = new_bucket().await;
    let store = S3Store::new(settings(&endpoint(), &bucket)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let len = (PART_SIZE * 2 + 1_234_567) as usize;
    let (path, data) = file_of(dir.path(), "big.mp4", len);
    assert_eq!(
        store.put_file("big.mp4", &path, "video/mp4").await.unwrap(),
        len as u64
    );
    let (status, body) = fetch(&store.url("big.mp4", Duration::from_secs(60)).await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(body == data, "object differs from the file");
    let open = raw_bucket(&bucket)
        .list_multiparts_uploads(None, None)
        .await
        .unwrap();
    assert!(
        open.iter().all(|r| r.uploads.is_empty()),
        "no multipart upload left open"
    );
}

#[tokio::test]
async fn an_upload_in_parts_takes_its_parts_in_any_order_and_aborts_cleanly() {
    let bucket = new_bucket().await;
    let mut s = settings(&endpoint(), &bucket);
    s.transfer.part_size = vigil_storage::MIN_PART_SIZE;
    let store = S3Store::new(s).unwrap();
    let ps = store.part_size().unwrap();
    assert_eq!(ps, vigil_storage::MIN_PART_SIZE);
    let dir = tempfile::tempdir().unwrap();
    let len = ps * 2 + 777;
    let (path, data) = file_of(dir.path(), "clip.mp4", len as usize);

    // Parts 2 and 3 first (stored while the clip records), part 1 last
    // (its header is patched at the end); part 2 twice (a retry).
    let id = store.start_upload("p/clip.mp4", "video/mp4").await.unwrap();
    let two = store
        .upload_part("p/clip.mp4", &id, 2, &path, ps, ps)
        .await
        .unwrap();
    let again = store
        .upload_part("p/clip.mp4", &id, 2, &path, ps, ps)
        .await
        .unwrap();
    assert_eq!(two, again, "the same bytes give the same part");
    let three = store
        .upload_part("p/clip.mp4", &id, 3, &path, 2 * ps, 777)
        .await
        .unwrap();
    assert_eq!(
        store.head("p/clip.mp4").await.unwrap(),
        None,
        "not before complete"
    );
    let one = store
        .upload_part("p/clip.mp4", &id, 1, &path, 0, ps)
        .await
        .unwrap();
    store
        .complete_upload("p/clip.mp4", &id, &[one, two, three])
        .await
        .unwrap();
    let (status, body) = fetch(
        &store
            .url("p/clip.mp4", Duration::from_secs(60))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body == data, "object differs from the file");
    let meta = store.head("p/clip.mp4").await.unwrap().unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));

    // An abandoned one leaves no object and no open upload.
    let id = store
        .start_upload("p/other.mp4", "video/mp4")
        .await
        .unwrap();
    store
        .upload_part("p/other.mp4", &id, 2, &path, ps, ps)
        .await
        .unwrap();
    store.abort_upload("p/other.mp4", &id).await.unwrap();
    assert_eq!(store.head("p/other.mp4").await.unwrap(), None);
    let open = raw_bucket(&bucket)
        .list_multiparts_uploads(None, None)
        .await
        .unwrap();
    assert!(
        open.iter().all(|r| r.uploads.is_empty()),
        "no upload left open"
    );
}

#[tokio::test]
async fn public_url_is_used_when_set() {
    let mut s = settings(&endpoint(), "any");
    s.public_url = Some("https://cdn.example/".into());
    let store = S3Store::new(s).unwrap();
    assert_eq!(
        store
            .url("playbacks/p/video.mp4", Duration::from_secs(5))
            .await
            .unwrap(),
        "https://cdn.example/playbacks/p/video.mp4"
    );
}

#[tokio::test]
async fn a_permanent_error_fails_fast_with_the_store_message() {
    let store = S3Store::new(settings(&endpoint(), "no-such-bucket-vigil")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = file_of(dir.path(), "x", 10);
    let started = std::time::Instant::now();
    let e = store.put_file("x", &path, "video/mp4").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "not retried: {:?}",
        started.elapsed()
    );
    assert!(
        e.message().contains("404") || e.message().contains("NoSuchBucket"),
        "{}",
        e.message()
    );
    assert!(
        store
            .put_file("../x", &path, "video/mp4")
            .await
            .unwrap_err()
            .kind()
            == ErrorKind::InvalidArgument
    );
}

/// What the proxy does to the next requests, in order; then it forwards.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Status(u16),
    Drop,
    Slow(Duration),
}

async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            return Some(buf);
        }
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

type Rule = Arc<dyn Fn(&str) -> Option<Fault> + Send + Sync>;

/// Faults for the first requests, in order, whatever they are.
fn in_order(faults: Vec<Fault>) -> Rule {
    let it = Mutex::new(faults.into_iter());
    Arc::new(move |_| it.lock().unwrap().next())
}

/// A proxy in front of the S3 server: asks `rule` about each request (by
/// its head; one request per connection, faulty answers close it),
/// and forwards those it lets through.
async fn fault_proxy(upstream: String, rule: Rule) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let faults = rule;
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    let up = upstream.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let faults = faults.clone();
            let up = up.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let Some(req) = read_request(&mut client).await else {
                    return;
                };
                seen.fetch_add(1, Ordering::SeqCst);
                let head_end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
                let head = String::from_utf8_lossy(&req[..head_end]).into_owned();
                let fault = faults(&head);
                match fault {
                    Some(Fault::Status(code)) => {
                        let body = format!("<Error><Code>Injected</Code><Message>injected {code}</Message></Error>");
                        let resp = format!(
                            "HTTP/1.1 {code} Injected\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = client.write_all(resp.as_bytes()).await;
                        return;
                    }
                    Some(Fault::Drop) => return,
                    Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
                    None => {}
                }
                let Ok(mut server) = TcpStream::connect(&up).await else {
                    return;
                };
                if server.write_all(&req).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn uploads_survive_5xx_dropped_connections_and_slowness() {
    let bucket = new_bucket().await;
    let faults = vec![
        Fault::Status(503),
        Fault::Status(500),
        Fault::Drop,
        Fault::Slow(Duration::from_millis(500)),
        Fault::Status(503),
        Fault::Drop,
    ];
    let (proxy, seen) = fault_proxy(endpoint(), in_order(faults)).await;
    let store = S3Store::new(settings(&proxy, &bucket)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let len = (PART_SIZE + 3_000_000) as usize;
    let (path, data) = file_of(dir.path(), "clip.mp4", len);
    assert_eq!(
        store
            .put_file("faulty.mp4", &path, "video/mp4")
            .await
            .unwrap(),
        len as u64
    );
    assert!(seen.load(Ordering::SeqCst) > 6, "every fault was met");
    let direct = S3Store::new(settings(&endpoint(), &bucket)).unwrap();
    let (status, body) = fetch(
        &direct
            .url("faulty.mp4", Duration::from_secs(60))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body == data, "object differs from the file");
    let open = raw_bucket(&bucket)
        .list_multiparts_uploads(None, None)
        .await
        .unwrap();
    assert!(
        open.iter().all(|r| r.uploads.is_empty()),
        "no multipart upload left open"
    );
}

#[tokio::test]
async fn a_failing_multipart_upload_is_aborted() {
    let bucket = new_bucket().await;
    // Parts are refused for good; initiate and abort go through.
    let rule: Rule = Arc::new(|head| {
        head.lines()
            .next()
            .unwrap_or("")
            .contains("partNumber=")
            .then_some(Fault::Status(403))
    });
    let (proxy, _) = fault_proxy(endpoint(), rule).await;
    let store = S3Store::new(settings(&proxy, &bucket)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = file_of(dir.path(), "clip.mp4", (PART_SIZE + 10) as usize);
    let started = std::time::Instant::now();
    let e = store
        .put_file("aborted.mp4", &path, "video/mp4")
        .await
        .unwrap_err();
    assert!(e.message().contains("403"), "{}", e.message());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a 403 is not retried"
    );
    let open = raw_bucket(&bucket)
        .list_multiparts_uploads(None, None)
        .await
        .unwrap();
    assert!(
        open.iter().all(|r| r.uploads.is_empty()),
        "the failed upload was aborted"
    );
    let direct = S3Store::new(settings(&endpoint(), &bucket)).unwrap();
    assert!(direct.head("aborted.mp4").await.unwrap().is_none());
}

#[tokio::test]
async fn uploads_carry_content_type_and_cdn_cache_headers() {
    let bucket = new_bucket().await;
    let heads = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = heads.clone();
    let rule: Rule = Arc::new(move |head| {
        seen.lock().unwrap().push(head.to_ascii_lowercase());
        None
    });
    let (proxy, _) = fault_proxy(endpoint(), rule).await;
    let store = S3Store::new(settings(&proxy, &bucket)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (small, _) = file_of(dir.path(), "t.jpg", 1000);
    let (big, _) = file_of(dir.path(), "v.mp4", (PART_SIZE + 10) as usize);
    store.put_file("t.jpg", &small, "image/jpeg").await.unwrap();
    store.put_file("v.mp4", &big, "video/mp4").await.unwrap();
    let heads = heads.lock().unwrap();
    let put = heads
        .iter()
        .find(|h| h.starts_with("put /") && h.contains("t.jpg"))
        .unwrap();
    assert!(put.contains("content-type: image/jpeg"), "{put}");
    assert!(
        put.contains(&format!("cache-control: {}", vigil_storage::CACHE_CONTROL)),
        "{put}"
    );
    assert!(
        put.contains("content-md5:"),
        "integrity checked by the store: {put}"
    );
    let init = heads
        .iter()
        .find(|h| h.starts_with("post /") && h.contains("uploads"))
        .unwrap();
    assert!(
        init.contains("content-type: video/mp4") && init.contains("cache-control:"),
        "{init}"
    );
    let parts: Vec<_> = heads
        .iter()
        .filter(|h| h.starts_with("put /") && h.contains("partnumber="))
        .collect();
    assert_eq!(parts.len(), 2, "{heads:?}");
    for part in parts {
        assert!(part.contains("content-md5:"), "{part}");
    }
}

//! Several `vigil` nodes on one PostgreSQL and one S3 server, with real
//! ffmpeg and the GStreamer camera (docs/design/cluster.md): cameras are
//! spread over the nodes and an event posted to any node records on the
//! camera's owner, every node's stream carries every node's changes, a
//! node stopped with SIGTERM hands its cameras over at once, a node cut
//! off from the database (in a network namespace) stops owning and
//! rejoins without duplicates, a node started beside a recording one
//! leaves its work alone, and a node killed mid-recording has its
//! recording resumed by another into the same playback (or, its camera
//! gone, finished from the store).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../recorder/tests/support/camera.rs"]
mod camera;
mod client;
mod netns;
mod server;

use camera::TestCamera;
use client::Api;
use serde_json::Value;
use server::{r2_env, s3_endpoint, Server};
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};
use vigil_persistence::testing::{Backend, TestDatabase};

/// A node of the cluster: its own id and DATA_DIR (recordings under it),
/// the shared database and bucket, a 3 s lease.
fn node(id: &str, data: &Path, db_url: &str, s3: &str) -> Server {
    node_leased(id, data, db_url, s3, "3")
}

fn node_leased(id: &str, data: &Path, db_url: &str, s3: &str, lease: &str) -> Server {
    Server::start(r2_env(
        data,
        db_url.to_owned(),
        s3,
        &[("NODE_ID", id), ("NODE_LEASE_SECONDS", lease)],
    ))
}

/// Waits (up to `secs`) until `check` gives Some.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each camera's `ownerNode` (name → owner), once every camera has one.
async fn owners(api: &Api) -> Option<Vec<(String, String)>> {
    let cams = api.get("/cameras?limit=100").await;
    cams["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            Some((
                c["name"].as_str()?.to_owned(),
                c["ownerNode"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Collects the `data:` lines of `GET /playbacks/stream` on `api`'s node.
async fn watch_stream(api: &Api) -> std::sync::Arc<std::sync::Mutex<String>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut r = api
        .http
        .get(format!("{}/playbacks/stream", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let into = seen.clone();
    tokio::spawn(async move {
        while let Ok(Some(chunk)) = r.chunk().await {
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    seen
}

/// The statuses `stream` carried for playback `pb`, in order.
fn statuses_of(stream: &std::sync::Mutex<String>, pb: &str) -> Vec<String> {
    stream
        .lock()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["id"] == pb)
        .map(|v| v["recordingStatus"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Two nodes on a fresh database and S3, both alive, with `lease`
/// seconds, and the test camera; each field is dropped with the test.
struct Pair {
    _db: vigil_persistence::testing::TestDatabaseGuard,
    cam: TestCamera,
    _data: (tempfile::TempDir, tempfile::TempDir),
    a: Option<Server>,
    b: Server,
    api_a: Api,
    api_b: Api,
}

async fn two_nodes(lease: &str) -> Pair {
    let (db_url, db) = TestDatabase::empty(Backend::Postgres).await;
    let s3 = s3_endpoint().await;
    let cam = TestCamera::start();
    let data = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node_leased("node-a", data.0.path(), &db_url, &s3, lease);
    let b = node_leased("node-b", data.1.path(), &db_url, &s3, lease);
    let (api_a, api_b) = (Api::login(&a.base).await, Api::login(&b.base).await);
    eventually(10, "both nodes alive", || async {
        (alive(&api_a).await == ["node-a", "node-b"]).then_some(())
    })
    .await;
    Pair {
        _db: db,
        cam,
        _data: data,
        a: Some(a),
        b,
        api_a,
        api_b,
    }
}

/// Cameras `names` on `url`, through `api`.
async fn add_cameras(api: &Api, names: &[&str], url: &str) {
    for name in names {
        api.post(
            "/cameras",
            serde_json::json!({"name": name, "rtspUrl": url}),
        )
        .await;
    }
}

/// The camera named `name`, as `api` lists it.
async fn camera_named(api: &Api, name: &str) -> Value {
    let cams = api.get("/cameras?limit=100").await;
    cams["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn cameras_are_spread_and_an_event_on_any_node_records_on_the_cameras_owner() {
    let Pair {
        cam, api_a, api_b, ..
    } = &two_nodes("3").await;
    add_cameras(api_a, &["North", "South", "East", "West"], &cam.url()).await;
    // Two each, as both nodes see it; GET /nodes counts them too.
    let owned = eventually(10, "cameras spread two and two", || async {
        let o = owners(api_b).await?;
        let on_a = o.iter().filter(|(_, n)| n == "node-a").count();
        (on_a == 2 && o.len() == 4 && o.iter().all(|(_, n)| n.starts_with("node-"))).then_some(o)
    })
    .await;
    assert_eq!(owners(api_a).await.unwrap().len(), 4);
    eventually(5, "GET /nodes counts two cameras each", || async {
        let nodes = api_a.get("/nodes").await;
        nodes["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["cameras"] == 2)
            .then_some(())
    })
    .await;

    // An event posted to A for a camera of B's: created before A answers,
    // recorded by B, seen on A's stream, ended through A.
    let stream_a = watch_stream(api_a).await;
    let (name, _) = owned.iter().find(|(_, n)| n == "node-b").unwrap();
    let camera = camera_named(api_a, name).await;
    let asked = Instant::now();
    let ev = api_a
        .post(
            "/events",
            serde_json::json!({"cameraId": camera["id"], "type": "MOTION"}),
        )
        .await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    assert_eq!(
        api_b
            .get(&format!("/events/{}", ev["id"].as_str().unwrap()))
            .await["id"],
        ev["id"]
    );
    api_a.wait_status(&pb, "RECORDING").await;
    println!("event on A → RECORDING on B: {:?}", asked.elapsed());
    eventually(5, "B counts the recording", || async {
        let nodes = api_a.get("/nodes").await;
        let b = nodes["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == "node-b")?
            .clone();
        (b["recordings"] == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answer = api_a.end(&ev).await;
    assert!(
        ["PROCESSING", "COMPLETED"].contains(&answer["recordingStatus"].as_str().unwrap()),
        "{answer}"
    );
    let done = api_a.wait_status(&pb, "COMPLETED").await;
    assert_eq!(done["error"], Value::Null, "{done}");
    assert!(done["durationSec"].as_f64().unwrap() >= 1.5, "{done}");
    // B's changes reached A's stream, in order, and A's counts.
    let seen = eventually(5, "A's stream carries B's COMPLETED", || async {
        let s = statuses_of(&stream_a, &pb);
        s.contains(&"COMPLETED".to_owned()).then_some(s)
    })
    .await;
    let order: Vec<_> = ["RECORDING", "PROCESSING", "COMPLETED"]
        .iter()
        .map(|st| seen.iter().position(|x| x == st))
        .collect();
    assert!(
        order.iter().all(Option::is_some) && order.windows(2).all(|w| w[0] < w[1]),
        "{seen:?}"
    );
    let listed = api_a.get("/playbacks?recordingStatus=COMPLETED").await;
    assert_eq!(listed["total"], 1, "{listed}");
}

#[tokio::test]
async fn a_node_stopped_with_sigterm_hands_its_cameras_over_at_once() {
    // A long lease: taking the cameras after it would show.
    let mut pair = two_nodes("20").await;
    let (cam, api_b) = (&pair.cam, &pair.api_b);
    add_cameras(api_b, &["Gate", "Yard"], &cam.url()).await;
    let owned = eventually(15, "one camera each", || async {
        let o = owners(api_b).await?;
        (o.len() == 2 && o[0].1 != o[1].1).then_some(o)
    })
    .await;
    let (of_a, _) = owned.iter().find(|(_, n)| n == "node-a").unwrap().clone();
    let camera = camera_named(api_b, &of_a).await;
    // A records an event posted to B when it is told to stop: the
    // recording is not cut short but goes on at B.
    let ev = api_b
        .post(
            "/events",
            serde_json::json!({"cameraId": camera["id"], "type": "MOTION"}),
        )
        .await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    api_b.wait_status(&pb, "RECORDING").await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let stopped = Instant::now();
    drop(pair.a.take());
    println!("SIGTERM → exit: {:?}", stopped.elapsed());
    // A fresh client: B may close a connection idle for the whole stop.
    let api_b = &Api::login(&pair.b.base).await;
    let moved = eventually(10, "B owns A's camera", || async {
        let o = owners(api_b).await?;
        o.iter()
            .all(|(_, n)| n == "node-b")
            .then_some(stopped.elapsed())
    })
    .await;
    println!("SIGTERM → camera owned by B: {moved:?}");
    assert!(
        moved < Duration::from_secs(15),
        "before the 20 s lease: {moved:?}"
    );
    // The event is still open: its recording goes on at B, into the same
    // playback, its segments after A's.
    let resumed = eventually(15, "B's segments stored after A's", || async {
        resumed_segment_stored(api_b, &pb)
            .await
            .then(|| stopped.elapsed())
    })
    .await;
    println!("SIGTERM → a resumed segment stored by B: {resumed:?}");
    let p = api_b.get(&format!("/playbacks/{pb}")).await;
    assert_eq!(p["recordingStatus"], "RECORDING", "{p}");
    api_b.end(&ev).await;
    let done = api_b.wait_status(&pb, "COMPLETED").await;
    let note = done["error"].as_str().unwrap_or_default();
    println!("note: {note}; gaps: {}", done["gaps"]);
    assert!(note.contains("node-b resumed it"), "{done}");
    let gaps = done["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "the hand-over's gap: {done}");
    assert!(
        gaps[0]["seconds"].as_f64().unwrap() < 10.0,
        "a hand-over, not a lease: {done}"
    );
    // A's 2 s and more, and B's segment.
    assert!(done["durationSec"].as_f64().unwrap() >= 3.5, "{done}");

    // The camera records on B now.
    let ev = api_b
        .post(
            "/events",
            serde_json::json!({"cameraId": camera["id"], "type": "MOTION"}),
        )
        .await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    api_b.wait_status(&pb, "RECORDING").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    api_b.end(&ev).await;
    let done = api_b.wait_status(&pb, "COMPLETED").await;
    assert_eq!(done["error"], Value::Null, "{done}");
}

/// The nodes `GET /nodes` says are alive.
async fn alive(api: &Api) -> Vec<String> {
    let nodes = api.get("/nodes").await;
    nodes["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["alive"] == true)
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_node_started_beside_a_recording_one_leaves_its_recording_alone() {
    let (db_url, _db) = TestDatabase::empty(Backend::Postgres).await;
    let s3 = s3_endpoint().await;
    let cam = TestCamera::start();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node("node-a", data_a.path(), &db_url, &s3);
    let api_a = Api::login(&a.base).await;
    let (ev, _) = api_a.recording_on("Dock", &cam.url()).await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();

    // B's start-up recovery sees A's recording in the database, in flight,
    // with no folder on B's disk: it must leave it to A.
    let b = node("node-b", data_b.path(), &db_url, &s3);
    let api_b = Api::login(&b.base).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(&api_b).await != ["node-a", "node-b"] {
        assert!(
            Instant::now() < deadline,
            "both nodes alive: {}",
            api_b.get("/nodes").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Longer than a lease: A is alive, so nothing of its is adopted.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let p = api_b.get(&format!("/playbacks/{pb}")).await;
    assert_eq!(p["recordingStatus"], "RECORDING", "{p}");
    api_a.end(&ev).await;
    let done = api_b.wait_status(&pb, "COMPLETED").await;
    assert_eq!(
        done["error"],
        Value::Null,
        "recorded and stored by A alone: {done}"
    );
    assert!(done["durationSec"].as_f64().unwrap() >= 4.0, "{done}");
}

#[tokio::test]
async fn an_event_ended_on_another_node_stops_the_recording_where_it_runs() {
    let (db_url, _db) = TestDatabase::empty(Backend::Postgres).await;
    let s3 = s3_endpoint().await;
    let cam = TestCamera::start();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // B starts once A records: A owns the camera.
    let a = node("node-a", data_a.path(), &db_url, &s3);
    let api_a = Api::login(&a.base).await;
    let (ev, _) = api_a.recording_on("Quay", &cam.url()).await;
    let b = node("node-b", data_b.path(), &db_url, &s3);
    let api_b = Api::login(&b.base).await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(3)).await;

    // B answers the end; A, which records it, stops it.
    let ended = Instant::now();
    let answer = api_b.end(&ev).await;
    let status = answer["recordingStatus"].as_str().unwrap();
    assert!(
        ["PROCESSING", "COMPLETED"].contains(&status),
        "stopped before the answer: {answer}"
    );
    let done = api_b.wait_status(&pb, "COMPLETED").await;
    println!("end on the other node → COMPLETED: {:?}", ended.elapsed());
    assert_eq!(done["error"], Value::Null, "{done}");
    assert!(done["durationSec"].as_f64().unwrap() >= 2.5, "{done}");

    // A manual stop through B, likewise.
    let (ev, _) = api_a.recording_on("Quay 2", &cam.url()).await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopped = api_b
        .post(&format!("/playbacks/{pb}/stop"), Value::Null)
        .await;
    let status = stopped["recordingStatus"].as_str().unwrap();
    assert!(
        ["PROCESSING", "COMPLETED"].contains(&status),
        "stopped before the answer: {stopped}"
    );
    let done = api_b.wait_status(&pb, "COMPLETED").await;
    assert_eq!(done["error"], Value::Null, "{done}");
}

/// How many recordings `id` runs, as `GET /nodes` on `api` says.
async fn recordings_on(api: &Api, id: &str) -> Option<u64> {
    let nodes = api.get("/nodes").await;
    nodes["data"].as_array()?.iter().find(|n| n["id"] == id)?["recordings"].as_u64()
}

/// Whether the live playlist of playback `pb`, as `api`'s node serves
/// it, has a segment after a discontinuity (a resumed take's).
async fn resumed_segment_stored(api: &Api, pb: &str) -> bool {
    let p = api.get(&format!("/playbacks/{pb}")).await;
    let Some(url) = p["liveUrl"].as_str() else {
        return false;
    };
    let Ok(r) = reqwest::get(url).await else {
        return false;
    };
    let text = r.text().await.unwrap_or_default();
    text.split_once("#EXT-X-DISCONTINUITY")
        .is_some_and(|(_, after)| after.contains("#EXTINF"))
}

/// SIGKILL of a node and of the ffmpegs under its `data` folder: a
/// machine lost.
fn kill_with_its_ffmpegs(node: &mut Server, data: &Path) {
    node.kill_hard();
    let _ = Command::new("pkill")
        .args(["-KILL", "-f", &data.display().to_string()])
        .status();
}

/// The stored clip of the finished playback `done` decodes cleanly
/// (checked in `dir`).
async fn assert_clip_decodes(done: &Value, dir: &Path) {
    let bytes = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        client::decode_errors(&bytes, dir),
        "",
        "decodes cleanly: {done}"
    );
}

/// The camera of the finished playback `done` has that one clip.
async fn assert_one_clip(api: &Api, done: &Value) {
    let listed = api
        .get(&format!(
            "/playbacks?cameraId={}",
            done["cameraId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(listed["total"], 1, "one clip for the one event: {listed}");
}

#[tokio::test]
async fn a_node_killed_mid_recording_is_resumed_by_the_cameras_new_owner_into_the_same_playback() {
    let (db_url, _db) = TestDatabase::empty(Backend::Postgres).await;
    let s3 = s3_endpoint().await;
    let cam = TestCamera::start();
    let data: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut a = node("node-a", data[0].path(), &db_url, &s3);
    let api_a = Api::login(&a.base).await;
    let (ev, p) = api_a.recording_on("Pier", &cam.url()).await;
    // Two survivors: whichever takes the camera resumes the recording.
    let b = node("node-b", data[1].path(), &db_url, &s3);
    let c = node("node-c", data[2].path(), &db_url, &s3);
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    // Some seconds stored while it records.
    let live_url = p["liveUrl"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = reqwest::get(&live_url).await.unwrap().text().await.unwrap();
        if text.matches("#EXTINF").count() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing stored: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A dies with its ffmpegs; a survivor takes the camera and records the
    // same playback again, its segments after A's, past a discontinuity.
    let killed = Instant::now();
    kill_with_its_ffmpegs(&mut a, data[0].path());
    let api_b = Api::login(&b.base).await;
    let (owner, resumed) = eventually(30, "the camera's new owner records it", || async {
        let owner = owners(&api_b).await?[0].1.clone();
        (owner != "node-a" && recordings_on(&api_b, &owner).await? == 1)
            .then(|| (owner, killed.elapsed()))
    })
    .await;
    println!("SIGKILL → recording again on {owner}: {resumed:?}");
    // One take of the playback: its ffmpeg, and the one writing the clip
    // as it records (never a second take started by a second offer).
    let processes = processes_under(Path::new(&pb));
    assert!(
        (1..=2).contains(&processes),
        "{processes} processes record {pb}"
    );
    let other = if owner == "node-b" {
        "node-c"
    } else {
        "node-b"
    };
    assert_eq!(
        recordings_on(&api_b, other).await,
        Some(0),
        "recorded once, by the camera's owner"
    );
    eventually(30, "the resumed segments stored after A's", || async {
        resumed_segment_stored(&api_b, &pb).await.then_some(())
    })
    .await;
    let recording = api_b.get(&format!("/playbacks/{pb}")).await;
    assert_eq!(recording["recordingStatus"], "RECORDING", "{recording}");

    // The event ends through B: one clip with both sides of the gap.
    api_b.end(&ev).await;
    let done = api_b.wait_status(&pb, "COMPLETED").await;
    println!(
        "SIGKILL → COMPLETED after the resumed take: {:?}",
        killed.elapsed()
    );
    let note = done["error"].as_str().unwrap_or_default();
    println!(
        "note: {note}; gaps: {}; duration {} s",
        done["gaps"], done["durationSec"]
    );
    assert!(
        note.contains(&format!("{owner} resumed it")) && note.contains("from the store"),
        "{done}"
    );
    let gaps = done["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "the failover's gap: {done}");
    let gap = gaps[0]["seconds"].as_f64().unwrap();
    assert!(
        gap > 0.5 && gap < resumed.as_secs_f64() + 10.0,
        "a gap about the failover's length: {done}"
    );
    // At least the 3 segments stored before the kill, and those after.
    assert!(done["durationSec"].as_f64().unwrap() >= 6.0, "{done}");
    assert_clip_decodes(&done, data[1].path()).await;
    assert_one_clip(&api_b, &done).await;
    assert_eq!(alive(&api_b).await, ["node-b", "node-c"]);
    drop(c);
}

#[tokio::test]
async fn a_resumed_recording_whose_camera_is_gone_is_finished_from_the_store() {
    let (db_url, _db) = TestDatabase::empty(Backend::Postgres).await;
    let s3 = s3_endpoint().await;
    let cam = TestCamera::start();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = node("node-a", data_a.path(), &db_url, &s3);
    let api_a = Api::login(&a.base).await;
    let (ev, p) = api_a.recording_on("Dock", &cam.url()).await;
    let b = node("node-b", data_b.path(), &db_url, &s3);
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    let live_url = p["liveUrl"].as_str().unwrap().to_owned();
    eventually(30, "segments stored", || async {
        let text = reqwest::get(&live_url).await.ok()?.text().await.ok()?;
        (text.matches("#EXTINF").count() >= 2).then_some(())
    })
    .await;

    // A dies, and the camera with it: B's resumed take connects to
    // nothing, and the clip is what the store holds.
    kill_with_its_ffmpegs(&mut a, data_a.path());
    drop(cam);
    let api_b = Api::login(&b.base).await;
    let done = api_b.wait_status(&pb, "COMPLETED").await;
    let note = done["error"].as_str().unwrap_or_default();
    assert!(
        note.contains("node-b finished it") && note.contains("rebuilt"),
        "{done}"
    );
    assert!(done["durationSec"].as_f64().unwrap() >= 4.0, "{done}");
    assert_clip_decodes(&done, data_b.path()).await;
    // The event is still open; the playback is finished all the same.
    let event = api_b
        .get(&format!("/events/{}", ev["id"].as_str().unwrap()))
        .await;
    assert_eq!(event["endedAt"], Value::Null, "{event}");
}

/// `url`'s `host:port` (after `//` and any `user@`).
fn authority(url: &str) -> String {
    let rest = url.split_once("//").unwrap().1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap().to_owned()
}

/// Processes whose command line holds `dir` (a node's ffmpegs, or a
/// playback's, by its id).
fn processes_under(dir: &Path) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", &dir.display().to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

// Several threads: the forwarders run while the test blocks on a start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_from_the_database_stops_owning_and_rejoins_without_duplicates() {
    let ns = netns::Netns::new();
    let (db_url, _db) = TestDatabase::empty(Backend::Postgres).await;
    let s3 = s3_endpoint().await;
    let cam = TestCamera::start();
    // Node A lives in the namespace and reaches PostgreSQL, S3 and the
    // camera through the veth; B on the host. The camera's URL works from
    // both sides.
    let at = |a: String| a.parse::<std::net::SocketAddr>().unwrap();
    let pg_port = netns::forward(&ns.db_ip(), at(authority(&db_url))).await;
    let s3_port = netns::forward(&ns.host_ip(), at(authority(&s3))).await;
    let cam_port = netns::forward(&ns.host_ip(), at(format!("127.0.0.1:{}", cam.port))).await;
    let cam_url = format!("rtsp://{}:{cam_port}/test", ns.host_ip());
    let db_url_a = db_url.replace(&authority(&db_url), &format!("{}:{pg_port}", ns.db_ip()));
    let s3_a = format!("http://{}:{s3_port}", ns.host_ip());
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start_in_netns(
        r2_env(
            data_a.path(),
            db_url_a,
            &s3_a,
            &[("NODE_ID", "node-a"), ("NODE_LEASE_SECONDS", "3")],
        ),
        &ns.name,
        &ns.ns_ip(),
        &data_a.path().join("vigil.log"),
    );
    let api_a = Api::login(&a.base).await;
    let (ev, p) = api_a.recording_on("Quay", &cam_url).await;
    let pb = ev["playbackId"].as_str().unwrap().to_owned();
    let b = node("node-b", data_b.path(), &db_url, &s3);
    let api_b = Api::login(&b.base).await;
    assert_eq!(owners(&api_b).await.unwrap()[0].1, "node-a");
    // Some seconds stored while it records.
    let live_url = p["liveUrl"].as_str().unwrap().to_owned();
    eventually(30, "segments stored", || async {
        let text = reqwest::get(&live_url).await.ok()?.text().await.ok()?;
        (text.matches("#EXTINF").count() >= 2).then_some(())
    })
    .await;

    // A loses PostgreSQL (packets dropped, connections hang). It stops
    // recording the camera before its lease runs out; B takes the camera
    // and finishes the clip from the store.
    ns.cut_db();
    let cut = Instant::now();
    eventually(10, "A's ffmpegs stopped", || async {
        (processes_under(data_a.path()) == 0).then_some(())
    })
    .await;
    let fenced = cut.elapsed();
    let moved = eventually(20, "B owns the camera", || async {
        let o = owners(&api_b).await?;
        (o[0].1 == "node-b").then_some(cut.elapsed())
    })
    .await;
    println!("cut → A stopped: {fenced:?}; cut → B owns the camera: {moved:?}");
    assert!(fenced <= moved, "A stopped acting before B took over");
    // The event is still open: B records the playback again, then the
    // event ends through B.
    eventually(30, "B records the playback again", || async {
        (recordings_on(&api_b, "node-b").await? == 1).then_some(())
    })
    .await;
    api_b.end(&ev).await;
    let done = api_b.wait_status(&pb, "COMPLETED").await;
    let note = done["error"].as_str().unwrap_or_default().to_owned();
    assert!(note.contains("node-b resumed it"), "{done}");

    // A comes back: alive again, it owns nothing B holds, and writes
    // nothing over B's work (its own take's end is fenced off).
    ns.heal_db();
    eventually(30, "A alive again", || async {
        (alive(&api_b).await == ["node-a", "node-b"]).then_some(())
    })
    .await;
    // A few passes of both.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(owners(&api_b).await.unwrap()[0].1, "node-b");
    let nodes = api_b.get("/nodes").await;
    let of_a = nodes["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "node-a")
        .unwrap()
        .clone();
    assert_eq!(of_a["cameras"], 0, "{nodes}");
    assert_eq!(
        processes_under(data_a.path()),
        0,
        "no second recording on A"
    );
    let after = api_b.get(&format!("/playbacks/{pb}")).await;
    assert_eq!(after["recordingStatus"], "COMPLETED", "{after}");
    assert_eq!(after["error"], done["error"], "unchanged by A: {after}");
    assert_eq!(after["fileSizeBytes"], done["fileSizeBytes"], "{after}");
    assert_one_clip(&api_b, &done).await;
    // A's take ended when it fenced itself; its hand-off, retried until
    // the database answers, finds the playback B's and stores nothing.
    let log = data_a.path().join("vigil.log");
    eventually(45, "A's late hand-off given up", || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("the playback is another node's now")
            .then_some(())
    })
    .await;
    let stored = reqwest::get(after["videoUrl"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        Some(stored.len() as u64),
        done["fileSizeBytes"].as_u64(),
        "B's clip, not A's"
    );
    let after = api_b.get(&format!("/playbacks/{pb}")).await;
    assert_eq!(after["error"], done["error"], "unchanged by A: {after}");
    drop(a);
}

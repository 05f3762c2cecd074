//! Several `vigil` nodes on one PostgreSQL and one S3 server, with real
//! ffmpeg and the GStreamer camera (docs/design/cluster.md): a node
//! started beside a recording one leaves its work alone, and a node killed
//! mid-recording has its clip finished by another from the store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../recorder/tests/support/camera.rs"]
mod camera;
mod client;
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
    Server::start(r2_env(
        data,
        db_url.to_owned(),
        s3,
        &[("NODE_ID", id), ("NODE_LEASE_SECONDS", "3")],
    ))
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
    let a = node("node-a", data_a.path(), &db_url, &s3);
    let b = node("node-b", data_b.path(), &db_url, &s3);
    let api_a = Api::login(&a.base).await;
    let api_b = Api::login(&b.base).await;
    let (ev, _) = api_a.recording_on("Quay", &cam.url()).await;
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

#[tokio::test]
async fn a_node_killed_mid_recording_has_its_clip_finished_by_another() {
    let (db_url, _db) = TestDatabase::empty(Backend::Postgres).await;
    let s3 = s3_endpoint().await;
    let cam = TestCamera::start();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = node("node-a", data_a.path(), &db_url, &s3);
    let b = node("node-b", data_b.path(), &db_url, &s3);
    let api_a = Api::login(&a.base).await;
    let (ev, p) = api_a.recording_on("Pier", &cam.url()).await;
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

    // A dies with its ffmpegs; B finishes the clip from the store.
    let killed = Instant::now();
    a.kill_hard();
    let _ = Command::new("pkill")
        .args(["-KILL", "-f", &data_a.path().display().to_string()])
        .status();
    let api_b = Api::login(&b.base).await;
    let done = api_b.wait_status(&pb, "COMPLETED").await;
    println!(
        "SIGKILL → COMPLETED by the other node: {:?}",
        killed.elapsed()
    );
    let note = done["error"].as_str().unwrap_or_default();
    assert!(
        note.contains("node-b finished it") && note.contains("rebuilt"),
        "{done}"
    );
    assert!(done["durationSec"].as_f64().unwrap() >= 4.0, "{done}");
    let bytes = reqwest::get(done["videoUrl"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        client::decode_errors(&bytes, data_b.path()),
        "",
        "decodes cleanly: {done}"
    );
    assert_eq!(alive(&api_b).await, ["node-b"]);
}

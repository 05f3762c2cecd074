//! The API as a test client sees it: logged in as the admin, JSON in and
//! out. (Each test crate uses part of it.)
#![allow(dead_code)]

use crate::{camera::TestCamera, server::PASSWORD};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
}

impl Api {
    pub async fn login(base: &str) -> Self {
        let http = reqwest::Client::new();
        let v: Value = http
            .post(format!("{base}/auth/login"))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            base: base.to_owned(),
            http,
            token: v["accessToken"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::PATCH, path, body).await
    }

    /// A JSON request that must succeed; its JSON answer.
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Ends an event; returns the answer.
    pub async fn end(&self, ev: &Value) -> Value {
        let path = format!("/events/{}/end", ev["id"].as_str().unwrap());
        self.post(&path, json!({})).await
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A camera and a MOTION event on it, recording for about 3 s; returns
    /// the event and its playback id.
    pub async fn record_for_3s(&self, cam: &TestCamera) -> (Value, String) {
        let camera = self
            .post(
                "/cameras",
                json!({"name": "Camera 1", "rtspUrl": cam.url()}),
            )
            .await;
        let ev = self
            .post("/events", json!({"cameraId": camera["id"], "type": "MOTION", "description": "Motion detected"}))
            .await;
        let pb = ev["playbackId"].as_str().unwrap().to_owned();
        self.wait_status(&pb, "RECORDING").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        (ev, pb)
    }

    /// A camera `name` on `url` and a MOTION event on it, once the
    /// playback is RECORDING: the event and the playback.
    pub async fn recording_on(&self, name: &str, url: &str) -> (Value, Value) {
        let camera = self
            .post("/cameras", json!({"name": name, "rtspUrl": url}))
            .await;
        let ev = self
            .post(
                "/events",
                json!({"cameraId": camera["id"], "type": "MOTION"}),
            )
            .await;
        let pb = self
            .wait_status(ev["playbackId"].as_str().unwrap(), "RECORDING")
            .await;
        (ev, pb)
    }

    /// A MOTION event on `camera` recorded for `seconds` once RECORDING,
    /// then ended; returns the COMPLETED playback.
    pub async fn record_clip(&self, camera: &Value, seconds: f64) -> Value {
        let ev = self
            .post(
                "/events",
                json!({"cameraId": camera["id"], "type": "MOTION"}),
            )
            .await;
        let pb = ev["playbackId"].as_str().unwrap().to_owned();
        self.wait_status(&pb, "RECORDING").await;
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        self.end(&ev).await;
        self.wait_status(&pb, "COMPLETED").await
    }

    pub async fn wait_status(&self, pb: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.get(&format!("/playbacks/{pb}")).await;
            if v["recordingStatus"] == status {
                return v;
            }
            assert!(Instant::now() < deadline, "playback never {status}: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Decodes the clip `bytes` (written to `dir/check.mp4`) and returns
/// ffmpeg's decoding errors, empty when clean. As in the recorder's tests
/// (`support::decode_errors`), the null muxer's complaint about a repeated
/// DTS is not a decoding error: the test camera sends some packets without
/// timestamps, which ffmpeg fills in, once in a while equal to the
/// previous one.
pub fn decode_errors(bytes: &[u8], dir: &std::path::Path) -> String {
    let check = dir.join("check.mp4");
    std::fs::write(&check, bytes).unwrap();
    let out = std::process::Command::new("timeout")
        .args(["60", "ffmpeg", "-v", "error", "-i"])
        .arg(&check)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg could not read the clip");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("non monotonically increasing dts"))
        .collect::<Vec<_>>()
        .join("\n")
}

//! Push through the `vigil` binary, with the real camera, a receiver of
//! the test's own and a Mosquitto broker of its own: a webhook whose
//! receiver is down while the clip is stored, and across a restart of
//! Vigil, gets its delivery once it is back (the queue is durable);
//! Frigate's messages record a camera and every change reaches
//! `mosquitto_sub`; MQTT reconnects to a broker that comes back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../recorder/tests/support/camera.rs"]
mod camera;
mod client;
#[path = "../../api/tests/api/receiver.rs"]
mod receiver;
mod server;

use camera::{free_port, TestCamera};
use client::Api;
use receiver::{signature_ok, Receiver};
use serde_json::{json, Value};
use server::Server;
use std::time::{Duration, Instant};

async fn attempts(api: &Api, hook: &Value) -> Value {
    api.get(&format!(
        "/webhooks/{}/deliveries",
        hook["id"].as_str().unwrap()
    ))
    .await
}

#[tokio::test]
async fn a_receiver_down_across_a_restart_gets_its_delivery() {
    let cam = TestCamera::start();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = vec![
        ("DATA_DIR".into(), data.path().display().to_string()),
        ("WEBHOOK_ALLOW_PRIVATE".into(), "true".into()),
        ("WEBHOOK_RETRY_SECONDS".into(), "1".into()),
    ];
    let server = Server::start(env.clone());
    let api = Api::login(&server.base).await;
    let hook = api
        .post(
            "/webhooks",
            json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["playback.completed"]}),
        )
        .await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let (ev, pb) = api.record_for_3s(&cam).await;
    api.end(&ev).await;
    api.wait_status(&pb, "COMPLETED").await;
    // Refused while the receiver is down, and retried.
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let a = attempts(&api, &hook).await;
        if a["total"].as_u64().unwrap() >= 2 {
            break a;
        }
        assert!(Instant::now() < deadline, "no attempts: {a}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let first = &failed["data"].as_array().unwrap().last().unwrap().clone();
    assert!(first["statusCode"].is_null(), "{first}");
    assert!(
        first["error"].as_str().unwrap().contains("connect"),
        "{first}"
    );
    assert_eq!(first["playbackId"], pb.as_str());
    drop(server);

    let rx = Receiver::start_on(port, Vec::new()).await;
    let server = Server::start(env);
    let got = rx.wait_for(1).await;
    assert_eq!(
        got[0].headers["vigil-delivery"],
        first["id"].as_str().unwrap(),
        "the same delivery"
    );
    assert!(signature_ok(&secret, &got[0]));
    let body = got[0].json();
    assert_eq!(body["type"], "playback.completed");
    assert_eq!(body["data"]["id"], pb.as_str());
    assert_eq!(body["data"]["recordingStatus"], "COMPLETED");
    let api = Api::login(&server.base).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = attempts(&api, &hook).await;
        if a["data"][0]["statusCode"] == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the success is not recorded: {a}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rx.received().len(), 1, "delivered once");
}

/// A Mosquitto broker of the test's own, on a free port with its own
/// config file; killed when dropped.
struct Broker {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Self {
        Self::start_on(free_port())
    }

    fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        // Debian puts the broker in /usr/sbin, often not on a user's PATH.
        let bin = match std::path::Path::new("/usr/sbin/mosquitto").exists() {
            true => "/usr/sbin/mosquitto",
            false => "mosquitto",
        };
        let child = std::process::Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto (tools/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// `mosquitto_pub` of one message.
    fn publish(&self, topic: &str, message: &str) {
        // `timeout`: every child has a deadline.
        let ok = std::process::Command::new("timeout")
            .args([
                "10",
                "mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-q",
                "1",
                "-t",
                topic,
                "-m",
                message,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "mosquitto_pub failed");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mosquitto_sub -v` on a topic filter: every "topic payload" line it
/// prints, gathered by a thread; killed when dropped.
struct Subscriber {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Subscriber {
    fn start(broker: &Broker, filter: &str) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &broker.port.to_string(),
                "-q",
                "1",
                "-v",
                "-t",
                filter,
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Subscriber { child, lines }
    }

    /// The first line that `pred` accepts, within 60 s.
    async fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in: {:?}",
                self.lines.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn payload(line: &str) -> Value {
    serde_json::from_str(line.split_once(' ').unwrap().1).unwrap()
}

/// With MQTT_URL and MQTT_FRIGATE_TOPIC: availability is `online` on
/// `vigil/status`; Frigate's new → update → end for a camera of that name
/// gives one event (its `externalId` Frigate's id, the label and score in
/// its description) and one COMPLETED clip, each change seen by
/// `mosquitto_sub`; an unknown camera and a malformed message are counted
/// and change nothing; a stopping server says `offline`.
#[tokio::test]
async fn frigate_events_record_and_statuses_reach_mqtt() {
    let cam = TestCamera::start();
    let broker = Broker::start();
    let sub = Subscriber::start(&broker, "vigil/#");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(vec![
        ("DATA_DIR".into(), data.path().display().to_string()),
        ("MQTT_URL".into(), broker.url()),
        ("MQTT_FRIGATE_TOPIC".into(), "frigate/events".into()),
    ]);
    sub.wait_for("online", |l| l == "vigil/status online").await;
    let api = Api::login(&server.base).await;
    let camera = api
        .post(
            "/cameras",
            json!({"name": "front_door", "rtspUrl": cam.url()}),
        )
        .await;
    let id = "1607123955.475377-mxklsc";
    let started = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
    let msg = |kind: &str, cam: &str| {
        json!({"type": kind, "before": {}, "after": {"id": id, "camera": cam, "label": "person",
               "top_score": 0.958, "start_time": started as f64 + 0.47}})
        .to_string()
    };
    broker.publish("frigate/events", &msg("new", "front_door"));
    broker.publish("frigate/events", &msg("update", "front_door"));
    broker.publish("frigate/events", &msg("new", "garage"));
    broker.publish("frigate/events", "{not json");
    let created = sub
        .wait_for("event.created", |l| {
            l.starts_with("vigil/events/") && l.contains("event.created")
        })
        .await;
    let event = payload(&created)["data"].clone();
    assert_eq!(event["externalId"], id);
    assert_eq!(event["description"], "Frigate: person (96%)");
    assert_eq!(event["cameraId"], camera["id"]);
    assert!(
        event["occurredAt"].is_string(),
        "Frigate's start time: {event}"
    );
    let pb = event["playbackId"].as_str().unwrap().to_owned();
    api.wait_status(&pb, "RECORDING").await;
    sub.wait_for("RECORDING", |l| {
        l.starts_with(&format!("vigil/playbacks/{pb} ")) && l.contains("playback.recording")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.publish("frigate/events", &msg("end", "front_door"));
    let done = api.wait_status(&pb, "COMPLETED").await;
    assert!(done["durationSec"].as_f64().unwrap() > 1.0, "{done}");
    let completed = sub
        .wait_for("COMPLETED", |l| {
            l.starts_with(&format!("vigil/playbacks/{pb} ")) && l.contains("playback.completed")
        })
        .await;
    assert_eq!(payload(&completed)["data"]["recordingStatus"], "COMPLETED");
    sub.wait_for("event.ended", |l| l.contains("event.ended"))
        .await;
    let events = api.get("/events").await;
    assert_eq!(
        events["total"], 1,
        "one Frigate event, one Vigil event: {events}"
    );
    assert!(events["data"][0]["endedAt"].is_string());
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for outcome in [
        "started",
        "repeated",
        "ended",
        "unknown_camera",
        "malformed",
    ] {
        let line = format!("vigil_frigate_messages_total{{outcome=\"{outcome}\"}} 1");
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
    drop(server);
    sub.wait_for("offline", |l| l == "vigil/status offline")
        .await;
}

/// The broker goes away and comes back (a new one, on the same port, with
/// nothing retained): Vigil reconnects by itself and says `online` again,
/// and its news reaches the new broker.
#[tokio::test]
async fn mqtt_reconnects_when_the_broker_comes_back() {
    let broker = Broker::start();
    let port = broker.port;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(vec![
        ("DATA_DIR".into(), data.path().display().to_string()),
        ("MQTT_URL".into(), broker.url()),
        ("MQTT_TOPIC_PREFIX".into(), "site/a".into()),
    ]);
    let sub = Subscriber::start(&broker, "site/a/#");
    sub.wait_for("online", |l| l == "site/a/status online")
        .await;
    drop(sub);
    drop(broker);
    let broker = Broker::start_on(port);
    let sub = Subscriber::start(&broker, "site/a/#");
    sub.wait_for("online again", |l| l == "site/a/status online")
        .await;
    let api = Api::login(&server.base).await;
    let cam = api
        .post(
            "/cameras",
            json!({"name": "Porch", "rtspUrl": "rtsp://127.0.0.1:1/none"}),
        )
        .await;
    let ev = api
        .post("/events", json!({"cameraId": cam["id"], "type": "ALARM"}))
        .await;
    let line = sub
        .wait_for("the event", |l| {
            l.starts_with(&format!("site/a/events/{} ", ev["id"].as_str().unwrap()))
        })
        .await;
    assert_eq!(payload(&line)["type"], "event.created");
}

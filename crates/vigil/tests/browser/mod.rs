//! Headless Chromium through chromedriver (WebDriver), for the tests that
//! need a real browser: Debian's `chromium` and `chromium-driver`, which
//! `tools/test` installs. (Each test crate uses part of it.)
#![allow(dead_code)]

use crate::camera::free_port;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// chromedriver on a free port, killed when dropped; Chromium is its child.
pub struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Driver {
    pub async fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        // Its own process group, so dropping the driver also ends the
        // Chromium it started, even when the test failed before closing it.
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian chromium-driver) must be installed: run tools/test");
        // Owned from here on: a failed wait below still stops it.
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _profile: tempfile::tempdir().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // chromedriver closes HTTP/1.0 connections unanswered, so ask with reqwest.
        while !reqwest::get(format!("{}/status", driver.url))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    pub async fn browser(&self) -> Client {
        let caps = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--no-first-run",
                    "--disable-component-update", "--disable-dev-shm-usage",
                    "--autoplay-policy=no-user-gesture-required",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", self._profile.path().display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap()
    }

    /// The browser console's entries so far (chromedriver's log endpoint).
    pub async fn console_log(&self, browser: &Client) -> Vec<Value> {
        let session = browser.session_id().await.unwrap().unwrap();
        let v: Value = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.url))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["value"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser it launched.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether Chromium plays the video at `url`: it loads the URL as a media
/// document and plays it; the answer is the `<video>` element's size, time
/// reached and error code as JSON.
pub async fn plays(browser: &Client, url: &str) -> Value {
    browser.goto(url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = browser
            .execute(
                "const v = document.querySelector('video');
                 if (!v) return null;
                 v.muted = true; v.play().catch(() => {});
                 return {width: v.videoWidth, time: v.currentTime,
                         error: v.error ? v.error.code : null};",
                vec![],
            )
            .await
            .unwrap();
        let done = v["error"].is_number() || v["time"].as_f64().unwrap_or(0.0) > 1.0;
        if done || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether Chromium seeks in the video at `url`: loaded as a media
/// document, it is sent to a second before its end; the answer is its
/// duration, the time it reached after the seek and its error code.
pub async fn seeks(browser: &Client, url: &str) -> Value {
    browser.goto(url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut asked = false;
    loop {
        let v = browser
            .execute(
                &format!(
                    "const v = document.querySelector('video');
                     if (!v || !(v.duration > 1)) return null;
                     if ({ask}) {{
                       v.muted = true;
                       v.addEventListener('seeked', () => {{ window.__seekedTo = v.currentTime; }}, {{ once: true }});
                       v.currentTime = v.duration - 1;
                     }}
                     return {{duration: v.duration, time: window.__seekedTo ?? null,
                             error: v.error ? v.error.code : null}};",
                    ask = !asked
                ),
                vec![],
            )
            .await
            .unwrap();
        asked |= v.is_object();
        let done = v["error"].is_number() || v["time"].is_number();
        if done || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

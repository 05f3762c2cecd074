//! `spawn_app()`: a real server on 127.0.0.1:0 with a migrated database
//! (temporary SQLite, or a throwaway Postgres database), a local object store
//! in a temp dir, and a scripted recorder standing in for ffmpeg (the
//! recorder crate has its own tests against a real camera).

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};
use vigil_api::{
    auth::{LoginQuota, PasswordHasher, PasswordParams},
    ApiSettings, Application, Ports,
};
use vigil_application::{NotifyingPlaybacks, PlaybackEvents, Recordings};
use vigil_domain::{
    ports::{ObjectStore, PlaybackRepo, Recorder, Result as PortResult},
    Camera, CameraId, Error, MediaInfo, NewUser, Password, Playback, PlaybackId, PlaybackUpdate,
    RecordingStatus, Role, Username,
};
use vigil_persistence::testing::{Backend, TestDatabase};
use vigil_storage::{LocalStore, UrlSigner};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// Stands in for ffmpeg: `start` marks the playback RECORDING at once,
/// `stop` marks it PROCESSING and then, on a task, stores a small "clip"
/// and completes it, as the real pipeline would.
#[derive(Debug)]
pub struct ScriptedRecorder {
    playbacks: Arc<dyn PlaybackRepo>,
    store: Arc<dyn ObjectStore>,
    active: Mutex<HashSet<PlaybackId>>,
    /// Cameras kept warm for their pre-roll.
    pub warm: Mutex<HashSet<CameraId>>,
    pub refuse_with: Mutex<Option<String>>,
    /// Cameras whose stream a probe was asked for, in order.
    pub checked: Mutex<Vec<CameraId>>,
    /// A disk whose floor allows this many bytes of stored objects: it is
    /// short by what `objects` holds beyond it. None: never short.
    pub keep_at_most: Mutex<Option<u64>>,
    pub objects: std::path::PathBuf,
    /// The window each recording was started with.
    pub windows: Mutex<Vec<(PlaybackId, vigil_domain::RecordWindow)>>,
    pub clip: Vec<u8>,
}

#[async_trait::async_trait]
impl Recorder for ScriptedRecorder {
    async fn start(
        &self,
        id: PlaybackId,
        _camera: &Camera,
        window: vigil_domain::RecordWindow,
    ) -> PortResult<()> {
        self.windows.lock().unwrap().push((id, window));
        if let Some(reason) = self.refuse_with.lock().unwrap().clone() {
            return Err(Error::unavailable(reason));
        }
        self.active.lock().unwrap().insert(id);
        self.playbacks
            .transition(
                id,
                RecordingStatus::Recording,
                PlaybackUpdate {
                    started_at: Some(time::OffsetDateTime::now_utc()),
                    local_path: Some(Some(format!("/tmp/recordings/{id}.mp4"))),
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    async fn stop(&self, id: PlaybackId) -> PortResult<Option<RecordingStatus>> {
        if !self.active.lock().unwrap().remove(&id) {
            return Ok(None);
        }
        self.playbacks
            .transition(
                id,
                RecordingStatus::Processing,
                PlaybackUpdate {
                    ended_at: Some(time::OffsetDateTime::now_utc()),
                    ..Default::default()
                },
            )
            .await?;
        let (playbacks, store, clip) = (
            self.playbacks.clone(),
            self.store.clone(),
            self.clip.clone(),
        );
        tokio::spawn(async move {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("video.mp4");
            std::fs::write(&file, &clip).unwrap();
            let key = Playback::video_key_for(id);
            let size = store.put_file(&key, &file, "video/mp4").await.unwrap();
            let _ = playbacks
                .transition(
                    id,
                    RecordingStatus::Completed,
                    PlaybackUpdate {
                        video_key: Some(key),
                        local_path: Some(None),
                        media: Some(MediaInfo {
                            file_size_bytes: Some(size as i64),
                            duration_sec: Some(5.0),
                            codec: Some("H.264".into()),
                            resolution: Some("1080p".into()),
                            width: Some(1920),
                            height: Some(1080),
                            browser_playable: Some(true),
                        }),
                        // The camera was away for 2 s just before the end.
                        gaps: Some(vec![vigil_domain::Gap {
                            at: time::OffsetDateTime::now_utc(),
                            seconds: 2.0,
                        }]),
                        ..Default::default()
                    },
                )
                .await;
        });
        Ok(Some(RecordingStatus::Processing))
    }

    fn is_active(&self, id: PlaybackId) -> bool {
        self.active.lock().unwrap().contains(&id)
    }

    fn active_count(&self) -> usize {
        self.active.lock().unwrap().len()
    }

    async fn watch(&self, camera: &Camera) -> PortResult<()> {
        let mut warm = self.warm.lock().unwrap();
        if camera.pre_roll.get() > 0 {
            warm.insert(camera.id);
        } else {
            warm.remove(&camera.id);
        }
        Ok(())
    }

    async fn forget(&self, camera: CameraId) {
        self.warm.lock().unwrap().remove(&camera);
    }

    fn check_stream(&self, camera: &Camera) {
        self.checked.lock().unwrap().push(camera.id);
    }

    fn space_short(&self) -> u64 {
        self.keep_at_most
            .lock()
            .unwrap()
            .map_or(0, |keep| dir_size(&self.objects).saturating_sub(keep))
    }
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: TestDatabase,
    pub recorder: Arc<ScriptedRecorder>,
    pub objects: std::path::PathBuf,
    /// The adapters the app runs on, for use cases outside HTTP.
    pub ports: Ports,
    _dir: tempfile::TempDir,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let h = self.handle.clone();
        // Stopping is async; a detached task is enough, the test is over.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { h.stop(false).await });
        }
    }
}

pub struct Options {
    pub backend: Backend,
    pub login_quota: LoginQuota,
    pub cors_origins: Vec<String>,
    /// `WEBHOOK_ALLOW_PRIVATE`: receivers on loopback are refused without.
    pub webhook_allow_private: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            login_quota: LoginQuota {
                burst: 1000,
                per_attempt: Duration::from_millis(1),
            },
            cors_origins: Vec::new(),
            webhook_allow_private: false,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(opts: Options) -> TestApp {
    init_tracing();
    let db = TestDatabase::new(opts.backend).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let secret: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    let objects = dir.path().join("objects");
    let signer = UrlSigner::new(&secret, &base);
    let local = Arc::new(LocalStore::open(&objects, signer.clone()).await.unwrap());

    let hasher = PasswordHasher::new(PasswordParams::FAST_INSECURE).unwrap();
    let hash = hasher
        .hash(Password::parse(ADMIN_PASSWORD.into()).unwrap())
        .await
        .unwrap();
    db.db
        .users()
        .create(NewUser {
            username: Username::parse(ADMIN).unwrap(),
            role: Role::Admin,
            password_hash: hash,
        })
        .await
        .unwrap();

    let playback_events = PlaybackEvents::new();
    let push = vigil_application::Push::new(
        db.db.webhooks(),
        Arc::new(vigil_api::views::ViewRender {
            store: local.clone(),
            urls: vigil_api::views::MediaUrls {
                ttl: Duration::from_secs(3600),
                signer: Arc::new(signer.clone()),
                live: Default::default(),
            },
        }),
        Vec::new(),
    );
    let webhooks = vigil_application::Webhooks {
        repo: db.db.webhooks(),
        sender: Arc::new(vigil_push::HttpSender::new(opts.webhook_allow_private).unwrap()),
        push: push.clone(),
        first_retry: Duration::from_secs(1),
    };
    // Delivers for as long as the test's runtime lives.
    tokio::spawn(webhooks.clone().deliver(Default::default()));
    let playbacks: Arc<dyn PlaybackRepo> = Arc::new(
        NotifyingPlaybacks::new(db.db.playbacks(), playback_events.clone()).with_push(push.clone()),
    );
    let recorder = Arc::new(ScriptedRecorder {
        playbacks: playbacks.clone(),
        store: local.clone(),
        active: Mutex::new(HashSet::new()),
        warm: Mutex::new(HashSet::new()),
        refuse_with: Mutex::new(None),
        checked: Mutex::new(Vec::new()),
        windows: Mutex::new(Vec::new()),
        keep_at_most: Mutex::new(None),
        objects: objects.clone(),
        clip: (0..200_000u32).map(|i| (i % 251) as u8).collect(),
    });
    let settings = ApiSettings {
        jwt_secret: secret,
        password_params: PasswordParams::FAST_INSECURE,
        login_quota: opts.login_quota,
        shutdown_timeout: Duration::from_secs(1),
        workers: Some(1),
        cors_origins: opts.cors_origins,
        public_url: base.clone(),
        node: vigil_api::routes::nodes::ThisNode {
            id: Some(TEST_NODE.parse().unwrap()),
            lease: Duration::from_secs(10),
            leases: None,
        },
        ..ApiSettings::default()
    };
    let recordings = Recordings::new(
        db.db.cameras(),
        db.db.events(),
        playbacks.clone(),
        recorder.clone(),
        local.clone(),
        Default::default(),
    )
    .with_push(push);
    let ports = Ports {
        users: db.db.users(),
        cameras: db.db.cameras(),
        events: db.db.events(),
        playbacks,
        shares: db.db.shares(),
        webhooks,
        playback_events,
        store: local.clone(),
        recordings,
        probes: vec![Arc::new(db.db.clone()), local.clone()],
        local_media: Some(local.clone()),
        signer: Arc::new(signer),
        nodes: db.db.nodes(),
        metrics: Some(vigil_api::routes::metrics::MetricsText(Arc::new(|| {
            "# TYPE vigil_from_recorder_total counter\nvigil_from_recorder_total 7\n".into()
        }))),
    };
    let app = Application::build(listener, settings, ports.clone()).unwrap();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        db,
        recorder,
        objects,
        ports,
        _dir: dir,
        handle,
    }
}

fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("debug")
                .try_init();
        }
    });
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.client
            .post(self.url("/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        r.json::<Value>().await.unwrap()["accessToken"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token(ADMIN, ADMIN_PASSWORD).await
    }

    /// Creates a user with `role` through the API and returns its id and token.
    pub async fn user_with_role(&self, role: &str) -> (String, String) {
        let admin = self.admin_token().await;
        let name = format!(
            "{}-{}",
            role.to_lowercase(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let r = self
            .post(
                &admin,
                "/users",
                json!({"username": name, "password": "password-123", "role": role}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, self.token(&name, "password-123").await)
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// GET expecting a JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        self.get(token, path).await.json().await.unwrap()
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_empty(&self, token: &str, path: &str) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, token: &str, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn create_camera(&self, name: &str) -> Value {
        let admin = self.admin_token().await;
        let r = self
            .post(
                &admin,
                "/cameras",
                json!({"name": name, "rtspUrl": "rtsp://viewer:cam-secret@127.0.0.1:8554/test"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    pub async fn post_event(&self, token: &str, camera_id: &str, kind: &str) -> Response {
        self.post(
            token,
            "/events",
            json!({"cameraId": camera_id, "type": kind, "description": "Motion detected"}),
        )
        .await
    }

    /// Polls a playback until `pred` holds, failing after 10 s.
    pub async fn wait_playback(
        &self,
        token: &str,
        id: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.get_json(token, &format!("/playbacks/{id}")).await;
            if pred(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "playback {id} never matched; last: {v}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Asserts the contract's error body and returns its code.
/// The node id the test app runs as.
pub const TEST_NODE: &str = "test-node-1";

pub async fn error_code(r: Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "{v}"
    );
    v["error"].clone()
}

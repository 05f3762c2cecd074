//! Start-up in order: directories, tools, secrets, database (and
//! migrations), first admin, storage, recorder, HTTP; then serve until a
//! signal, and shut down in reverse.

use crate::{
    config::{find_executable, Config, ConfigError, StorageConfig},
    secrets,
};
use std::{net::TcpListener, path::Path, sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;
use vigil_api::{
    auth::{PasswordHasher, PasswordParams},
    ApiSettings, Application, Ports,
};
use vigil_domain::{
    ports::{LocalMedia, ObjectStore, Probe, UserRepo},
    NewUser, Password, Role, Username,
};
use vigil_persistence::Database;
use vigil_storage::{LocalStore, S3Settings, S3Store, UrlSigner};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{}", .0.chain())]
    Service(#[from] vigil_domain::Error),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("the {0} ended unexpectedly; the server stopped")]
    TaskEnded(&'static str),
}

fn writable_dir(var: &'static str, dir: &Path) -> Result<(), ConfigError> {
    let fail = |e: std::io::Error| ConfigError {
        var,
        message: format!("{} is not a writable directory: {e}", dir.display()),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".vigil-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(fail)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// This node's id: `NODE_ID`, else the one generated into `DATA_DIR` by the
/// first start, so a restarted node is the same node.
fn node_id(cfg: &Config) -> Result<vigil_domain::NodeId, ConfigError> {
    if let Some(id) = &cfg.node_id {
        return Ok(id.clone());
    }
    let file = cfg.data_dir.join("node-id");
    let fail = |message: String| ConfigError {
        var: "NODE_ID",
        message,
    };
    match std::fs::read_to_string(&file) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|e| fail(format!("{}: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = format!("vigil-{}", hex::encode(rand::random::<[u8; 6]>()));
            std::fs::write(&file, format!("{id}\n"))
                .map_err(|e| fail(format!("cannot write {}: {e}", file.display())))?;
            id.parse().map_err(fail)
        }
        Err(e) => Err(fail(format!("cannot read {}: {e}", file.display()))),
    }
}

/// The media URL key is derived from the JWT key, so one secret to rotate
/// covers both.
fn media_key(jwt_secret: &[u8]) -> Vec<u8> {
    let mut k = b"vigil-media-url-v1:".to_vec();
    k.extend_from_slice(jwt_secret);
    k
}

async fn ensure_admin(
    users: &dyn UserRepo,
    cfg: &Config,
    hasher: &PasswordHasher,
) -> Result<(), StartError> {
    let (password, generated) = match &cfg.admin_password {
        Some(p) => (p.0.clone(), false),
        None => (secrets::generated_password(), true),
    };
    let make = || async {
        let username = Username::parse(&cfg.admin_username).map_err(|e| ConfigError {
            var: "ADMIN_USERNAME",
            message: e,
        })?;
        let parsed = Password::parse(password.clone()).map_err(|e| ConfigError {
            var: "ADMIN_PASSWORD",
            message: e,
        })?;
        Ok::<_, StartError>(NewUser {
            username,
            role: Role::Admin,
            password_hash: hasher.hash(parsed).await?,
        })
    };
    let Some(created) = vigil_application::admin::ensure_first_admin(users, make).await? else {
        return Ok(());
    };
    let username = created.username;
    if generated {
        // Shown once, on purpose: it is the only way in on a fresh install.
        tracing::warn!(username = %username, password = %password, "created the first ADMIN with a generated password; change it (PATCH /users/{{id}}) or set ADMIN_PASSWORD");
    } else {
        tracing::info!(username = %username, "created the first ADMIN from ADMIN_USERNAME/ADMIN_PASSWORD");
    }
    Ok(())
}

/// The object store, what `/ready` checks of it, and (local mode) what
/// `/media` serves.
struct Storage {
    store: Arc<dyn ObjectStore>,
    probe: Arc<dyn Probe>,
    local_media: Option<Arc<dyn LocalMedia>>,
}

async fn open_storage(cfg: &Config, signer: UrlSigner) -> Result<Storage, StartError> {
    match &cfg.storage {
        StorageConfig::Local => {
            let local = Arc::new(LocalStore::open(cfg.data_dir.join("objects"), signer).await?);
            Ok(Storage {
                store: local.clone(),
                probe: local.clone(),
                local_media: Some(local),
            })
        }
        StorageConfig::R2(r2) => {
            let s3 = Arc::new(
                S3Store::new(S3Settings {
                    endpoint: r2.endpoint.clone(),
                    region: r2.region.clone(),
                    bucket: r2.bucket.clone(),
                    access_key_id: r2.access_key_id.clone(),
                    secret_access_key: r2.secret_access_key.clone(),
                    public_url: r2.public_url.clone(),
                    retry_deadline: Duration::from_secs(120),
                    request_timeout: Duration::from_secs(120),
                    transfer: vigil_storage::Transfer {
                        part_size: r2.part_size,
                        ..Default::default()
                    },
                })
                .map_err(|e| ConfigError {
                    var: "R2_ENDPOINT",
                    message: e.message().to_owned(),
                })?,
            );
            if let Err(e) = s3.health_check().await {
                // Not fatal: uploads retry, and /ready reports it.
                tracing::warn!(error = %e.chain(), "object store does not answer yet");
            }
            Ok(Storage {
                store: s3.clone(),
                probe: s3,
                local_media: None,
            })
        }
    }
}

pub async fn run(cfg: Config) -> Result<(), StartError> {
    writable_dir("DATA_DIR", &cfg.data_dir)?;
    writable_dir("RECORD_DIR", &cfg.record_dir)?;
    writable_dir("SNAPSHOT_DIR", &cfg.snapshot_dir)?;
    let ffmpeg = find_executable("FFMPEG_PATH", cfg.ffmpeg_path.as_deref(), "ffmpeg")?;
    let ffprobe = find_executable("FFPROBE_PATH", cfg.ffprobe_path.as_deref(), "ffprobe")?;
    let jwt_secret = secrets::jwt_secret(cfg.jwt_secret.as_ref(), &cfg.data_dir)?;

    let node = node_id(&cfg)?;
    let db = Database::connect(&cfg.database_url)
        .await
        .map_err(|e| ConfigError {
            var: "DATABASE_URL",
            message: e.message().to_owned(),
        })?
        .of_node(&node, cfg.node_lease);
    if cfg.auto_migrate {
        db.migrate().await?;
        tracing::info!("database migrations applied");
    }
    let hasher = PasswordHasher::new(PasswordParams::PRODUCTION)?;
    let users = db.users();
    ensure_admin(users.as_ref(), &cfg, &hasher).await?;

    let listener = TcpListener::bind(cfg.http_addr).map_err(|e| ConfigError {
        var: "HTTP_ADDR",
        message: format!("cannot listen on {}: {e}", cfg.http_addr),
    })?;
    let addr = listener.local_addr()?;
    let public_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));

    let signer = UrlSigner::new(&media_key(&jwt_secret), &public_url);
    let Storage {
        store,
        probe: store_probe,
        local_media,
    } = open_storage(&cfg, signer.clone()).await?;
    let urls = vigil_api::views::MediaUrls {
        ttl: cfg.media_url_ttl,
        signer: Arc::new(signer),
        live: cfg.live,
    };
    // News, rendered as the API shows it, to webhooks (and MQTT).
    let render = Arc::new(vigil_api::views::ViewRender {
        store: store.clone(),
        urls: urls.clone(),
    });
    // MQTT lives until the recordings are finished at shutdown, so their
    // last status changes are published too.
    let mqtt_stop = CancellationToken::new();
    let mut sinks: Vec<Arc<dyn vigil_application::LiveSink>> = Vec::new();
    let mut mqtt_task = None;
    let mut frigate_rx = None;
    if let Some(m) = cfg.mqtt.clone() {
        tracing::info!(broker = %m.masked(), prefix = %m.prefix, frigate_topic = ?m.frigate_topic, "MQTT on");
        let frigate_tx = m.frigate_topic.is_some().then(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(256);
            frigate_rx = Some(rx);
            tx
        });
        let (sink, task) = vigil_push::mqtt::start(m, frigate_tx, mqtt_stop.clone());
        sinks.push(Arc::new(sink));
        mqtt_task = Some(task);
    }
    let push = vigil_application::Push::new(db.webhooks(), render, sinks);
    let webhooks = vigil_application::Webhooks {
        repo: db.webhooks(),
        sender: Arc::new(
            vigil_push::HttpSender::new(cfg.webhook_allow_private).map_err(|e| ConfigError {
                var: "WEBHOOK_ALLOW_PRIVATE",
                message: format!("cannot build the webhook client: {e}"),
            })?,
        ),
        push: push.clone(),
        first_retry: Duration::from_secs(cfg.webhook_retry_seconds.into()),
    };
    // On PostgreSQL, nodes share the cameras by lease (docs/design/cluster.md).
    let cluster = db.signals().map(|signals| {
        vigil_application::cluster::Cluster::new(node.clone(), db.leases(), signals, cfg.node_lease)
    });
    let app = crate::recording::build(
        &cfg,
        ffmpeg,
        ffprobe,
        &db,
        store.clone(),
        push,
        cluster.clone(),
    );
    // Before anything reports: a gauge set before the recorder is
    // installed is lost until its next sample.
    let metrics = crate::telemetry::install_metrics();
    let report = app.service.recover().await?;
    if report != Default::default() {
        tracing::warn!(?report, "took up what the previous run left");
    }
    // One token: the upload workers stop claiming, retention stops, when it
    // is cancelled.
    let shutdown: CancellationToken = app.service.shutdown_token();
    let mut tasks = crate::tasks::Tasks::default();
    for (name, handle) in app.service.start_jobs() {
        tasks.watch(name, handle);
    }
    app.service
        .watch_all(&vigil_application::all_cameras(db.cameras().as_ref()).await?)
        .await;

    tracing::info!(node_id = %node, cluster = cluster.is_some(), "this node");
    let leasing = cluster
        .clone()
        .map(|c| vigil_application::cluster::Leasing {
            cluster: c,
            cameras: db.cameras(),
            nodes: db.nodes(),
            recorder: app.recordings.recorder.clone(),
            capacity: cfg.max_concurrent_recordings,
        });
    if let (Some(c), Some(l)) = (&cluster, &leasing) {
        tasks.spawn(
            "signals from other nodes",
            c.clone().listen(shutdown.clone()),
        );
        tasks.spawn(
            "other nodes' status changes",
            app.clone().relay_changes(shutdown.clone()),
        );
        tasks.spawn(
            "recordings handed to this node",
            app.recordings.clone().follow_handoffs(shutdown.clone()),
        );
        // Beat once first, so the share counts this node; then take the
        // cameras before serving, so its first events record here.
        if let Err(e) = db
            .nodes()
            .beat(&vigil_domain::NodeBeat {
                id: node.clone(),
                started_at: time::OffsetDateTime::now_utc(),
                cameras: 0,
                recordings: 0,
            })
            .await
        {
            tracing::warn!(error = %e.chain(), "cannot record the first heartbeat");
        }
        if let Err(e) = l.pass().await {
            tracing::warn!(error = %e.chain(), "cannot take camera leases yet; the next pass tries again");
        }
        tasks.spawn("camera leases", l.clone().run(shutdown.clone()));
    }
    tasks.spawn(
        "stops asked by other nodes",
        app.recordings
            .clone()
            .follow_stop_requests(app.service.clone(), shutdown.clone()),
    );
    tasks.spawn(
        "node heartbeat",
        vigil_application::nodes::Heartbeat {
            nodes: db.nodes(),
            cameras: db.cameras(),
            recorder: app.recordings.recorder.clone(),
            id: node.clone(),
            started_at: time::OffsetDateTime::now_utc(),
            lease: cfg.node_lease,
            orphans: Some(app.orphans()),
            owned: cluster.as_ref().map(|c| c.ownership.clone()),
            wake: cluster.as_ref().map(|c| c.heard.clone()),
        }
        .run(shutdown.clone()),
    );
    let db_probe: Arc<dyn Probe> = Arc::new(db.clone());
    let settings = ApiSettings {
        jwt_secret,
        token_ttl: cfg.token_ttl,
        media_url_ttl: cfg.media_url_ttl,
        cors_origins: cfg.cors_origins.clone(),
        public_url: public_url.clone(),
        live: cfg.live,
        node: vigil_api::routes::nodes::ThisNode {
            id: Some(node.clone()),
            lease: cfg.node_lease,
            leases: cluster.is_some().then(|| db.leases()),
        },
        ..ApiSettings::default()
    };
    let ports = Ports {
        users,
        cameras: db.cameras(),
        events: db.events(),
        playbacks: app.playbacks(),
        shares: db.shares(),
        webhooks: webhooks.clone(),
        playback_events: app.playback_events.clone(),
        store,
        recordings: app.recordings.clone(),
        probes: vec![db_probe, store_probe],
        local_media,
        signer: urls.signer.clone(),
        nodes: db.nodes(),
        metrics,
    };
    // Every hour; per-camera retention applies even without RETENTION_DAYS.
    let retention = app.retention(cfg.retention, cfg.retention_max_bytes);
    tasks.spawn(
        "storage quota",
        retention
            .clone()
            .on_completed(app.playback_events.clone(), shutdown.clone()),
    );
    tasks.spawn(
        "retention",
        retention.run(Duration::from_secs(3600), shutdown.clone()),
    );
    tasks.spawn("webhook deliveries", webhooks.deliver(shutdown.clone()));
    if let Some(task) = mqtt_task {
        tasks.spawn("mqtt", task);
    }
    if let Some(rx) = frigate_rx {
        tasks.spawn(
            "frigate events",
            vigil_application::Frigate::new(app.recordings.clone()).run(rx),
        );
    }
    let server = Application::build(listener, settings, ports)?;
    let http = server.handle();
    tasks.spawn("http server", async move {
        if let Err(e) = server.run_until_stopped().await {
            tracing::error!(error = %e, "http server failed");
        }
    });
    tracing::info!(addr = %addr, public_url = %public_url, "vigil listening on http://{addr}");

    // Every task runs until shutdown: one that ends first has failed (a
    // panic included), and the server stops rather than run without it.
    let failed = tokio::select! {
        _ = wait_for_signal() => {
            tracing::info!("stopping: finishing requests in flight");
            None
        }
        name = tasks.first_exit() => {
            tracing::error!(task = name, "a background task ended; stopping the server");
            Some(name)
        }
    };
    shutdown.cancel();
    http.stop(true).await;
    // Requests are done; now end the recordings so each one is finalized
    // and queued rather than cut, and give running uploads a grace period;
    // what is not done stays in the durable queue for the next start.
    let active = app.service.active_count();
    if active > 0 {
        tracing::info!(active, "stopping recordings");
    }
    app.service.shutdown(Duration::from_secs(60)).await;
    // The takes are finished: the other nodes take the cameras now rather
    // than after the lease.
    if let Some(l) = &leasing {
        l.release(app.playbacks().as_ref()).await;
    }
    mqtt_stop.cancel();
    tasks.join_all(Duration::from_secs(5)).await;
    tokio::time::timeout(Duration::from_secs(5), db.close())
        .await
        .ok();
    tracing::info!("vigil stopped");
    // A non-zero exit, so a supervisor (systemd, Kubernetes) restarts it.
    match failed {
        Some(name) => Err(StartError::TaskEnded(name)),
        None => Ok(()),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {},
                _ = i.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

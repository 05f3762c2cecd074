//! Building and running the HTTP server. Shared state is built once, outside
//! actix's per-worker factory, and registered as one `web::Data` per
//! dependency (ports as trait objects), so every worker sees the same
//! handles.

use crate::{
    auth::{JwtKeys, LoginQuota, LoginThrottle, PasswordHasher, PasswordParams},
    extract::{json_error_body, query_error},
    routes::{self, health::Probes},
    views::MediaUrls,
};
use actix_web::{
    dev::Server,
    middleware::{Condition, ErrorHandlers, NormalizePath, TrailingSlash},
    web, App, HttpServer,
};
use std::{net::TcpListener, sync::Arc, time::Duration};
use tracing_actix_web::TracingLogger;
use vigil_application::{PlaybackEvents, Recordings};
use vigil_domain::{
    ports::{
        CameraRepo, EventRepo, LocalMedia, MediaSigner, NodeRepo, ObjectStore, PlaybackRepo, Probe,
        Recorder, ShareRepo, UserRepo,
    },
    Error,
};

/// Everything the api needs from configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// HS256 key, at least 32 bytes.
    pub jwt_secret: Vec<u8>,
    pub token_ttl: Duration,
    pub password_params: PasswordParams,
    pub login_quota: LoginQuota,
    pub media_url_ttl: Duration,
    /// How long a stopping server waits for requests in flight.
    pub shutdown_timeout: Duration,
    pub workers: Option<usize>,
    /// Browser origins allowed to call the API; empty: CORS is off (no
    /// CORS headers, preflights refused).
    pub cors_origins: Vec<String>,
    /// The server's public base, for the share links it makes
    /// (`PUBLIC_URL`).
    pub public_url: String,
    /// This process as a node (`NODE_ID`, `NODE_LEASE_SECONDS`).
    pub node: crate::routes::nodes::ThisNode,
    /// Whether takes are stored while they record (`LIVE_UPLOAD`), and
    /// their segments kept after the clip (`LIVE_SEGMENTS_KEEP`).
    pub live: vigil_application::live::LiveSettings,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            jwt_secret: Vec::new(),
            token_ttl: Duration::from_secs(12 * 3600),
            password_params: PasswordParams::PRODUCTION,
            login_quota: LoginQuota::default(),
            media_url_ttl: Duration::from_secs(6 * 3600),
            shutdown_timeout: Duration::from_secs(10),
            workers: None,
            cors_origins: Vec::new(),
            public_url: "http://127.0.0.1:8080".into(),
            live: Default::default(),
            node: crate::routes::nodes::ThisNode {
                id: None,
                lease: Duration::from_secs(10),
                leases: None,
            },
        }
    }
}

/// The adapters the api talks to.
#[derive(Debug, Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepo>,
    pub cameras: Arc<dyn CameraRepo>,
    pub events: Arc<dyn EventRepo>,
    /// The application's, which publishes every status change.
    pub playbacks: Arc<dyn PlaybackRepo>,
    pub shares: Arc<dyn ShareRepo>,
    /// Webhook management and their queue.
    pub webhooks: vigil_application::Webhooks,
    pub store: Arc<dyn ObjectStore>,
    /// The use cases behind events and playbacks (and their recorder),
    /// built once by the caller.
    pub recordings: Recordings,
    /// Checked by `/ready`.
    pub probes: Vec<Arc<dyn Probe>>,
    /// Where `playbacks` publishes status changes; `/playbacks/stream`
    /// reads it.
    pub playback_events: PlaybackEvents,
    /// Objects served at `/media/{key}`; only in local storage mode.
    pub local_media: Option<Arc<dyn LocalMedia>>,
    /// Signs (and checks) the URLs served under `/media`: local objects
    /// and live playlists.
    pub signer: Arc<dyn MediaSigner>,
    /// The nodes' heartbeats, for `GET /nodes`.
    pub nodes: Arc<dyn NodeRepo>,
    /// Renders the process's counters and histograms for `/metrics` (the
    /// bin installs a Prometheus recorder); none: only the gauges `/metrics`
    /// reads itself.
    pub metrics: Option<crate::routes::metrics::MetricsText>,
}

/// CORS for browser apps on `origins`: bearer tokens (not cookies, so no
/// credentials mode), JSON bodies, and the headers a `<video>` or a
/// streaming `fetch` of `/playbacks/stream` reads.
fn cors(origins: &[String]) -> actix_cors::Cors {
    use actix_web::http::{header, Method};
    let mut c = actix_cors::Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::RANGE,
            header::CACHE_CONTROL,
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::CONTENT_LENGTH,
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
        ])
        .max_age(3600);
    for o in origins {
        c = c.allowed_origin(o);
    }
    c
}

/// A bound, not yet running, HTTP server.
pub struct Application {
    port: u16,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `listener` and assembles the app. Use port 0 to let the OS pick.
    pub fn build(
        listener: TcpListener,
        settings: ApiSettings,
        ports: Ports,
    ) -> Result<Self, Error> {
        let port = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("listener address: {e}")))?
            .port();
        let keys = web::Data::new(JwtKeys::new(&settings.jwt_secret, settings.token_ttl));
        let hasher = web::Data::new(PasswordHasher::new(settings.password_params)?);
        let throttle = web::Data::new(LoginThrottle::new(settings.login_quota));
        let flow = web::Data::new(ports.recordings.clone());
        let users: web::Data<dyn UserRepo> = web::Data::from(ports.users.clone());
        let cameras: web::Data<dyn CameraRepo> = web::Data::from(ports.cameras.clone());
        let events: web::Data<dyn EventRepo> = web::Data::from(ports.events.clone());
        let playbacks: web::Data<dyn PlaybackRepo> = web::Data::from(ports.playbacks.clone());
        let store: web::Data<dyn ObjectStore> = web::Data::from(ports.store.clone());
        let shares: web::Data<dyn ShareRepo> = web::Data::from(ports.shares.clone());
        let webhooks = web::Data::new(ports.webhooks.clone());
        let share_base = web::Data::new(crate::routes::shares::ShareBase(
            settings.public_url.clone(),
        ));
        let recorder: web::Data<dyn Recorder> = web::Data::from(ports.recordings.recorder.clone());
        let probes = web::Data::new(Probes(ports.probes.clone()));
        let urls = web::Data::new(MediaUrls {
            ttl: settings.media_url_ttl,
            signer: ports.signer.clone(),
            live: settings.live,
        });
        let signer: web::Data<dyn MediaSigner> = web::Data::from(ports.signer.clone());
        let nodes: web::Data<dyn NodeRepo> = web::Data::from(ports.nodes.clone());
        let this_node = web::Data::new(settings.node.clone());
        let playback_events = web::Data::new(ports.playback_events.clone());
        let media: Option<web::Data<dyn LocalMedia>> =
            ports.local_media.clone().map(web::Data::from);
        let metrics = web::Data::new(ports.metrics.clone());
        let cors_origins = settings.cors_origins.clone();

        let mut server = HttpServer::new(move || {
            let mut app = App::new();
            if let Some(m) = &media {
                app = app.app_data(m.clone());
            }
            // CORS sits inside the JSON error handler, so a refused
            // preflight gets the contract's error body too.
            app.wrap(Condition::new(
                !cors_origins.is_empty(),
                cors(&cors_origins),
            ))
            .wrap(ErrorHandlers::new().default_handler(json_error_body))
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .wrap(TracingLogger::default())
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(keys.clone())
            .app_data(hasher.clone())
            .app_data(throttle.clone())
            .app_data(flow.clone())
            .app_data(users.clone())
            .app_data(cameras.clone())
            .app_data(events.clone())
            .app_data(playbacks.clone())
            .app_data(store.clone())
            .app_data(shares.clone())
            .app_data(share_base.clone())
            .app_data(webhooks.clone())
            .app_data(recorder.clone())
            .app_data(probes.clone())
            .app_data(urls.clone())
            .app_data(signer.clone())
            .app_data(nodes.clone())
            .app_data(this_node.clone())
            .app_data(playback_events.clone())
            .app_data(metrics.clone())
            .configure(routes::configure)
        })
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .disable_signals();
        if let Some(w) = settings.workers {
            server = server.workers(w);
        }
        let server = server
            .listen(listener)
            .map_err(|e| Error::internal(format!("listen: {e}")))?
            .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

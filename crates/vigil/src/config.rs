//! Configuration: the contract's environment variables, their defaults, and
//! their validation. This is the only place that reads the environment;
//! everything below receives typed values. A bad value stops the start with
//! one line naming the variable.

use std::{
    collections::HashMap,
    fmt,
    net::{SocketAddr, ToSocketAddrs},
    path::{Path, PathBuf},
    time::Duration,
};
use vigil_domain::RecordingTypes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {}: {}", self.var, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// S3/R2 settings (`STORAGE_MODE=r2`).
#[derive(Clone, PartialEq, Eq)]
pub struct R2Config {
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub bucket: String,
    pub region: String,
    pub public_url: Option<String>,
    /// Bytes per part of a multipart upload (`S3_PART_SIZE_MB`, 5–512,
    /// default 16): a clip's parts are stored while it records.
    pub part_size: u64,
}

impl fmt::Debug for R2Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("R2Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    Local,
    R2(R2Config),
}

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub record_dir: PathBuf,
    pub snapshot_dir: PathBuf,
    pub storage: StorageConfig,
    /// None: derive from the bound address.
    pub public_url: Option<String>,
    /// None: read or generate `$DATA_DIR/jwt_secret`.
    pub jwt_secret: Option<Secret>,
    pub admin_username: String,
    pub admin_password: Option<Secret>,
    pub ffmpeg_path: Option<PathBuf>,
    pub ffprobe_path: Option<PathBuf>,
    pub max_concurrent_recordings: usize,
    pub max_recording: Duration,
    /// How far back `occurredAt` may reach on a warm camera: its ring
    /// keeps at least this much video (`BACKDATE_MAX_SECONDS`).
    pub backdate_max: Duration,
    /// Bytes of stored clips kept in all (`RETENTION_MAX_BYTES`).
    pub retention_max_bytes: Option<u64>,
    pub log_format: LogFormat,
    pub auto_migrate: bool,
    /// Webhooks may target loopback and private addresses
    /// (`WEBHOOK_ALLOW_PRIVATE`).
    pub webhook_allow_private: bool,
    /// This node's id (`NODE_ID`); none: the one kept in `DATA_DIR`.
    pub node_id: Option<vigil_domain::NodeId>,
    /// How long a node's heartbeat counts (`NODE_LEASE_SECONDS`, 2–300,
    /// default 10).
    pub node_lease: Duration,
    /// Takes are stored while they record (`LIVE_UPLOAD`, default on), and
    /// their segments kept after the clip (`LIVE_SEGMENTS_KEEP`).
    pub live: vigil_application::live::LiveSettings,
    /// The wait after a webhook's first failed attempt
    /// (`WEBHOOK_RETRY_SECONDS`, 1–3600, default 10).
    pub webhook_retry_seconds: u32,
    pub recording_types: RecordingTypes,
    pub token_ttl: Duration,
    pub media_url_ttl: Duration,
    /// How long an upload job is held without renewal; after a crash
    /// another server (or the next start) takes it up after this.
    pub job_lease: Duration,
    /// First delay before retrying an upload while the store is down.
    pub upload_retry: Duration,
    /// Finished playbacks older than this are deleted, unless their camera
    /// sets its own `retentionDays`. None: kept.
    pub retention: Option<vigil_domain::RetentionDays>,
    /// Origins allowed to call the API from a browser (`CORS_ORIGINS`);
    /// empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// The MQTT broker (`MQTT_URL`, `MQTT_TOPIC_PREFIX`,
    /// `MQTT_FRIGATE_TOPIC`); None: no MQTT.
    pub mqtt: Option<vigil_push::MqttConfig>,
}

/// The variables read, for `--help`-like listings and tests.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

type Env = HashMap<String, String>;

fn get<'a>(env: &'a Env, var: &str) -> Option<&'a str> {
    env.get(var).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn parse_bool(env: &Env, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    match get(env, var).map(|s| s.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(err(var, format!("expected true or false, got {v:?}"))),
    }
}

fn parse_u64(
    env: &Env,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match get(env, var) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(err(
                var,
                format!("expected a whole number from {min} to {max}, got {v:?}"),
            )),
        },
    }
}

fn parse_http_url(var: &'static str, v: &str) -> Result<String, ConfigError> {
    let u = url::Url::parse(v).map_err(|e| err(var, format!("not a valid URL ({e})")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(err(var, "must be an http:// or https:// URL with a host"));
    }
    Ok(v.trim_end_matches('/').to_owned())
}

/// `CORS_ORIGINS`: comma-separated origins (`scheme://host[:port]`, no
/// path), each normalized the way browsers send `Origin`.
fn parse_origins(env: &Env) -> Result<Vec<String>, ConfigError> {
    const VAR: &str = "CORS_ORIGINS";
    let Some(raw) = get(env, VAR) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for o in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if o == "*" {
            return Err(err(VAR, "list the origins; \"*\" is not accepted"));
        }
        let u = url::Url::parse(o).map_err(|_| err(VAR, format!("{o:?} is not an origin")))?;
        let bare = u.path() == "/" && u.query().is_none() && u.fragment().is_none();
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() || !bare {
            return Err(err(
                VAR,
                format!("{o:?} is not an origin (scheme://host[:port], no path)"),
            ));
        }
        out.push(u.origin().ascii_serialization());
    }
    Ok(out)
}

/// How many recordings this machine holds by default: copy-mode ffmpeg costs
/// about 1 % of a core and 50–60 MB per 1080p stream (docs/benchmarks.md),
/// so memory is the bound; keep a third of it for everything else.
pub fn default_max_recordings() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(2048);
    let by_mem = (mem_mb * 2 / 3 / 64) as usize;
    by_mem.min(cores * 50).max(1)
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(&std::env::vars().collect())
    }

    pub fn from_map(env: &Env) -> Result<Self, ConfigError> {
        let http_raw = get(env, "HTTP_ADDR").unwrap_or("127.0.0.1:8080");
        let http_addr = http_raw
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| err("HTTP_ADDR", format!("expected host:port, got {http_raw:?}")))?;

        let data_dir = PathBuf::from(get(env, "DATA_DIR").unwrap_or("./data"));
        let database_url = match get(env, "DATABASE_URL") {
            Some(u) => u.to_owned(),
            None => format!("sqlite://{}/vigil.db?mode=rwc", data_dir.display()),
        };
        let scheme = database_url.split("://").next().unwrap_or("");
        if !database_url.contains("://") || !matches!(scheme, "sqlite" | "postgres" | "postgresql")
        {
            return Err(err(
                "DATABASE_URL",
                "expected sqlite://PATH?mode=rwc or postgres://USER:PASSWORD@HOST/DB",
            ));
        }
        let record_dir = get(env, "RECORD_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("recordings"));
        let snapshot_dir = get(env, "SNAPSHOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("snapshots"));

        let storage = match get(env, "STORAGE_MODE")
            .unwrap_or("local")
            .to_ascii_lowercase()
            .as_str()
        {
            "local" => StorageConfig::Local,
            "r2" | "s3" => {
                let need = |var: &'static str| {
                    get(env, var)
                        .map(str::to_owned)
                        .ok_or_else(|| err(var, "required when STORAGE_MODE=r2"))
                };
                StorageConfig::R2(R2Config {
                    endpoint: parse_http_url("R2_ENDPOINT", &need("R2_ENDPOINT")?)?,
                    access_key_id: need("R2_ACCESS_KEY_ID")?,
                    secret_access_key: need("R2_SECRET_ACCESS_KEY")?,
                    bucket: need("R2_BUCKET_NAME")?,
                    region: get(env, "R2_REGION").unwrap_or("auto").to_owned(),
                    public_url: get(env, "R2_PUBLIC_URL")
                        .map(|u| parse_http_url("R2_PUBLIC_URL", u))
                        .transpose()?,
                    part_size: parse_u64(env, "S3_PART_SIZE_MB", 16, 5, 512)? * 1024 * 1024,
                })
            }
            other => {
                return Err(err(
                    "STORAGE_MODE",
                    format!("expected local or r2, got {other:?}"),
                ))
            }
        };

        let public_url = get(env, "PUBLIC_URL")
            .map(|u| parse_http_url("PUBLIC_URL", u))
            .transpose()?;

        let jwt_secret = match get(env, "JWT_SECRET") {
            Some(s) if s.len() < MIN_JWT_SECRET_BYTES => {
                return Err(err(
                    "JWT_SECRET",
                    format!("must be at least {MIN_JWT_SECRET_BYTES} bytes (got {}); e.g. `openssl rand -hex 32`", s.len()),
                ))
            }
            Some(s) => Some(Secret(s.to_owned())),
            None => None,
        };

        let admin_username = get(env, "ADMIN_USERNAME").unwrap_or("admin").to_owned();
        vigil_domain::Username::parse(&admin_username).map_err(|e| err("ADMIN_USERNAME", e))?;
        let admin_password = match get(env, "ADMIN_PASSWORD") {
            Some(p) => {
                vigil_domain::Password::parse(p.to_owned())
                    .map_err(|e| err("ADMIN_PASSWORD", e))?;
                Some(Secret(p.to_owned()))
            }
            None => None,
        };

        let max_concurrent_recordings = parse_u64(
            env,
            "MAX_CONCURRENT_RECORDINGS",
            default_max_recordings() as u64,
            1,
            100_000,
        )? as usize;
        let max_recording = Duration::from_secs(parse_u64(
            env,
            "MAX_RECORDING_SECONDS",
            3600,
            1,
            7 * 24 * 3600,
        )?);
        let retention_max_bytes = match get(env, "RETENTION_MAX_BYTES") {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .map_err(|_| err("RETENTION_MAX_BYTES", "must be a number of bytes"))
                    .and_then(|b| {
                        vigil_domain::camera::parse_max_bytes("RETENTION_MAX_BYTES", b)
                            .map_err(|e| err("RETENTION_MAX_BYTES", e))
                    })?,
            ),
        };
        let backdate_max = Duration::from_secs(parse_u64(env, "BACKDATE_MAX_SECONDS", 10, 0, 300)?);
        let log_format = match get(env, "LOG_FORMAT")
            .unwrap_or("pretty")
            .to_ascii_lowercase()
            .as_str()
        {
            "pretty" | "text" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(err(
                    "LOG_FORMAT",
                    format!("expected pretty or json, got {other:?}"),
                ))
            }
        };
        let recording_types = match get(env, "RECORDING_EVENT_TYPES") {
            None => RecordingTypes::default(),
            Some(list) => RecordingTypes::parse(list).map_err(|e| {
                err(
                    "RECORDING_EVENT_TYPES",
                    format!(
                        "{e}; expected a list of {}",
                        vigil_domain::EventType::names()
                    ),
                )
            })?,
        };

        Ok(Self {
            http_addr,
            database_url,
            record_dir,
            snapshot_dir,
            storage,
            public_url,
            jwt_secret,
            admin_username,
            admin_password,
            ffmpeg_path: get(env, "FFMPEG_PATH").map(PathBuf::from),
            ffprobe_path: get(env, "FFPROBE_PATH").map(PathBuf::from),
            max_concurrent_recordings,
            max_recording,
            backdate_max,
            retention_max_bytes,
            log_format,
            auto_migrate: parse_bool(env, "AUTO_MIGRATE", true)?,
            webhook_allow_private: parse_bool(env, "WEBHOOK_ALLOW_PRIVATE", false)?,
            node_id: match get(env, "NODE_ID") {
                None => None,
                Some(v) => Some(v.parse().map_err(|message| ConfigError {
                    var: "NODE_ID",
                    message,
                })?),
            },
            node_lease: Duration::from_secs(parse_u64(env, "NODE_LEASE_SECONDS", 10, 2, 300)?),
            live: vigil_application::live::LiveSettings {
                enabled: parse_bool(env, "LIVE_UPLOAD", true)?,
                keep: parse_bool(env, "LIVE_SEGMENTS_KEEP", false)?,
            },
            webhook_retry_seconds: match get(env, "WEBHOOK_RETRY_SECONDS") {
                None => 10,
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .ok_or_else(|| err("WEBHOOK_RETRY_SECONDS", "must be 1 to 3600 seconds"))?,
            },
            recording_types,
            token_ttl: Duration::from_secs(parse_u64(
                env,
                "JWT_TTL_SECONDS",
                12 * 3600,
                60,
                30 * 24 * 3600,
            )?),
            media_url_ttl: Duration::from_secs(parse_u64(
                env,
                "MEDIA_URL_TTL_SECONDS",
                6 * 3600,
                60,
                7 * 24 * 3600,
            )?),
            job_lease: Duration::from_secs(parse_u64(env, "JOB_LEASE_SECONDS", 60, 2, 3600)?),
            upload_retry: Duration::from_secs(parse_u64(env, "UPLOAD_RETRY_SECONDS", 30, 1, 3600)?),
            retention: match get(env, "RETENTION_DAYS") {
                None | Some("") => None,
                Some(v) => Some(
                    v.parse::<i64>()
                        .map_err(|_| format!("expected a number of days, got {v:?}"))
                        .and_then(vigil_domain::RetentionDays::parse)
                        .map_err(|e| err("RETENTION_DAYS", e))?,
                ),
            },
            cors_origins: parse_origins(env)?,
            mqtt: match get(env, "MQTT_URL") {
                None | Some("") => None,
                Some(url) => Some(
                    vigil_push::MqttConfig::parse(
                        url,
                        get(env, "MQTT_TOPIC_PREFIX").unwrap_or("vigil"),
                        get(env, "MQTT_FRIGATE_TOPIC")
                            .filter(|t| !t.is_empty())
                            .map(str::to_owned),
                    )
                    .map_err(|e| err("MQTT_URL", e))?,
                ),
            },
            data_dir,
        })
    }
}

/// Finds an executable: the configured path, or `name` on `PATH`.
pub fn find_executable(
    var: &'static str,
    configured: Option<&Path>,
    name: &str,
) -> Result<PathBuf, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if let Some(p) = configured {
        return if is_exec(p) {
            Ok(p.to_owned())
        } else {
            Err(err(
                var,
                format!("{} is not an executable file", p.display()),
            ))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| is_exec(p))
        .ok_or_else(|| {
            err(
                var,
                format!(
                    "{name} not found on PATH; install it (apt-get install ffmpeg) or set {var}"
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_environment_gives_the_embedded_default() {
        let c = Config::from_map(&Env::new()).unwrap();
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://./data/vigil.db?mode=rwc");
        assert_eq!(c.record_dir, PathBuf::from("./data/recordings"));
        assert_eq!(c.snapshot_dir, PathBuf::from("./data/snapshots"));
        assert_eq!(c.storage, StorageConfig::Local);
        assert_eq!(c.max_recording, Duration::from_secs(3600));
        assert_eq!(c.backdate_max, Duration::from_secs(10));
        assert!(c.auto_migrate && c.jwt_secret.is_none() && c.admin_password.is_none());
        assert_eq!(c.admin_username, "admin");
        assert!(c.max_concurrent_recordings >= 1);
        assert_eq!(c.log_format, LogFormat::Pretty);
    }

    #[test]
    fn cors_origins_are_parsed_and_checked() {
        let c = Config::from_map(&Env::new()).unwrap();
        assert!(c.cors_origins.is_empty(), "off by default");
        let c = Config::from_map(&env(&[(
            "CORS_ORIGINS",
            "https://a.example.org, http://localhost:5173,HTTPS://B.example.org/",
        )]))
        .unwrap();
        assert_eq!(
            c.cors_origins,
            [
                "https://a.example.org",
                "http://localhost:5173",
                "https://b.example.org"
            ]
        );
        for bad in ["*", "a.example.org", "https://a.example.org/app", "ftp://x"] {
            let e = Config::from_map(&env(&[("CORS_ORIGINS", bad)])).unwrap_err();
            assert!(e.to_string().contains("CORS_ORIGINS"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("HTTP_ADDR", "nope")], "HTTP_ADDR"),
            (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (&[("JWT_SECRET", "short")], "JWT_SECRET"),
            (&[("STORAGE_MODE", "r2")], "R2_ENDPOINT"),
            (
                &[
                    ("STORAGE_MODE", "r2"),
                    ("R2_ENDPOINT", "http://127.0.0.1:9000"),
                ],
                "R2_ACCESS_KEY_ID",
            ),
            (&[("STORAGE_MODE", "ftp")], "STORAGE_MODE"),
            (
                &[("MAX_CONCURRENT_RECORDINGS", "0")],
                "MAX_CONCURRENT_RECORDINGS",
            ),
            (&[("MAX_RECORDING_SECONDS", "abc")], "MAX_RECORDING_SECONDS"),
            (&[("LOG_FORMAT", "xml")], "LOG_FORMAT"),
            (&[("AUTO_MIGRATE", "maybe")], "AUTO_MIGRATE"),
            (&[("PUBLIC_URL", "ftp://x")], "PUBLIC_URL"),
            (&[("ADMIN_PASSWORD", "short")], "ADMIN_PASSWORD"),
            (
                &[("RECORDING_EVENT_TYPES", "MOTION,NOPE")],
                "RECORDING_EVENT_TYPES",
            ),
        ];
        for (pairs, var) in cases {
            let e = Config::from_map(&env(pairs)).unwrap_err();
            assert_eq!(e.var, *var, "{pairs:?}: {e}");
            assert!(e
                .to_string()
                .starts_with(&format!("configuration error: {var}:")));
        }
    }

    #[test]
    fn r2_mode_reads_every_variable_and_hides_the_secret() {
        let c = Config::from_map(&env(&[
            ("STORAGE_MODE", "r2"),
            ("R2_ENDPOINT", "https://acct.r2.cloudflarestorage.com"),
            ("R2_ACCESS_KEY_ID", "AKID"),
            ("R2_SECRET_ACCESS_KEY", "topsecret"),
            ("R2_BUCKET_NAME", "clips"),
            ("R2_PUBLIC_URL", "https://cdn.example/"),
        ]))
        .unwrap();
        let StorageConfig::R2(r2) = &c.storage else {
            panic!("not r2")
        };
        assert_eq!(r2.region, "auto");
        assert_eq!(r2.public_url.as_deref(), Some("https://cdn.example"));
        assert!(!format!("{c:?}").contains("topsecret"));
    }

    #[test]
    fn data_dir_moves_every_derived_path() {
        let c = Config::from_map(&env(&[
            ("DATA_DIR", "/var/lib/vigil"),
            ("JWT_SECRET", &"s".repeat(32)),
        ]))
        .unwrap();
        assert_eq!(c.database_url, "sqlite:///var/lib/vigil/vigil.db?mode=rwc");
        assert_eq!(c.record_dir, PathBuf::from("/var/lib/vigil/recordings"));
        assert!(!format!("{c:?}").contains(&"s".repeat(32)));
    }
}

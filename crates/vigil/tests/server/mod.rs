//! The `vigil` binary as a child process of a test: started on a free
//! port with a known admin password, stopped with SIGTERM when dropped.
//! (Each test crate uses part of it.)
#![allow(dead_code)]

use crate::camera::free_port;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const PASSWORD: &str = "e2e-admin-password";

pub struct Server {
    pub child: Child,
    pub base: String,
    pub env: Vec<(String, String)>,
}

impl Server {
    pub fn start(env: Vec<(String, String)>) -> Self {
        Self::start_logging(env, None)
    }

    /// Started inside network namespace `netns`, listening on `ip` there,
    /// its log written to `log`.
    pub fn start_in_netns(
        env: Vec<(String, String)>,
        netns: &str,
        ip: &str,
        log: &std::path::Path,
    ) -> Self {
        Self::start_where(env, Some(log), Some((netns, ip)))
    }

    /// Started with its log (stdout and stderr) written to `log`.
    pub fn start_logged(env: Vec<(String, String)>, log: &std::path::Path) -> Self {
        Self::start_logging(env, Some(log))
    }

    fn start_logging(env: Vec<(String, String)>, log: Option<&std::path::Path>) -> Self {
        Self::start_where(env, log, None)
    }

    fn start_where(
        env: Vec<(String, String)>,
        log: Option<&std::path::Path>,
        netns: Option<(&str, &str)>,
    ) -> Self {
        let port = free_port();
        let host = netns.map_or("127.0.0.1", |(_, ip)| ip);
        let output = || match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ),
            None if std::env::var_os("TEST_LOG").is_some() => Stdio::inherit(),
            None => Stdio::null(),
        };
        let mut cmd = match netns {
            // `ip netns exec` execs the binary: the child's pid is vigil's.
            Some((ns, _)) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_vigil")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_vigil")),
        };
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HTTP_ADDR", format!("{host}:{port}"))
            .env("ADMIN_PASSWORD", PASSWORD)
            .env("JWT_SECRET", "e2e-secret-e2e-secret-e2e-secret-1")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(output())
            .stderr(output());
        let child = cmd.spawn().unwrap();
        let s = Server {
            child,
            base: format!("http://{host}:{port}"),
            env,
        };
        s.wait_healthy();
        s
    }

    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if answers_ok(&format!("{}/health", self.base)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server did not become healthy");
    }

    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn restart(mut self) -> Self {
        self.kill_hard();
        Server::start(std::mem::take(&mut self.env))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGTERM: the server stops its recordings cleanly.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET url` answers 200; plain std, usable outside a runtime.
pub fn answers_ok(url: &str) -> bool {
    use std::io::{Read, Write};
    let Some((host, path)) = url.strip_prefix("http://").and_then(|r| r.split_once('/')) else {
        return false;
    };
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200")
}

/// The test S3 server's endpoint, with a fresh bucket for this process.
pub async fn s3_endpoint() -> String {
    let s3 = std::env::var("VIGIL_TEST_S3_ENDPOINT")
        .expect("VIGIL_TEST_S3_ENDPOINT is not set: run tools/test");
    reqwest::Client::new()
        .put(format!("{s3}/{}", bucket()))
        .send()
        .await
        .unwrap();
    s3
}

pub fn bucket() -> String {
    format!("e2e-{}", std::process::id())
}

/// A server's environment: `database_url`, objects in S3 at `endpoint`.
pub fn r2_env(
    data: &std::path::Path,
    database_url: String,
    endpoint: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    [
        ("DATA_DIR", data.display().to_string()),
        ("DATABASE_URL", database_url),
        ("STORAGE_MODE", "r2".into()),
        ("R2_ENDPOINT", endpoint.to_owned()),
        ("R2_ACCESS_KEY_ID", "e2e".into()),
        ("R2_SECRET_ACCESS_KEY", "e2e-secret".into()),
        ("R2_BUCKET_NAME", bucket()),
    ]
    .into_iter()
    .chain(extra.iter().map(|(k, v)| (*k, (*v).to_owned())))
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub fn sqlite_url(data: &std::path::Path) -> String {
    format!("sqlite://{}/vigil.db?mode=rwc", data.display())
}

/// An S3 server owned by one test (s3s-fs, which keeps objects in a
/// folder), so the test can kill it with SIGKILL and start it again on the
/// same port and data.
pub struct OwnS3 {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl OwnS3 {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(bucket())).unwrap();
        let port = free_port();
        let child = Self::spawn(port, dir.path());
        OwnS3 { child, port, dir }
    }

    pub fn spawn(port: u16, dir: &std::path::Path) -> Child {
        let bin = std::env::var("VIGIL_TEST_S3S_FS")
            .expect("VIGIL_TEST_S3S_FS is not set: run tools/test (it installs s3s-fs)");
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "e2e", "--secret-key", "e2e-secret"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn restart(&mut self) {
        self.child = Self::spawn(self.port, self.dir.path());
    }
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

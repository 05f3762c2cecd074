//! A network namespace of the test's own, with a veth pair to the host: a
//! second host on one machine. The host side has two addresses, one for
//! PostgreSQL and one for everything else (camera, S3), so the database
//! alone can be cut off from the namespace by a blackhole route: packets
//! are dropped, connections hang, as in a real partition. Needs root
//! (`ip netns add`); removed, with its veth, when dropped.
#![allow(dead_code)]

use std::{net::SocketAddr, process::Command};
use tokio::net::{TcpListener, TcpStream};

pub struct Netns {
    pub name: String,
    host_if: String,
    /// The third octet of its 10.77.N.0/24.
    n: u32,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    pub fn new() -> Self {
        let pid = std::process::id();
        let n = pid % 250 + 1;
        let name = format!("vigil-test-{pid}");
        let (host_if, ns_if) = (format!("vh{pid}"), format!("vn{pid}"));
        ip(&["netns", "add", &name]);
        let me = Self {
            name: name.clone(),
            host_if: host_if.clone(),
            n,
        };
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", me.host_ip()),
            "dev",
            &host_if,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/32", me.db_ip()),
            "dev",
            &host_if,
        ]);
        ip(&["link", "set", &host_if, "up"]);
        me.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", me.ns_ip()),
            "dev",
            &ns_if,
        ]);
        me.exec(&["ip", "link", "set", &ns_if, "up"]);
        me.exec(&["ip", "link", "set", "lo", "up"]);
        me.exec(&[
            "ip",
            "route",
            "add",
            &format!("{}/32", me.db_ip()),
            "dev",
            &ns_if,
        ]);
        me
    }

    fn exec(&self, cmd: &[&str]) {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(cmd);
        ip(&args);
    }

    /// The host's address for the camera and S3, seen from both sides.
    pub fn host_ip(&self) -> String {
        format!("10.77.{}.1", self.n)
    }

    /// The host's address for PostgreSQL.
    pub fn db_ip(&self) -> String {
        format!("10.77.{}.5", self.n)
    }

    /// The namespace's own address.
    pub fn ns_ip(&self) -> String {
        format!("10.77.{}.2", self.n)
    }

    /// Drops, inside the namespace, every packet to PostgreSQL.
    pub fn cut_db(&self) {
        self.exec(&[
            "ip",
            "route",
            "replace",
            "blackhole",
            &format!("{}/32", self.db_ip()),
        ]);
    }

    /// Routes to PostgreSQL again.
    pub fn heal_db(&self) {
        self.exec(&[
            "ip",
            "route",
            "del",
            "blackhole",
            &format!("{}/32", self.db_ip()),
        ]);
        let ns_if = self.host_if.replacen("vh", "vn", 1);
        self.exec(&[
            "ip",
            "route",
            "add",
            &format!("{}/32", self.db_ip()),
            "dev",
            &ns_if,
        ]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
    }
}

/// Forwards TCP from `bind` (a free port on that address) to `to`, for as
/// long as the runtime runs; returns the port.
pub async fn forward(bind: &str, to: SocketAddr) -> u16 {
    let l = TcpListener::bind((bind, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            tokio::spawn(async move {
                if let Ok(mut out) = TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    port
}

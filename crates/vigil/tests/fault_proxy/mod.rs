//! A TCP proxy in front of the S3 server whose behaviour a test switches:
//! forward, refuse (connections closed at once, as when the store is down),
//! or stall (connections accepted and never answered, as when the store
//! hangs mid-upload). Switching closes the connections already open, so a
//! pooled keep-alive connection can't slip past the new mode. Plain std
//! threads: it outlives any one async runtime.

use std::{
    io,
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Refuse,
    Stall,
}

#[derive(Default)]
struct Shared {
    mode: Mutex<Option<Mode>>,
    open: Mutex<Vec<TcpStream>>,
    refused: AtomicUsize,
    stalled: AtomicUsize,
    unreachable: AtomicUsize,
    stop: AtomicBool,
}

pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on a free loopback port, forwarding to `upstream`
    /// (`http://host:port`).
    pub fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        *shared.mode.lock().unwrap() = Some(Mode::Forward);
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let mode = s.mode.lock().unwrap().unwrap_or(Mode::Forward);
                match mode {
                    Mode::Refuse => {
                        s.refused.fetch_add(1, Ordering::SeqCst);
                        let _ = client.shutdown(Shutdown::Both);
                    }
                    Mode::Stall => {
                        s.stalled.fetch_add(1, Ordering::SeqCst);
                        s.open.lock().unwrap().push(client);
                    }
                    Mode::Forward => {
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            s.unreachable.fetch_add(1, Ordering::SeqCst);
                            continue;
                        };
                        let mut open = s.open.lock().unwrap();
                        open.push(client.try_clone().unwrap());
                        open.push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                }
            }
        });
        FaultProxy { url, shared }
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = Some(mode);
        for c in self.shared.open.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Connections refused so far.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Connections forwarded to an upstream that was not there.
    pub fn unreachable(&self) -> usize {
        self.shared.unreachable.load(Ordering::SeqCst)
    }

    /// Connections held without an answer so far.
    pub fn stalled(&self) -> usize {
        self.shared.stalled.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.set(Mode::Refuse);
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let _: io::Result<u64> = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

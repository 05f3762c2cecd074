//! Uploads one file with the S3 store and prints the time and this
//! process's peak RSS, for `tools/bench`:
//!
//! ```sh
//! cargo run --release -p vigil-storage --example upload_bench -- ENDPOINT BUCKET FILE
//! ```

#![allow(clippy::expect_used)] // a benchmark tool: fail loudly

use std::{path::Path, time::Instant};
use vigil_domain::ports::ObjectStore;
use vigil_storage::{S3Settings, S3Store, Transfer, PARTS_IN_FLIGHT, PART_SIZE};

/// Overrides for trying other transfer shapes.
fn env_or(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (endpoint, bucket, file) = (&a[0], &a[1], Path::new(&a[2]));
    let store = S3Store::new(S3Settings {
        endpoint: endpoint.clone(),
        region: "auto".into(),
        bucket: bucket.clone(),
        access_key_id: "bench".into(),
        secret_access_key: "bench-secret".into(),
        public_url: None,
        retry_deadline: std::time::Duration::from_secs(120),
        request_timeout: std::time::Duration::from_secs(120),
        transfer: Transfer {
            part_size: env_or("VIGIL_BENCH_PART_MIB", PART_SIZE >> 20) << 20,
            parts_in_flight: env_or("VIGIL_BENCH_PARTS_IN_FLIGHT", PARTS_IN_FLIGHT as u64) as usize,
        },
    })
    .expect("store");
    let t = Instant::now();
    let n = store
        .put_file("bench/vigil.bin", file, "video/mp4")
        .await
        .expect("upload");
    let secs = t.elapsed().as_secs_f64();
    println!("{secs:.3} {:.1} {n}", peak_rss_mb());
}

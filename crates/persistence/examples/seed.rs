//! Fills a database for the API latency benchmark (`tools/bench api`):
//! migrates it, adds one camera and N events with COMPLETED playbacks.
//!
//! ```sh
//! cargo run --release -p vigil-persistence --features test-util --example seed -- DATABASE_URL N
//! ```

#![allow(clippy::expect_used)] // a benchmark tool: fail loudly

use vigil_domain::{CameraName, NewCamera, RtspUrl};
use vigil_persistence::{testing::seed_completed_playbacks, Database};

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (url, n) = (&a[0], a[1].parse::<usize>().expect("N"));
    let db = Database::connect(url).await.expect("connect");
    db.migrate().await.expect("migrate");
    let cam = db
        .cameras()
        .create(NewCamera {
            name: CameraName::parse("Bench camera").expect("name"),
            rtsp_url: RtspUrl::parse("rtsp://127.0.0.1:1/bench").expect("url"),
            n_channel_id: None,
            pre_roll: Default::default(),
            post_roll: Default::default(),
            retention: None,
            retention_max_bytes: None,
            merge: Default::default(),
            transcode: Default::default(),
        })
        .await
        .expect("camera");
    let t = std::time::Instant::now();
    seed_completed_playbacks(&db, cam.id, n).await;
    eprintln!("seeded {n} playbacks in {:.1} s", t.elapsed().as_secs_f64());
}

//! Records an RTSP camera for N seconds into a faststart MP4:
//!
//! ```sh
//! cargo run -p vigil-recorder --example record -- rtsp://user:pass@10.0.0.7/stream1 10 /tmp/rec
//! ```
//!
//! Ctrl-C stops early and still keeps what was recorded.

use std::time::Duration;
use vigil_domain::RtspUrl;
use vigil_recorder::{FfmpegRecorder, RecorderConfig, RecorderEvent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(secs)) = (args.next(), args.next()) else {
        eprintln!("usage: record RTSP_URL SECONDS [DIR]");
        std::process::exit(2);
    };
    let dir = args.next().unwrap_or_else(|| "recordings".into());
    let url = RtspUrl::parse(&url)?;
    let secs: u64 = secs.parse()?;

    let rec = FfmpegRecorder::new(RecorderConfig::new(
        "ffmpeg".into(),
        "ffprobe".into(),
        dir.into(),
    ));
    let id = format!(
        "clip-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let mut recording = rec.start(&id, url.clone())?;
    println!(
        "recording {url} for {secs} s into {}",
        recording.dir().display()
    );
    let stop = recording.stop_handle();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        stop.stop();
    });
    while let Some(ev) = recording.next_event().await {
        match ev {
            RecorderEvent::MediaWritten => println!("recording"),
            RecorderEvent::Reconnecting { attempt, reason } => {
                println!("camera dropped ({reason}); reconnect {attempt}")
            }
            RecorderEvent::Resumed { away } => {
                println!("camera back after {:.1} s", away.as_secs_f64())
            }
            RecorderEvent::Finished(Ok(clip)) => {
                let m = &clip.info.media;
                println!(
                    "{}: {:.1} s, {} {}, {} bytes",
                    clip.path.display(),
                    m.duration_sec.unwrap_or(0.0),
                    m.codec.as_deref().unwrap_or("?"),
                    m.resolution.as_deref().unwrap_or("?"),
                    m.file_size_bytes.unwrap_or(0)
                );
            }
            RecorderEvent::Finished(Err(e)) => {
                eprintln!("failed: {e}");
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

//! Benchmarks of the recorder against a running camera (`tools/bench`
//! starts one and calls this):
//!
//! ```sh
//! cargo run --release -p vigil-recorder --example bench -- start RTSP_URL RUNS
//! cargo run --release -p vigil-recorder --example bench -- concurrent RTSP_URL N SECONDS
//! ```
//!
//! `start`: time from the start request to the first frame muxed, Vigil's
//! recorder against bare `ffmpeg -rtsp_transport tcp -i URL -c copy out.mp4`
//! (first `-progress` block with frames), alternating, same camera, same run.
//! `concurrent`: N recordings at once for SECONDS; CPU and RSS of the
//! ffmpeg processes from /proc.
//! `preroll`: from a recording asked of a warm ring (5 s pre-roll) to its
//! first media, against bare ffmpeg's spawn → first frame, alternating.
//! `transcode`: SECONDS of 1080p H.265 parts joined by copy and
//! re-encoded to H.264: CPU per clip-second of each.
//! `warm`: N warm cameras for SECONDS: CPU, RSS and disk writes of their
//! ffmpegs, this process's CPU (the ring scans), and the rings' size.
//!
//! ```sh
//! cargo run --release -p vigil-recorder --example bench -- preroll RTSP_URL RUNS
//! cargo run --release -p vigil-recorder --example bench -- warm RTSP_URL N SECONDS
//! ```

#![allow(clippy::expect_used)] // a benchmark tool: fail loudly

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};
use tokio::io::{AsyncBufReadExt, BufReader};
use vigil_domain::RtspUrl;
use vigil_recorder::{FfmpegRecorder, RecorderConfig, RecorderEvent, Ring};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn bare_ffmpeg(url: &str, dir: &Path) -> f64 {
    let out = dir.join(format!("bare-{}.mp4", rand_id()));
    let t0 = Instant::now();
    let mut child = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostats",
            "-progress",
            "pipe:1",
            "-rtsp_transport",
            "tcp",
            "-i",
            url,
            "-c",
            "copy",
            "-y",
        ])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut elapsed = f64::NAN;
    while let Ok(Some(l)) = lines.next_line().await {
        if let Some(n) = l.strip_prefix("frame=") {
            if n.trim().parse::<u64>().unwrap_or(0) > 0 {
                elapsed = t0.elapsed().as_secs_f64();
                break;
            }
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    let _ = std::fs::remove_file(out);
    elapsed
}

async fn vigil(rec: &FfmpegRecorder, url: &RtspUrl) -> f64 {
    let t0 = Instant::now();
    to_first_media(t0, rec.start(&rand_id(), url.clone()).expect("start")).await
}

/// From asking a warm ring for a recording to its first media.
async fn from_ring(ring: &Ring) -> f64 {
    let t0 = Instant::now();
    let r = ring
        .record(&rand_id(), Duration::from_secs(5), Duration::ZERO)
        .expect("record");
    to_first_media(t0, r).await
}

/// Seconds from `t0` to the recording's first media; then stops it and
/// removes its files.
async fn to_first_media(t0: Instant, mut r: vigil_recorder::Recording) -> f64 {
    let mut elapsed = f64::NAN;
    while let Some(ev) = r.next_event().await {
        match ev {
            RecorderEvent::MediaWritten => {
                elapsed = t0.elapsed().as_secs_f64();
                r.stop();
            }
            RecorderEvent::Finished(res) => {
                if let Ok(clip) = res {
                    let _ = clip.remove_files().await;
                }
                break;
            }
            _ => {}
        }
    }
    elapsed
}

async fn until_warm(ring: &Ring) {
    let t = Instant::now();
    while !(ring.is_warm() && ring.disk_usage().0 > 6) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the ring never got warm"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Bytes written to storage by every ffmpeg (`/proc/PID/io`).
fn ffmpeg_write_bytes() -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) else {
            continue;
        };
        if comm.trim() != "ffmpeg" {
            continue;
        }
        let io = std::fs::read_to_string(e.path().join("io")).unwrap_or_default();
        total += io
            .lines()
            .find_map(|l| l.strip_prefix("wchar: "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// utime + stime of this process, in clock ticks.
fn own_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn rand_id() -> String {
    format!(
        "b{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// (utime+stime ticks, rss bytes) of every ffmpeg process.
fn ffmpeg_usage() -> (u64, u64, usize) {
    let mut ticks = 0;
    let mut rss = 0;
    let mut n = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        if !stat[..close].ends_with("(ffmpeg") {
            continue;
        }
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        ticks += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        rss += f.get(21).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 4096;
        n += 1;
    }
    (ticks, rss, n)
}

/// CPU seconds of the reaped children of this process (`cutime + cstime`).
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let close = stat.rfind(')').expect("stat");
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ticks: u64 = f[13].parse::<u64>().expect("cutime") + f[14].parse::<u64>().expect("cstime");
    ticks as f64 / 100.0
}

/// Runs one join (under `nice` when asked); its CPU and wall seconds.
fn timed_join(args: Vec<String>, nice: bool) -> (f64, f64) {
    let (cpu0, t0) = (children_cpu(), Instant::now());
    let mut cmd = if nice {
        let mut c = std::process::Command::new("nice");
        c.args(["-n", "10", "ffmpeg"]);
        c
    } else {
        std::process::Command::new("ffmpeg")
    };
    let status = cmd.args(args).status().expect("ffmpeg");
    assert!(status.success(), "join failed");
    (children_cpu() - cpu0, t0.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile_dir();
    let rec = FfmpegRecorder::new(RecorderConfig::new(
        "ffmpeg".into(),
        "ffprobe".into(),
        dir.clone(),
    ));
    match a.first().map(String::as_str) {
        Some("start") => {
            let url = &a[1];
            let runs: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
            let parsed = RtspUrl::parse(url).expect("url");
            let (mut bare, mut ours) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                bare.push(bare_ffmpeg(url, &dir).await);
                ours.push(vigil(&rec, &parsed).await);
            }
            let (mb, mo) = (median(&mut bare), median(&mut ours));
            println!(
                "| start → first frame muxed, median of {runs} | {mo:.3} s | {mb:.3} s | {:.2} |",
                mo / mb
            );
            println!(
                "| (min / max, Vigil) | {:.3} / {:.3} s | {:.3} / {:.3} s (bare) | |",
                ours[0],
                ours[runs - 1],
                bare[0],
                bare[runs - 1]
            );
        }
        Some("concurrent") => {
            let url = RtspUrl::parse(&a[1]).expect("url");
            let n: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
            let secs: u64 = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(30);
            let mut recs = Vec::new();
            // Staggered: the one test camera (a shared GStreamer media) refuses
            // clients that DESCRIBE at the very same instant; real cameras are
            // separate servers.
            for _ in 0..n {
                recs.push(rec.start(&rand_id(), url.clone()).expect("start"));
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            let mut started = 0;
            for r in recs.iter_mut() {
                match tokio::time::timeout(Duration::from_secs(60), r.next_event()).await {
                    Ok(Some(RecorderEvent::MediaWritten)) => started += 1,
                    other => eprintln!("{}: {other:?}", r.id()),
                }
            }
            let tick = 100.0; // USER_HZ
            let (t0, _, _) = ffmpeg_usage();
            let w0 = Instant::now();
            tokio::time::sleep(Duration::from_secs(secs)).await;
            let (t1, rss, alive) = ffmpeg_usage();
            let cpu = (t1 - t0) as f64 / tick / w0.elapsed().as_secs_f64();
            for r in &recs {
                r.stop();
            }
            let mut ok = 0;
            for r in recs {
                if let Ok(clip) = r.finish().await {
                    if clip.info.media.duration_sec.unwrap_or(0.0) >= secs as f64 {
                        ok += 1;
                    }
                    let _ = clip.remove_files().await;
                }
            }
            println!("| concurrent recordings started / alive / finished ≥ {secs} s | {started} / {alive} / {ok} of {n} | | |");
            println!(
                "| CPU of all ffmpeg, cores | {cpu:.2} ({:.2} % of a core each) | | |",
                cpu * 100.0 / n as f64
            );
            println!(
                "| RSS of all ffmpeg | {} MB ({:.1} MB each) | | |",
                rss >> 20,
                (rss as f64 / n as f64) / 1048576.0
            );
        }
        Some("transcode") => {
            // SECONDS of 1080p25 H.265 at 4 Mbit/s with AAC, made offline as
            // the recorder's 2 s MPEG-TS parts (a live GStreamer H.265
            // encoder can't keep up with 1080p on 2 cores, and its clip's
            // timestamps stretch), then joined twice: a copy (what every
            // clip costs) and the H.264 re-encode of `transcode: "h264"`;
            // CPU of the joining ffmpeg per second of clip, from this
            // process's reaped children.
            let secs: u64 = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
            let parts = dir.join(format!("transcode-{}", rand_id()));
            std::fs::create_dir_all(&parts).expect("dir");
            let made = std::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
                .arg(format!("testsrc2=size=1920x1080:rate=25:duration={secs}"))
                .args(["-f", "lavfi", "-i"])
                .arg(format!("sine=frequency=440:duration={secs}"))
                .args(["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:log-level=error"])
                .args(["-b:v", "4M", "-c:a", "aac", "-f", "segment", "-segment_format", "mpegts"])
                .args(["-segment_time", "2"])
                .arg(parts.join("part-%05d.ts"))
                .status()
                .expect("ffmpeg");
            assert!(made.success(), "parts not made");
            let mut names: Vec<_> = std::fs::read_dir(&parts)
                .expect("parts")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let list = parts.join("parts.ffconcat");
            let text: String = std::iter::once("ffconcat version 1.0\n".to_owned())
                .chain(names.iter().map(|n| format!("file '{n}'\n")))
                .collect();
            std::fs::write(&list, text).expect("list");
            let out = parts.join("video.mp4");
            let (copy_cpu, _) = timed_join(vigil_recorder::args::join(&list, &out), false);
            let (enc_cpu, enc_wall) =
                timed_join(vigil_recorder::args::join_transcoded(&list, &out), true);
            let _ = std::fs::remove_dir_all(&parts);
            let clip_sec = secs as f64;
            println!(
                "| transcode H.265 → H.264 (veryfast, CRF 23, nice 10), 1080p25 4 Mbit/s, {secs} s clip: CPU per clip-second | {:.3} CPU-s ({:.2} s wall per clip-second) | {:.4} CPU-s (copy join) | {:.0} |",
                enc_cpu / clip_sec,
                enc_wall / clip_sec,
                copy_cpu / clip_sec,
                enc_cpu / copy_cpu.max(0.0001)
            );
        }
        Some("bare") => {
            // One bare measurement, for scripts alternating it with theirs.
            println!("{:.4}", bare_ffmpeg(&a[1], &dir).await);
        }
        Some("preroll") => {
            let url = &a[1];
            let runs: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
            let ring = rec
                .ring("bench", RtspUrl::parse(url).expect("url"), Duration::from_secs(8))
                .expect("ring");
            until_warm(&ring).await;
            let (mut bare, mut ours) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                bare.push(bare_ffmpeg(url, &dir).await);
                ours.push(from_ring(&ring).await);
            }
            let (mb, mo) = (median(&mut bare), median(&mut ours));
            println!(
                "| recording from a warm ring (5 s pre-roll) → first media, median of {runs} | {:.2} ms | {mb:.3} s (bare ffmpeg spawn → first frame) | {:.4} |",
                mo * 1000.0,
                mo / mb
            );
            println!(
                "| (min / max, from the ring) | {:.2} / {:.2} ms | | |",
                ours[0] * 1000.0,
                ours[runs - 1] * 1000.0
            );
            ring.remove().await;
        }
        Some("warm") => {
            let url = RtspUrl::parse(&a[1]).expect("url");
            let n: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
            let secs: u64 = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(30);
            let keep = Duration::from_secs(8);
            let mut rings = Vec::new();
            for i in 0..n {
                rings.push(rec.ring(&format!("w{i}"), url.clone(), keep).expect("ring"));
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            for r in &rings {
                until_warm(r).await;
            }
            let tick = 100.0; // USER_HZ
            let (t0, _, _) = ffmpeg_usage();
            let (w0, o0) = (ffmpeg_write_bytes(), own_ticks());
            let start = Instant::now();
            tokio::time::sleep(Duration::from_secs(secs)).await;
            let wall = start.elapsed().as_secs_f64();
            let (t1, rss, alive) = ffmpeg_usage();
            let (w1, o1) = (ffmpeg_write_bytes(), own_ticks());
            let cpu = (t1 - t0) as f64 / tick / wall;
            let own = (o1 - o0) as f64 / tick / wall;
            let disk: u64 = rings.iter().map(|r| r.disk_usage().1).sum();
            let n_f = n as f64;
            println!("| warm cameras (1 s segments, 8 s kept) alive after {secs} s | {alive} of {n} | | |");
            println!(
                "| CPU per warm camera: its ffmpeg + the ring's scans | {:.2} % + {:.2} % of a core | | |",
                cpu * 100.0 / n_f,
                own * 100.0 / n_f
            );
            println!(
                "| RSS per warm camera (ffmpeg) | {:.1} MB | | |",
                rss as f64 / n_f / 1048576.0
            );
            println!(
                "| disk writes per warm camera | {:.0} KB/s | | |",
                (w1 - w0) as f64 / n_f / wall / 1024.0
            );
            println!(
                "| ring size per warm camera (8 s kept) | {:.1} MB | | |",
                disk as f64 / n_f / 1048576.0
            );
            for r in &rings {
                r.remove().await;
            }
        }
        _ => eprintln!(
            "usage: bench start URL RUNS | bench concurrent URL N SECONDS | bench preroll URL RUNS | bench warm URL N SECONDS"
        ),
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(rand_id());
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

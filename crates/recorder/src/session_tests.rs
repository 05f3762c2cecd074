//! The session supervisor against scripted ffmpeg runs (a [`Launcher`]
//! that plays scripts) on tokio's paused clock: reconnects, backoff, the
//! reconnect window, the stop (one `q`, SIGKILL after the timeout), the
//! audio fallback and the first-frame deadline, without a camera and
//! without waiting in real time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{
    launcher::{Launched, Launcher, Process, Reader, Writer},
    FfmpegRecorder, RecordErrorKind, RecorderConfig, RecorderEvent,
};
use std::{
    collections::VecDeque,
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::ExitStatus,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::watch,
    time::Instant,
};
use vigil_domain::RtspUrl;

/// One thing a scripted ffmpeg run does.
#[derive(Debug, Clone)]
enum Step {
    /// Writes a part into the recording's folder and reports a progress
    /// block with frames.
    Media,
    /// Prints a line on stderr.
    Says(&'static str),
    /// Exits by itself (the camera dropped).
    Exit,
    /// Writes nothing for this many seconds, the connection kept.
    Quiet(u64),
    /// Waits for `q` on stdin; exits then when `obey`, never otherwise.
    AwaitQuit { obey: bool },
}

#[derive(Debug, Default)]
struct Log {
    launches: Vec<(Instant, Vec<String>)>,
    quits: usize,
    kills: usize,
}

#[derive(Debug)]
struct Scripted {
    dir: PathBuf,
    runs: Mutex<VecDeque<Vec<Step>>>,
    log: Arc<Mutex<Log>>,
}

impl Scripted {
    fn new(dir: &Path, runs: Vec<Vec<Step>>) -> Arc<Self> {
        Arc::new(Self {
            dir: dir.to_owned(),
            runs: Mutex::new(runs.into()),
            log: Arc::default(),
        })
    }
}

struct ScriptedProcess {
    exited: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
    log: Arc<Mutex<Log>>,
}

#[async_trait::async_trait]
impl Process for ScriptedProcess {
    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let _ = self.exited.wait_for(|e| *e).await;
        Ok(ExitStatus::from_raw(0))
    }

    fn start_kill(&mut self) -> std::io::Result<()> {
        self.log.lock().unwrap().kills += 1;
        self.task.abort();
        Ok(())
    }
}

impl Launcher for Scripted {
    fn launch(&self, _program: &Path, args: &[String], _stdout: bool) -> std::io::Result<Launched> {
        self.log
            .lock()
            .unwrap()
            .launches
            .push((Instant::now(), args.to_vec()));
        // A run past the script exits at once, as a camera that is gone.
        let steps = self
            .runs
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| vec![Step::Exit]);
        let (stdin_w, mut stdin_r) = tokio::io::duplex(1024);
        let (mut out_w, out_r) = tokio::io::duplex(64 * 1024);
        let (mut err_w, err_r) = tokio::io::duplex(64 * 1024);
        let (exited_tx, exited) = watch::channel(false);
        let dir = self.dir.clone();
        let log = self.log.clone();
        let task = tokio::spawn(async move {
            // Set when the script ends or is aborted (killed).
            let _exited = ExitOnDrop(exited_tx);
            for step in steps {
                match step {
                    Step::Media => {
                        let n = crate::parts::next_number(&dir);
                        std::fs::write(
                            dir.join(format!("{}{n:05}.ts", crate::args::PART_PREFIX)),
                            [0u8; 188],
                        )
                        .unwrap();
                        out_w
                            .write_all(b"frame=10\nprogress=continue\n")
                            .await
                            .unwrap();
                    }
                    Step::Says(line) => {
                        err_w
                            .write_all(format!("{line}\n").as_bytes())
                            .await
                            .unwrap();
                    }
                    Step::Exit => break,
                    Step::Quiet(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
                    Step::AwaitQuit { obey } => {
                        let mut b = [0u8; 1];
                        while stdin_r.read_exact(&mut b).await.is_ok() && b[0] != b'q' {}
                        log.lock().unwrap().quits += 1;
                        if !obey {
                            std::future::pending::<()>().await;
                        }
                        break;
                    }
                }
            }
        });
        Ok(Launched {
            pid: None,
            stdin: Some(Box::new(stdin_w) as Writer),
            stdout: Some(Box::new(out_r) as Reader),
            stderr: Some(Box::new(err_r) as Reader),
            process: Box::new(ScriptedProcess {
                exited,
                task,
                log: self.log.clone(),
            }),
        })
    }
}

struct ExitOnDrop(watch::Sender<bool>);

impl Drop for ExitOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    recorder: FfmpegRecorder,
    launcher: Arc<Scripted>,
}

const ID: &str = "take-1";

fn fixture(runs: Vec<Vec<Step>>, adjust: impl FnOnce(&mut RecorderConfig)) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let launcher = Scripted::new(&tmp.path().join(ID), runs);
    // Joining the parts is not scripted: a missing ffmpeg ends every take
    // with a spawn error once recording is over.
    let mut cfg = RecorderConfig::new(
        "/nonexistent/ffmpeg".into(),
        "/nonexistent/ffprobe".into(),
        tmp.path().to_owned(),
    );
    cfg.launcher = launcher.clone();
    adjust(&mut cfg);
    Fixture {
        _tmp: tmp,
        recorder: FfmpegRecorder::new(cfg),
        launcher,
    }
}

fn url() -> RtspUrl {
    RtspUrl::parse("rtsp://user:secret@camera.invalid/stream").unwrap()
}

/// Every event up to and including `Finished`.
async fn events_until_finished(rec: &mut crate::Recording) -> Vec<RecorderEvent> {
    let mut all = Vec::new();
    while let Some(ev) = rec.next_event().await {
        let last = matches!(ev, RecorderEvent::Finished(_));
        all.push(ev);
        if last {
            break;
        }
    }
    all
}

fn gaps(launches: &[(Instant, Vec<String>)]) -> Vec<u64> {
    launches
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_dropped_camera_is_reconnected_after_a_backoff_and_stopped_with_one_q() {
    let f = fixture(
        vec![
            vec![Step::Media, Step::Exit],
            vec![Step::Media, Step::AwaitQuit { obey: true }],
        ],
        |_| {},
    );
    let mut rec = f.recorder.start(ID, url()).unwrap();
    assert_eq!(rec.next_event().await, Some(RecorderEvent::MediaWritten));
    match rec.next_event().await {
        Some(RecorderEvent::Reconnecting { attempt: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    // The second run has written media (no second MediaWritten: the
    // recording was already RECORDING) before the stop.
    while f.launcher.log.lock().unwrap().launches.len() < 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    rec.stop();
    let rest = events_until_finished(&mut rec).await;
    match rest.as_slice() {
        [RecorderEvent::Resumed { away }, RecorderEvent::Finished(_)] => {
            assert_eq!(away.as_secs(), 1, "away for the backoff: {away:?}")
        }
        other => panic!("{other:?}"),
    }
    let log = f.launcher.log.lock().unwrap();
    assert_eq!(gaps(&log.launches), [1], "one backoff of 1 s");
    assert_eq!((log.quits, log.kills), (1, 0), "one q, no kill");
}

#[tokio::test(start_paused = true)]
async fn a_camera_away_past_the_reconnect_window_ends_the_take_with_growing_backoff() {
    let f = fixture(vec![vec![Step::Media, Step::Exit]], |cfg| {
        cfg.reconnect_window = Duration::from_secs(10)
    });
    let mut rec = f.recorder.start(ID, url()).unwrap();
    let events = events_until_finished(&mut rec).await;
    let attempts: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            RecorderEvent::Reconnecting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    let log = f.launcher.log.lock().unwrap();
    // Down at 0 s; retries at 1, 3, 7 and 12 s; past the 10 s window the
    // take ends with what it has.
    assert_eq!(gaps(&log.launches), [1, 2, 4, 5]);
    match events.last() {
        Some(RecorderEvent::Finished(Err(e))) => assert_eq!(e.kind(), RecordErrorKind::Spawn),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_ffmpeg_that_ignores_q_is_killed_after_the_stop_timeout() {
    let f = fixture(
        vec![vec![Step::Media, Step::AwaitQuit { obey: false }]],
        |cfg| cfg.stop_timeout = Duration::from_secs(7),
    );
    let mut rec = f.recorder.start(ID, url()).unwrap();
    assert_eq!(rec.next_event().await, Some(RecorderEvent::MediaWritten));
    let asked = Instant::now();
    rec.stop();
    events_until_finished(&mut rec).await;
    assert!(
        asked.elapsed() >= Duration::from_secs(7),
        "{:?}",
        asked.elapsed()
    );
    let log = f.launcher.log.lock().unwrap();
    assert_eq!((log.quits, log.kills, log.launches.len()), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn audio_that_cannot_be_copied_is_encoded_on_the_next_run_without_a_reconnect() {
    let f = fixture(
        vec![
            vec![
                Step::Says("[mpegts @ 0x1] Could not find tag for codec pcm_alaw in stream #1"),
                Step::Exit,
            ],
            vec![Step::Media, Step::AwaitQuit { obey: true }],
        ],
        |_| {},
    );
    let mut rec = f.recorder.start(ID, url()).unwrap();
    assert_eq!(rec.next_event().await, Some(RecorderEvent::MediaWritten));
    rec.stop();
    let rest = events_until_finished(&mut rec).await;
    assert!(
        !rest
            .iter()
            .any(|e| matches!(e, RecorderEvent::Reconnecting { .. })),
        "{rest:?}"
    );
    let log = f.launcher.log.lock().unwrap();
    let audio = |args: &Vec<String>| {
        let i = args.iter().position(|a| a == "-c:a").unwrap();
        args[i + 1].clone()
    };
    assert_eq!(log.launches.len(), 2);
    assert_eq!(audio(&log.launches[0].1), "copy");
    assert_eq!(audio(&log.launches[1].1), "aac");
}

#[tokio::test(start_paused = true)]
async fn no_video_before_the_first_frame_deadline_fails_as_unreachable_without_the_password() {
    let f = fixture(
        vec![vec![
            Step::Says(
                "[rtsp @ 0x1] method DESCRIBE failed for rtsp://user:secret@camera.invalid/stream",
            ),
            Step::AwaitQuit { obey: true },
        ]],
        |cfg| cfg.first_frame_timeout = Duration::from_secs(15),
    );
    let started = Instant::now();
    let mut rec = f.recorder.start(ID, url()).unwrap();
    let events = events_until_finished(&mut rec).await;
    assert!(started.elapsed() >= Duration::from_secs(15));
    match events.as_slice() {
        [RecorderEvent::Finished(Err(e))] => {
            assert_eq!(e.kind(), RecordErrorKind::CameraUnreachable);
            assert!(e.message().contains("no video within 15 s"), "{e}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.launcher.log.lock().unwrap().kills, 1);
}

#[tokio::test(start_paused = true)]
async fn audio_muxed_as_opaque_data_is_redone_as_aac_and_remembered_for_the_camera() {
    let g711 = "[mpegts @ 0x1] Stream 1, codec pcm_alaw, is muxed as a private data stream and may not be recognized upon reading.";
    let f = fixture(
        vec![
            vec![
                Step::Media,
                Step::Says(g711),
                Step::AwaitQuit { obey: true },
            ],
            vec![Step::Media, Step::AwaitQuit { obey: true }],
            // The camera's next take.
            vec![Step::Media, Step::AwaitQuit { obey: true }],
        ],
        |_| {},
    );
    let mut rec = f.recorder.start(ID, url()).unwrap();
    let mut seen = Vec::new();
    while f.launcher.log.lock().unwrap().launches.len() < 2 {
        tokio::select! {
            ev = rec.next_event() => seen.push(ev),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Only the second run's part is left: the first one's had no sound.
    let parts = crate::parts::list(rec.dir()).unwrap();
    assert_eq!(
        parts.iter().map(|p| p.0).collect::<Vec<_>>(),
        [0],
        "{parts:?}"
    );
    rec.stop();
    seen.extend(events_until_finished(&mut rec).await.into_iter().map(Some));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Some(RecorderEvent::Reconnecting { .. }))),
        "{seen:?}"
    );
    // A later take of the same camera starts with AAC at once.
    let again = f.recorder.start("take-2", url()).unwrap();
    while f.launcher.log.lock().unwrap().launches.len() < 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(again);
    let log = f.launcher.log.lock().unwrap();
    let audio: Vec<String> = log
        .launches
        .iter()
        .map(|(_, args)| args[args.iter().position(|a| a == "-c:a").unwrap() + 1].clone())
        .collect();
    assert_eq!(audio, ["copy", "aac", "aac"]);
    assert_eq!(log.kills, 1, "the first run was cut short");
}

#[tokio::test(start_paused = true)]
async fn a_run_that_stops_writing_is_restarted_by_the_watchdog_once_not_every_second() {
    let f = fixture(
        vec![
            // Media, then a frozen camera: the socket stays open.
            vec![Step::Media, Step::AwaitQuit { obey: false }],
            vec![Step::Media, Step::AwaitQuit { obey: true }],
        ],
        |cfg| cfg.stall_timeout = Duration::from_secs(10),
    );
    let mut rec = f.recorder.start(ID, url()).unwrap();
    assert_eq!(rec.next_event().await, Some(RecorderEvent::MediaWritten));
    match rec.next_event().await {
        Some(RecorderEvent::Reconnecting { attempt: 1, reason }) => {
            assert!(
                reason.contains("camera stalled: nothing written for 10 s"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    while f.launcher.log.lock().unwrap().launches.len() < 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The second run writes; no further restart for a while.
    tokio::time::sleep(Duration::from_secs(5)).await;
    rec.stop();
    let rest = events_until_finished(&mut rec).await;
    match rest.as_slice() {
        // From the last write to the next run's first: the stall plus the
        // backoff.
        [RecorderEvent::Resumed { away }, RecorderEvent::Finished(_)] => {
            assert!((10..=12).contains(&away.as_secs()), "{away:?}")
        }
        other => panic!("{other:?}"),
    }
    let log = f.launcher.log.lock().unwrap();
    assert_eq!(log.launches.len(), 2);
    // Stalled for 10 s (the watchdog ticks every second), then the 1 s backoff.
    let gap = gaps(&log.launches)[0];
    assert!((11..=12).contains(&gap), "{gap}");
    assert_eq!(log.kills, 1);
}

#[tokio::test(start_paused = true)]
async fn a_camera_that_freezes_and_comes_back_on_the_same_connection_leaves_a_gap() {
    let f = fixture(
        vec![vec![
            Step::Media,
            Step::Quiet(1),
            Step::Media,
            // Frozen for 6 s: under the stall timeout, so no restart.
            Step::Quiet(6),
            Step::Media,
            Step::Quiet(1),
            Step::Media,
            Step::AwaitQuit { obey: true },
        ]],
        |cfg| cfg.stall_timeout = Duration::from_secs(10),
    );
    let mut rec = f.recorder.start(ID, url()).unwrap();
    assert_eq!(rec.next_event().await, Some(RecorderEvent::MediaWritten));
    tokio::time::sleep(Duration::from_secs(12)).await;
    rec.stop();
    let rest = events_until_finished(&mut rec).await;
    assert_eq!(
        f.launcher.log.lock().unwrap().launches.len(),
        1,
        "no restart"
    );
    match rest.as_slice() {
        [RecorderEvent::Resumed { away }, RecorderEvent::Finished(_)] => {
            assert!((5..=7).contains(&away.as_secs()), "{away:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_flush_before_ffmpeg_gives_up_is_not_taken_for_the_camera_coming_back() {
    let f = fixture(
        vec![
            // Frozen, then ffmpeg writes what it held (over two looks) and
            // exits: the camera did not come back.
            vec![
                Step::Media,
                Step::Quiet(6),
                Step::Media,
                Step::Quiet(1),
                Step::Media,
                Step::Exit,
            ],
            vec![Step::Media, Step::AwaitQuit { obey: true }],
        ],
        |cfg| cfg.stall_timeout = Duration::from_secs(10),
    );
    let mut rec = f.recorder.start(ID, url()).unwrap();
    assert_eq!(rec.next_event().await, Some(RecorderEvent::MediaWritten));
    while f.launcher.log.lock().unwrap().launches.len() < 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    rec.stop();
    let rest = events_until_finished(&mut rec).await;
    let resumed: Vec<Duration> = rest
        .iter()
        .filter_map(|e| match e {
            RecorderEvent::Resumed { away } => Some(*away),
            _ => None,
        })
        .collect();
    // One gap, from the freeze's start to the next run's media.
    assert_eq!(resumed.len(), 1, "{rest:?}");
    assert!(resumed[0] >= Duration::from_secs(7), "{resumed:?}");
    assert!(
        matches!(
            rest.first(),
            Some(RecorderEvent::Reconnecting { attempt: 1, .. })
        ),
        "{rest:?}"
    );
}

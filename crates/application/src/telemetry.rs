//! What becomes of recordings, as metrics through the `metrics` facade (the
//! server installs a Prometheus recorder; without one they cost nothing).
//! The recorder crate counts its own ffmpeg restarts.

use std::time::Duration;

pub const STARTED: &str = "vigil_recordings_started_total";
pub const REFUSED: &str = "vigil_recordings_refused_total";
pub const COMPLETED: &str = "vigil_recordings_completed_total";
pub const FAILED: &str = "vigil_recordings_failed_total";
pub const TIME_TO_RECORDING: &str = "vigil_event_to_recording_seconds";
pub const UPLOAD_SECONDS: &str = "vigil_upload_duration_seconds";
pub const UPLOADED_BYTES: &str = "vigil_uploaded_bytes_total";
pub const UPLOAD_RETRIES: &str = "vigil_upload_retries_total";
pub const JOBS_QUEUED: &str = "vigil_jobs_queued";
pub const RECORD_DIR_FREE: &str = "vigil_record_dir_free_bytes";
pub const RINGS: &str = "vigil_pre_roll_cameras";
pub const RING_BYTES: &str = "vigil_pre_roll_ring_bytes";
pub const FRIGATE: &str = "vigil_frigate_messages_total";
pub const LIVE_SEGMENTS: &str = "vigil_live_segments_total";
pub const LIVE_BYTES: &str = "vigil_live_uploaded_bytes_total";
pub const LIVE_CLIP_PARTS: &str = "vigil_live_clip_parts_total";

/// Bucket bounds (seconds) of the two histograms: start latency is
/// sub-second to a few seconds; uploads seconds to minutes.
pub const TIME_TO_RECORDING_BUCKETS: &[f64] =
    &[0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0];
pub const UPLOAD_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Registers the help texts (call once, after installing a recorder).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(STARTED, "Recordings started (ffmpeg spawned).");
    describe_counter!(REFUSED, "Recordings refused before starting, by reason.");
    describe_counter!(COMPLETED, "Recordings stored and COMPLETED.");
    describe_counter!(FAILED, "Recordings FAILED, by reason.");
    describe_histogram!(
        TIME_TO_RECORDING,
        Unit::Seconds,
        "From a recording's start request to its first media on disk (RECORDING)."
    );
    describe_histogram!(
        UPLOAD_SECONDS,
        Unit::Seconds,
        "Storing a clip and its thumbnail."
    );
    describe_counter!(UPLOADED_BYTES, Unit::Bytes, "Clip bytes stored.");
    describe_counter!(
        UPLOAD_RETRIES,
        "Uploads put back in the queue because the store was unavailable."
    );
    describe_gauge!(
        JOBS_QUEUED,
        "Upload jobs in the durable queue, held or waiting."
    );
    describe_gauge!(RECORD_DIR_FREE, Unit::Bytes, "Free space on RECORD_DIR.");
    describe_gauge!(
        RINGS,
        "Cameras with a pre-roll, by state: warm (video arriving) or cold (connecting, camera away)."
    );
    describe_gauge!(RING_BYTES, Unit::Bytes, "Disk held by the pre-roll rings.");
    describe_counter!(
        LIVE_SEGMENTS,
        "Live segments (media stored while recording), by outcome: stored, or failed (kept on disk and retried)."
    );
    describe_counter!(
        LIVE_BYTES,
        Unit::Bytes,
        "Media bytes stored while recording."
    );
    describe_counter!(
        LIVE_CLIP_PARTS,
        "Parts of clips (the final MP4) stored while they record, by outcome: stored, or failed (retried)."
    );
    describe_counter!(
        FRIGATE,
        "Frigate event messages, by outcome: started, ended, repeated, or ignored (unknown_camera, malformed, unknown_event)."
    );
}

pub(crate) fn live_segment(stored: bool, bytes: u64) {
    live_stored(LIVE_SEGMENTS, stored, bytes);
}

pub(crate) fn live_clip_part(stored: bool, bytes: u64) {
    live_stored(LIVE_CLIP_PARTS, stored, bytes);
}

/// One object (or part) stored, or failed, while recording.
fn live_stored(counter: &'static str, stored: bool, bytes: u64) {
    let outcome = if stored { "stored" } else { "failed" };
    metrics::counter!(counter, "outcome" => outcome).increment(1);
    metrics::counter!(LIVE_BYTES).increment(bytes);
}

pub(crate) fn frigate(outcome: &'static str) {
    metrics::counter!(FRIGATE, "outcome" => outcome).increment(1);
}

pub(crate) fn started() {
    metrics::counter!(STARTED).increment(1);
}

pub(crate) fn refused(reason: &'static str) {
    metrics::counter!(REFUSED, "reason" => reason).increment(1);
}

pub(crate) fn completed() {
    metrics::counter!(COMPLETED).increment(1);
}

pub(crate) fn failed(reason: &'static str) {
    metrics::counter!(FAILED, "reason" => reason).increment(1);
}

pub(crate) fn time_to_recording(d: Duration) {
    metrics::histogram!(TIME_TO_RECORDING).record(d.as_secs_f64());
}

pub(crate) fn uploaded(d: Duration, bytes: u64) {
    metrics::histogram!(UPLOAD_SECONDS).record(d.as_secs_f64());
    metrics::counter!(UPLOADED_BYTES).increment(bytes);
}

pub(crate) fn upload_retry() {
    metrics::counter!(UPLOAD_RETRIES).increment(1);
}

pub(crate) fn gauges(jobs_queued: Option<u64>, record_dir_free: Option<u64>) {
    if let Some(n) = jobs_queued {
        metrics::gauge!(JOBS_QUEUED).set(n as f64);
    }
    if let Some(b) = record_dir_free {
        metrics::gauge!(RECORD_DIR_FREE).set(b as f64);
    }
}

pub(crate) fn rings(w: vigil_domain::capture::WarmStats) {
    metrics::gauge!(RINGS, "state" => "warm").set(w.warm as f64);
    metrics::gauge!(RINGS, "state" => "cold").set(w.total.saturating_sub(w.warm) as f64);
    metrics::gauge!(RING_BYTES).set(w.bytes as f64);
}

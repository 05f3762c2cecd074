//! The recorder's own metric, through the `metrics` facade: a program that
//! installs a recorder (the server installs a Prometheus one) gets it; one
//! that embeds this crate without installing any pays nothing. What becomes
//! of recordings (started, stored, failed) is the application's to count.

pub const FFMPEG_RESTARTS: &str = "vigil_ffmpeg_restarts_total";

/// Registers the help text (call once, after installing a recorder).
pub fn describe() {
    metrics::describe_counter!(
        FFMPEG_RESTARTS,
        "ffmpeg restarted after the camera dropped."
    );
}

pub(crate) fn ffmpeg_restart() {
    metrics::counter!(FFMPEG_RESTARTS).increment(1);
}

//! Vigil's application layer: the use cases, written against the domain's
//! ports only, and the one playback lifecycle.
//!
//! - [`recordings`]: create and end an event, stop and delete a playback;
//! - [`service`]: the `Recorder` behind them, following each take the
//!   capture mechanism records; [`jobs`](service::RecordingService::start_jobs)
//!   stores finished clips, [`recovery`] finishes what a crash left;
//! - [`lifecycle`]: what happened to a recording, and the status changes it
//!   makes; the only writer of a playback's status outside persistence;
//! - [`streams`]: the cameras' `stream` objects, from probes, takes and
//!   warm rings;
//! - [`cluster`]: camera leases, hand-offs and signals between nodes;
//! - [`retention`], [`admin`] (the first admin), and [`notify`] (the
//!   decorator that publishes status changes for SSE).
//!
//! The bin builds one [`App`] and hands the api its [`Recordings`].

pub mod admin;
mod app;
pub mod cameras;
mod clip_upload;
pub mod cluster;
pub mod frigate;
mod jobs;
pub mod lifecycle;
pub mod live;
mod merging;
pub mod nodes;
pub mod notify;
pub mod push;
pub mod recordings;
pub mod recovery;
pub mod resume;
pub mod retention;
pub mod service;
pub mod streams;
pub mod telemetry;
pub mod webhooks;

pub use app::{App, AppPorts};
pub use cameras::all_cameras;
pub use frigate::Frigate;
pub use lifecycle::{Happened, Lifecycle};
pub use notify::{NotifyingPlaybacks, PlaybackEvents};
pub use push::{LiveSink, Push, Pushed, Render};
pub use recordings::Recordings;
pub use recovery::RecoveryReport;
pub use retention::{Retention, SweepReport};
pub use service::{RecordingService, ServiceLimits};
pub use streams::CameraStreams;
pub use webhooks::Webhooks;

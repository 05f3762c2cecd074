//! `GET /metrics`: Prometheus text exposition. Gauges are read when
//! scraped (playbacks per status from the database, recordings running in
//! this process), so nothing has to be kept in step; counters and
//! histograms (recordings started/failed, latencies, uploads) come from the
//! `metrics` recorder the bin installed, rendered by [`MetricsText`].

use crate::error::ApiResult;
use actix_web::{web, HttpResponse};
use std::{fmt::Write, sync::Arc};

/// Renders the installed metrics recorder's text.
#[derive(Clone)]
pub struct MetricsText(pub Arc<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for MetricsText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsText")
    }
}
use vigil_domain::{
    ports::{PlaybackRepo, Recorder},
    Page, PlaybackFilter, RecordingStatus,
};

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(
    playbacks: web::Data<dyn PlaybackRepo>,
    recorder: web::Data<dyn Recorder>,
    rendered: web::Data<Option<MetricsText>>,
) -> ApiResult<HttpResponse> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP vigil_up Whether the server is up.\n# TYPE vigil_up gauge\nvigil_up 1"
    );
    let _ = writeln!(
        out,
        "# HELP vigil_build_info Build of the running server.\n# TYPE vigil_build_info gauge\nvigil_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "# HELP vigil_recordings_active Recordings running in this process.\n# TYPE vigil_recordings_active gauge\nvigil_recordings_active {}",
        recorder.active_count()
    );
    let _ = writeln!(
        out,
        "# HELP vigil_playbacks Playbacks by recording status.\n# TYPE vigil_playbacks gauge"
    );
    let one = Page::parse(Some(1), None).unwrap_or_default();
    for status in RecordingStatus::ALL {
        let filter = PlaybackFilter {
            status: Some(status),
            ..Default::default()
        };
        let n = playbacks.list(filter, one).await?.total;
        let _ = writeln!(out, "vigil_playbacks{{status=\"{status}\"}} {n}");
    }
    if let Some(render) = rendered.get_ref() {
        out.push_str(&(render.0)());
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}

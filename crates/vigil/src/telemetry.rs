//! Log output: human-readable by default, JSON lines with `LOG_FORMAT=json`.
//! `RUST_LOG` overrides the filter.

use crate::config::LogFormat;
use tracing_subscriber::{fmt, EnvFilter};

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,actix_server=warn"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// Installs the Prometheus recorder behind the `metrics` facade (the
/// application's and the recorder's counters and histograms) and returns how `/metrics`
/// renders it. Histograms get buckets (not summaries), so they can be
/// aggregated across servers.
pub fn install_metrics() -> Option<vigil_api::routes::metrics::MetricsText> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    use vigil_application::telemetry as t;
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(t::TIME_TO_RECORDING.into()),
            t::TIME_TO_RECORDING_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(t::UPLOAD_SECONDS.into()), t::UPLOAD_BUCKETS)
        })
        .map(|b| b.build_recorder());
    let recorder = match recorder {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed");
            return None;
        }
    };
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        // Already installed (several servers in one test process).
        return None;
    }
    t::describe();
    vigil_recorder::telemetry::describe();
    Some(vigil_api::routes::metrics::MetricsText(
        std::sync::Arc::new(move || handle.render()),
    ))
}

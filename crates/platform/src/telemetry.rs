//! Logs and metrics. Logs are structured (`tracing`), pretty for people or JSON for collectors;
//! metrics go to one Prometheus registry per process, rendered by each service's `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogSettings;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the log subscriber; a second call (tests, several services in one process) is a no-op.
pub fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if settings.format == "json" {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init()
    } else {
        registry.with(fmt::layer().compact()).try_init()
    };
}

fn handle() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Installs the metrics recorder (idempotent); call before the first metric is recorded.
pub fn init_metrics() {
    let _ = handle();
}

/// The Prometheus text exposition of every metric recorded in this process.
pub fn render_metrics() -> String {
    handle().map(|h| h.render()).unwrap_or_default()
}

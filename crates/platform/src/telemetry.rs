//! Logs and metrics. Logs are structured (`tracing`), pretty for people or JSON for collectors;
//! metrics go to one Prometheus registry per process, rendered by each service's `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, field::MakeExt, fmt, prelude::*};

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
        // Field values often carry what clients sent (a username, a food name): control
        // characters in them are escaped, so nobody can write a fake log line or a terminal
        // escape sequence into the log. (JSON logs are escaped by JSON itself.)
        let fields = fmt::format::debug_fn(|writer, field, value| {
            let raw = format!("{value:?}");
            let text = escape_controls(&raw);
            if field.name() == "message" {
                write!(writer, "{text}")
            } else {
                write!(writer, "{field}={text}")
            }
        })
        .delimited(" ");
        // Colours only for a terminal; a file or a collector gets plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        registry
            .with(fmt::layer().compact().with_ansi(ansi).fmt_fields(fields))
            .try_init()
    };
}

/// `text` with every control character (newlines, escapes, C1 codes) written as `\u{..}`.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        if ch.is_control() {
            escaped.push_str(&format!("\\u{{{:x}}}", ch as u32));
        } else {
            escaped.push(ch);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// Upper bounds (seconds) of the `event_lag_seconds` buckets.
pub const EVENT_LAG_BUCKETS: [f64; 24] = [
    0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3,
    0.4, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 120.0,
];

fn handle() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .ok()?
                // Saga hops are read off this one (the lifecycle bench's stages): finer, and
                // long enough for a backlog.
                .set_buckets_for_metric(
                    Matcher::Full("event_lag_seconds".into()),
                    &EVENT_LAG_BUCKETS,
                )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_reach_the_log_raw() {
        let forged =
            "bob\n2026-12-02T00:00:00Z  INFO login: logged in username=admin\u{1b}[2J\u{9b}";
        let escaped = escape_controls(forged);
        assert!(!escaped.chars().any(char::is_control), "{escaped}");
        assert!(escaped.contains("\\u{a}") && escaped.contains("\\u{1b}"));
        assert_eq!(escape_controls("plain 한글 text"), "plain 한글 text");
    }
}

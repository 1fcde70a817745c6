//! Logs, traces and metrics. Logs are structured (`tracing`), pretty for people or JSON for
//! collectors, and every line written inside a span carries its trace and span ids. The spans
//! (see [`crate::trace`]) become OpenTelemetry spans, exported over OTLP when `trace.otlp_endpoint`
//! is set. Metrics go to one Prometheus registry per process, rendered by each service's
//! `/metrics`.

use std::sync::OnceLock;

use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_sdk::{
    Resource,
    trace::{Sampler, SdkTracerProvider},
};
use tracing_subscriber::{EnvFilter, Layer, field::MakeExt, filter::Targets, fmt, prelude::*};

use crate::config::{LogSettings, TraceSettings};

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The tracer provider of the process: flushes what is still buffered when dropped.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Spans still in the batch go out before the process ends (bounded by the exporter's
        // own timeout); a collector that is away loses them, and says so in the log.
        if let Err(error) = self.provider.shutdown() {
            tracing::debug!(%error, "trace export stopped");
        }
    }
}

/// The tracer provider `trace` asks for: an OTLP exporter when it names an endpoint, and no
/// exporter otherwise (spans are still made, for their ids in logs and in what is handed on).
pub fn tracer_provider(trace: &TraceSettings, service: &str) -> anyhow::Result<SdkTracerProvider> {
    let name = trace.service_name.as_deref().unwrap_or(service).to_owned();
    let mut builder = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(name)
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        )
        // Without an exporter nothing is recorded: spans keep their ids (for the logs and for
        // what is handed on) but build no span data, which cost 6 ms of CPU per order lifecycle
        // (docs/benchmarks.md).
        .with_sampler(match trace.otlp_endpoint {
            Some(_) => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(trace.sample_ratio)))
            }
            None => Sampler::AlwaysOff,
        });
    if let Some(endpoint) = &trace.otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.as_str())
            .with_timeout(std::time::Duration::from_secs(5))
            .build()
            .context("building the OTLP span exporter")?;
        // Exported from the batch processor's own thread, off the request path.
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// Installs logging and tracing for this process: `service` names it in exported spans unless
/// `trace.service_name` does. A second call (several services in one process) is a no-op.
pub fn init(log: &LogSettings, trace: &TraceSettings, service: &str) -> anyhow::Result<Telemetry> {
    let provider = tracer_provider(trace, service)?;
    install(log, provider.clone());
    Ok(Telemetry { provider })
}

/// Installs the log subscriber with `provider` behind its spans; the first call wins (tests, and
/// several services in one process, call it more than once).
pub fn install(log: &LogSettings, provider: SdkTracerProvider) {
    let filter = || {
        EnvFilter::try_from_env("RUST_LOG")
            .or_else(|_| EnvFilter::try_new(&log.filter))
            .unwrap_or_else(|_| EnvFilter::new("info"))
            // A line can name its trace only if the log layer sees the span it is written in.
            .add_directive("platform::trace=info".parse().expect("a valid directive"))
    };
    // Spans are made whatever the log level: the request, call, publish and process spans of
    // `crate::trace`, all at INFO from this crate.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("baedal"))
        .with_filter(Targets::new().with_target("platform::trace", tracing::Level::INFO));
    let registry = tracing_subscriber::registry().with(spans);
    let _ = if log.format == crate::config::LogFormat::Json {
        registry.with(json_layer().with_filter(filter())).try_init()
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
            .with(
                fmt::layer()
                    .compact()
                    .with_ansi(ansi)
                    .fmt_fields(fields)
                    .with_filter(filter()),
            )
            .try_init()
    };
}

/// JSON lines: the event's fields at the top, the current span's beside them, and the trace and
/// span ids under `openTelemetry` (`traceId`, `spanId`) so a line leads to its trace.
pub fn json_layer<S>() -> json_subscriber::fmt::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    json_subscriber::fmt::layer()
        .flatten_event(true)
        .with_current_span(true)
        .with_opentelemetry_ids(true)
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

    /// With an endpoint, spans go out over OTLP/HTTP as protobuf, named by the process, to a
    /// collector that is here a plain HTTP server decoding what it gets.
    #[tokio::test(flavor = "multi_thread")]
    async fn spans_are_exported_over_otlp_http_when_an_endpoint_is_set() {
        use opentelemetry::trace::{Span as _, Tracer as _};
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message as _;
        let (received, mut requests) = tokio::sync::mpsc::unbounded_channel();
        let collector = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: http::HeaderMap, body: bytes::Bytes| {
                let received = received.clone();
                async move {
                    let _ = received.send((headers, body));
                    http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, collector).await });

        let settings = TraceSettings {
            otlp_endpoint: Some(format!("http://{addr}/v1/traces").parse().unwrap()),
            ..TraceSettings::default()
        };
        let provider = tracer_provider(&settings, "order").unwrap();
        let mut span = provider.tracer("test").start("POST /orders");
        span.set_attribute(KeyValue::new("service", "order"));
        span.end();
        // The exporter blocks its thread; flushing waits for it.
        let flushed = provider.clone();
        tokio::task::spawn_blocking(move || flushed.force_flush())
            .await
            .unwrap()
            .unwrap();
        let (headers, body) =
            tokio::time::timeout(std::time::Duration::from_secs(10), requests.recv())
                .await
                .unwrap()
                .unwrap();
        assert_eq!(headers["content-type"], "application/x-protobuf");
        let request = ExportTraceServiceRequest::decode(body).unwrap();
        let resource = request.resource_spans[0].resource.as_ref().unwrap();
        let service_name = resource
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.clone());
        assert_eq!(
            service_name,
            Some(
                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                    "order".into()
                )
            )
        );
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "POST /orders");
        tokio::task::spawn_blocking(move || provider.shutdown())
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_bad_sample_ratio_or_endpoint_scheme_stops_the_process_naming_the_key() {
        let mut settings = crate::Settings::default();
        settings.trace.sample_ratio = 1.5;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("trace.sample_ratio"), "{error}");
        settings.trace.sample_ratio = 0.1;
        settings.trace.otlp_endpoint = Some("ftp://collector/v1/traces".parse().unwrap());
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("trace.otlp_endpoint"), "{error}");
    }

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

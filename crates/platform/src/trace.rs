//! Spans for the four kinds of work a trace is made of, and the W3C trace context (`traceparent`)
//! that links them across processes: an HTTP request served, a call to a peer, an event published
//! by the outbox relay, an event handled by a consumer. One placed order is one trace from the
//! gateway through order and payment, the outbox, Kafka, and every consumer it reaches.
//!
//! The spans are `tracing` spans: the OpenTelemetry layer installed by [`crate::telemetry`] gives
//! each an OpenTelemetry context and exports it, and the log lines written inside one carry its
//! trace and span ids. A `traceparent` is taken from a request's headers or a record's headers, or
//! from the outbox row that kept the context of the transaction that wrote it.

use std::collections::HashMap;

use http::HeaderMap;
use opentelemetry::{
    Context,
    propagation::TextMapPropagator,
    trace::{SpanContext, TraceContextExt},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header, the same name on HTTP requests and Kafka records.
pub use contracts::headers::TRACEPARENT;

/// The route template a request goes to, set by a server whose router sends every path to one
/// catch-all handler (the gateway): the request span is named after it, not after `/{*path}`.
#[derive(Clone, Copy, Debug)]
pub struct Route(pub &'static str);

/// A request served: its parent is the caller's span, when the request names one. `route` is the
/// path template it goes to, if one is known; a catch-all (`/{*path}`) names nothing.
pub fn server_span(
    service: &'static str,
    method: &str,
    route: Option<&str>,
    headers: &HeaderMap,
) -> Span {
    let route = route.filter(|template| !template.contains("{*"));
    // The name is fixed when the span starts (its first poll): it cannot be renamed later.
    let name = match route {
        Some(template) => format!("{method} {template}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "http.server",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        service,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
        request_id = Empty,
    );
    adopt(
        &span,
        TraceContextPropagator::new().extract(&HeaderExtractor(headers)),
    );
    span
}

/// A call to a peer service, made inside the current span.
pub fn client_span(caller: &str, peer: &str, method: &str, path: &str) -> Span {
    tracing::info_span!(
        "http.client",
        otel.name = %format!("{method} {peer}"),
        otel.kind = "client",
        otel.status_code = Empty,
        service = caller,
        peer.service = peer,
        http.request.method = method,
        url.path = path,
        http.response.status_code = Empty,
    )
}

/// The relay publishing one outbox row: a child of the span that wrote the row.
pub fn publish_span(
    source: &str,
    topic: &str,
    event_type: &str,
    event_id: &str,
    traceparent: Option<&str>,
) -> Span {
    let span = tracing::info_span!(
        "publish",
        otel.name = %format!("{topic} publish"),
        otel.kind = "producer",
        otel.status_code = Empty,
        service = source,
        messaging.system = "kafka",
        "messaging.operation.type" = "send",
        messaging.destination.name = topic,
        messaging.message.id = event_id,
        event_type,
    );
    adopt(&span, parse(traceparent));
    span
}

/// A consumer handling one event: a child of the span that published it.
pub fn process_span(
    consumer: &str,
    event_type: &str,
    event_id: &str,
    partition: i32,
    offset: i64,
    traceparent: Option<&str>,
) -> Span {
    let span = tracing::info_span!(
        "process",
        otel.name = %format!("{event_type} process"),
        otel.kind = "consumer",
        otel.status_code = Empty,
        service = consumer,
        messaging.system = "kafka",
        "messaging.operation.type" = "process",
        messaging.consumer.group.name = consumer,
        messaging.message.id = event_id,
        messaging.kafka.partition = partition,
        messaging.kafka.offset = offset,
    );
    adopt(&span, parse(traceparent));
    span
}

/// Marks `span` failed, for the trace's viewer.
pub fn failed(span: &Span) {
    span.record("otel.status_code", "ERROR");
}

/// The `traceparent` naming `span` as the parent of what comes next, if it has a trace (it has
/// none when no OpenTelemetry layer is installed).
pub fn traceparent(span: &Span) -> Option<String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Writes `span`'s context into outgoing HTTP headers (`traceparent`, and `tracestate` if any).
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    headers.remove(TRACEPARENT);
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// The trace context a `traceparent` value names; an invalid one (anything the W3C format does
/// not allow) is ignored, as the specification asks, and the work starts a trace of its own.
pub fn parse(traceparent: Option<&str>) -> Context {
    let mut carrier = HashMap::new();
    if let Some(value) = traceparent {
        carrier.insert(TRACEPARENT.to_owned(), value.to_owned());
    }
    TraceContextPropagator::new().extract(&carrier)
}

/// The span context of a `traceparent` value, if it is a valid one.
pub fn span_context(traceparent: &str) -> Option<SpanContext> {
    let context = parse(Some(traceparent));
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.clone())
}

fn adopt(span: &Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        // Fails only without the OpenTelemetry layer, when there is no trace to join.
        let _ = span.set_parent(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use proptest::prelude::*;
    use tracing_subscriber::prelude::*;

    fn with_tracing<T>(work: impl FnOnce() -> T) -> (T, Vec<opentelemetry_sdk::trace::SpanData>) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let result = tracing::subscriber::with_default(subscriber, work);
        provider.force_flush().unwrap();
        (result, exporter.get_finished_spans().unwrap())
    }

    #[test]
    fn a_request_joins_the_callers_trace_and_hands_it_on() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, incoming.parse().unwrap());
        let ((server, client), spans) = with_tracing(|| {
            let server = server_span("order", "POST", Some("/orders"), &headers);
            let client = server.in_scope(|| client_span("order", "payment", "POST", "/payments"));
            let mut outgoing = HeaderMap::new();
            inject(&client, &mut outgoing);
            let server_id = traceparent(&server).unwrap();
            let sent = outgoing[TRACEPARENT].to_str().unwrap().to_owned();
            drop(client);
            drop(server);
            (server_id, sent)
        });
        let server = span_context(&server).unwrap();
        let client = span_context(&client).unwrap();
        assert_eq!(
            server.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(client.trace_id(), server.trace_id());
        assert_ne!(client.span_id(), server.span_id());
        let by_name = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
        let server_span = by_name("POST /orders");
        assert_eq!(
            server_span.parent_span_id.to_string(),
            "00f067aa0ba902b7",
            "the caller's span is the parent"
        );
        assert_eq!(
            server_span.span_kind,
            opentelemetry::trace::SpanKind::Server
        );
        let client_span = by_name("POST payment");
        assert_eq!(
            client_span.parent_span_id,
            server_span.span_context.span_id()
        );
        assert_eq!(
            client_span.span_kind,
            opentelemetry::trace::SpanKind::Client
        );
    }

    #[test]
    fn an_event_is_published_and_processed_in_the_trace_that_wrote_it() {
        let written = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (_, spans) = with_tracing(|| {
            let publish = publish_span("order", "baedal.order", "OrderPlaced", "e1", Some(written));
            let header = traceparent(&publish).unwrap();
            drop(publish);
            drop(process_span(
                "store",
                "OrderPlaced",
                "e1",
                0,
                7,
                Some(&header),
            ));
        });
        let publish = spans
            .iter()
            .find(|s| s.name == "baedal.order publish")
            .unwrap();
        let process = spans
            .iter()
            .find(|s| s.name == "OrderPlaced process")
            .unwrap();
        assert_eq!(publish.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(process.parent_span_id, publish.span_context.span_id());
        assert_eq!(
            process.span_context.trace_id(),
            publish.span_context.trace_id()
        );
        assert_eq!(process.span_kind, opentelemetry::trace::SpanKind::Consumer);
    }

    #[test]
    fn work_without_a_valid_parent_starts_a_trace_of_its_own() {
        let (ids, _) = with_tracing(|| {
            [
                "",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "garbage",
            ]
            .map(|bad| traceparent(&process_span("store", "X", "e", 0, 0, Some(bad))).unwrap())
        });
        for id in &ids {
            let context = span_context(id).unwrap();
            assert_ne!(
                context.trace_id().to_string(),
                "00000000000000000000000000000000"
            );
        }
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn without_the_layer_nothing_is_propagated() {
        assert_eq!(
            traceparent(&client_span("order", "payment", "GET", "/")),
            None
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(input in ".{0,80}") {
            let _ = span_context(&input);
        }
    }
}

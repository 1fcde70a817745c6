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
    use proptest::prelude::*;

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

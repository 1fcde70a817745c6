//! Tests that look at the spans platform makes.
//!
//! They live in a test binary of their own because `tracing` caches, per call site, whether any
//! subscriber wants it. A test without a subscriber that reaches a call site (the `http.server`
//! span of every request, say) at the moment another test installs one can leave that call site
//! cached as unwanted, and the other test then finds no span. Here every test installs its
//! subscriber before it makes a span, so no call site is ever first seen with nobody interested.

use axum::{
    Json, Router,
    body::Body,
    http::{HeaderMap, HeaderValue, Request, StatusCode, header},
    routing::post,
};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use platform::{
    config::{HttpSettings, TraceSettings},
    http::{REQUEST_ID, finish},
    telemetry,
    trace::{
        self, TRACEPARENT, client_span, inject, process_span, publish_span, server_span,
        span_context, traceparent,
    },
};
use tower::ServiceExt;
use tracing_subscriber::prelude::*;

/// Runs `work` with this thread's spans going to an in-memory exporter, and returns what it kept.
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
fn json_log_lines_carry_the_trace_and_span_ids_of_their_span() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(telemetry::json_layer().with_writer(move || writer.clone()));
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let sent = tracing::subscriber::with_default(subscriber, || {
        let span = trace::publish_span(
            "order",
            "baedal.order",
            "OrderPlaced",
            "e1",
            Some(traceparent),
        );
        span.in_scope(|| tracing::warn!(attempt = 2, "could not publish"));
        trace::traceparent(&span).unwrap()
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["message"], "could not publish", "{text}");
    assert_eq!(line["attempt"], 2, "{text}");
    assert_eq!(
        line["openTelemetry"]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736",
        "{text}"
    );
    let span_id = line["openTelemetry"]["spanId"].as_str().unwrap();
    assert_eq!(span_id.len(), 16, "{text}");
    assert!(
        sent.contains(span_id),
        "the line names the span handed on: {sent} {text}"
    );
}

/// Without an exporter spans record nothing, yet keep their trace and hand it on.
#[test]
fn without_an_endpoint_spans_are_not_recorded_but_keep_their_trace() {
    let provider = telemetry::tracer_provider(&TraceSettings::default(), "order").unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let handed_on = tracing::subscriber::with_default(subscriber, || {
        let span = trace::process_span("store", "OrderPlaced", "e1", 0, 1, Some(caller));
        trace::traceparent(&span).unwrap()
    });
    let context = trace::span_context(&handed_on).unwrap();
    assert_eq!(
        context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_ne!(context.span_id().to_string(), "00f067aa0ba902b7");
    assert!(!context.is_sampled(), "{handed_on}");
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Order {
    quantity: u32,
}

async fn call(request: Request<Body>) -> (StatusCode, axum::response::Response) {
    let router = Router::new().route(
        "/orders",
        post(|Json(order): Json<Order>| async move { Json(order) }),
    );
    let app = finish(router, "test", &HttpSettings::default());
    let response = app.oneshot(request).await.unwrap();
    (response.status(), response)
}

#[tokio::test]
async fn responses_carry_a_request_id_and_the_span_that_served_them() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let _tracing = tracing::subscriber::set_default(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test"))),
    );
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut request = Request::post("/orders")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"quantity":2}"#))
        .unwrap();
    request
        .headers_mut()
        .insert(trace::TRACEPARENT, HeaderValue::from_static(caller));
    let (status, response) = call(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(response.headers().contains_key(&REQUEST_ID));
    let served = response.headers()[trace::TRACEPARENT].to_str().unwrap();
    let served = trace::span_context(served).unwrap();
    assert_eq!(
        served.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_ne!(served.span_id().to_string(), "00f067aa0ba902b7");
}

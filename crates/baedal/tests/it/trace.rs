//! Traces across the platform: one placed order is one trace, each hop the child of the one
//! before, from the customer's request to the store's consumer.

use opentelemetry::{
    KeyValue,
    trace::{SpanId, SpanKind, TraceId},
};
use opentelemetry_sdk::trace::SpanData;
use serde_json::json;
use testkit::Sent as _;

use crate::harness::{TestApp, eventually, order_body, spans};

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k.as_str() == key)
        .map(|kv| &kv.value)
}

fn service(span: &SpanData) -> String {
    attribute(span, "service").map_or_else(String::new, |v| v.as_str().into_owned())
}

fn describe(spans: &[SpanData]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "{} [{}] {:?} {} <- {}",
                s.name,
                service(s),
                s.span_kind,
                s.span_context.span_id(),
                s.parent_span_id
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one span of `kind` that `service` made under `parent`, named `name`.
fn child<'a>(
    spans: &'a [SpanData],
    parent: SpanId,
    kind: SpanKind,
    service_name: &str,
    name: &str,
) -> &'a SpanData {
    let found: Vec<&SpanData> = spans
        .iter()
        .filter(|s| {
            s.parent_span_id == parent
                && s.span_kind == kind
                && service(s) == service_name
                && s.name == name
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind:?} span {name:?} of {service_name} under {parent}; the trace:\n{}",
        describe(spans)
    );
    found[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn one_placed_order_is_one_trace_from_the_gateway_to_the_stores_consumer() {
    let spans = spans();
    let app = TestApp::spawn().await;
    let customer = app.login("customer1").await;
    let owner = app.login("owner1").await;
    let store_id = app.store_id(&owner, "owner1").await;
    // The order service's menu replica knows the store once one order goes through.
    app.placed_order(&customer, &store_id).await;

    // The customer's browser starts the trace.
    let trace = TraceId::from_hex(&uuid::Uuid::new_v4().simple().to_string()).unwrap();
    let browser = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    spans.watch(trace);
    let response = app
        .http
        .post(app.url("/orders"))
        .bearer_auth(&customer)
        .header("traceparent", format!("00-{trace}-{browser}-01"))
        .json(&order_body(
            &store_id,
            json!([{"foodId": "tuna-kimbap", "quantity": 1}]),
            "tok_visa",
        ))
        .sent()
        .await;
    assert_eq!(response.status(), 201);
    // The gateway answers with the span that served the request, in the browser's trace.
    let served = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(served.starts_with(&format!("00-{trace}-")), "{served}");

    let all = eventually(30, "the store's consumer to handle the order", || async {
        let ended = spans.of(trace);
        let consumers: Vec<String> = ended
            .iter()
            .filter(|s| s.name == "OrderPlaced process")
            .map(service)
            .collect();
        (consumers.iter().any(|c| c == "store") && consumers.len() >= 2).then_some(ended)
    })
    .await;

    // gateway → order → payment, and order → relay → store consumer, each the child of the last.
    use SpanKind::{Client, Consumer, Producer, Server};
    let under =
        |parent: SpanId, kind, service, name: &str| child(&all, parent, kind, service, name);
    let id = |span: &SpanData| span.span_context.span_id();
    let order_topic = app
        .platform
        .as_ref()
        .unwrap()
        .settings
        .kafka
        .topic_of(contracts::Producer::Order);
    let gateway = under(browser, Server, "gateway", "POST /orders");
    let forward = under(id(gateway), Client, "gateway", "POST order");
    let order = under(id(forward), Server, "order", "POST /orders");
    let charge = under(id(order), Client, "order", "POST payment");
    under(id(charge), Server, "payment", "POST /internal/payments");
    let publish = under(
        id(order),
        Producer,
        "order",
        &format!("{order_topic} publish"),
    );
    assert_eq!(
        attribute(publish, "event_type").map(|v| v.as_str().into_owned()),
        Some("OrderPlaced".into())
    );
    let consumed = under(id(publish), Consumer, "store", "OrderPlaced process");
    assert!(
        all.iter()
            .all(|s| s.span_context.trace_id() == trace && s.end_time >= s.start_time),
        "{}",
        describe(&all)
    );
    // The spans nest in time as they do in the tree. Only their starts: a server's span closes
    // once the body it answered is flushed, which may be just after the caller's span, which
    // ends as it has read that body, has closed.
    assert!(gateway.start_time <= order.start_time && order.start_time <= gateway.end_time);
    assert!(publish.start_time >= order.start_time);
    assert_eq!(gateway.status, opentelemetry::trace::Status::Unset);
    assert_eq!(
        attribute(gateway, "http.response.status_code").map(|v| v.as_str().into_owned()),
        Some("201".into())
    );
    assert!(consumed.start_time >= publish.start_time);
    // Other consumers of OrderPlaced (mypage, notification, delivery, ...) join the same trace.
    assert!(
        all.iter()
            .filter(|s| s.parent_span_id == publish.span_context.span_id())
            .count()
            >= 2,
        "{}",
        describe(&all)
    );
    app.stop().await;
}

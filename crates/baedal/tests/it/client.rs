//! The resilient client against a real HTTP peer that can be made slow or broken: timeouts, the
//! breaker opening, failing fast, and closing again once the peer recovers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::HeaderMap, routing::post};
use http::{Method, StatusCode};
use platform::{
    AuthKeys, ServiceName,
    client::{CallError, ResilientClient},
    config::{AuthSettings, BreakerSettings, HttpSettings, Secret},
};
use serde_json::{Value, json};
use tower_resilience::circuitbreaker::CircuitState;
use tracing::Instrument;

const HEALTHY: u8 = 0;
const SLOW: u8 = 1;
const BROKEN: u8 = 2;

#[derive(Clone, Default)]
struct Peer {
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicUsize>,
}

async fn handle(State(peer): State<Peer>, headers: HeaderMap) -> (StatusCode, axum::Json<Value>) {
    peer.calls.fetch_add(1, Ordering::SeqCst);
    match peer.mode.load(Ordering::SeqCst) {
        SLOW => {
            tokio::time::sleep(Duration::from_millis(800)).await;
            (StatusCode::OK, axum::Json(json!({})))
        }
        BROKEN => (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({}))),
        _ => {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            (
                StatusCode::OK,
                axum::Json(json!({
                    "authorization": header("authorization"),
                    "idempotencyKey": header("idempotency-key"),
                    "traceparent": header("traceparent"),
                })),
            )
        }
    }
}

async fn reject() -> (StatusCode, axum::Json<Value>) {
    (
        StatusCode::PAYMENT_REQUIRED,
        axum::Json(
            json!({"type": "urn:baedal:problem:card-declined", "title": "Payment Required",
            "status": 402, "code": "card-declined"}),
        ),
    )
}

async fn start_peer() -> (Peer, String) {
    let peer = Peer::default();
    let app = Router::new()
        .route("/charge", post(handle))
        .route("/reject", post(reject))
        .with_state(peer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (peer, url)
}

fn keys() -> AuthKeys {
    let mut auth = AuthSettings::default();
    auth.fill_missing(|_| Ok(Secret::random())).unwrap();
    AuthKeys::new(&auth).unwrap()
}

fn client_with(keys: AuthKeys, url: &str) -> ResilientClient {
    ResilientClient::new(
        ServiceName::Order,
        keys,
        "payment",
        url,
        &HttpSettings {
            call_timeout: std::time::Duration::from_millis(200),
            breaker: BreakerSettings {
                failure_rate: 0.5,
                window: 4,
                min_calls: 4,
                open_for: std::time::Duration::from_millis(700),
                half_open_calls: 1,
            },
            body_limit_bytes: 1024,
            ..HttpSettings::default()
        },
    )
    .unwrap()
}

fn client(url: &str) -> ResilientClient {
    client_with(keys(), url)
}

async fn call(client: &ResilientClient, path: &str) -> Result<Value, CallError> {
    client
        .json(Method::POST, path, Some(&json!({})), Some("order-9"))
        .await
}

#[tokio::test]
async fn calls_carry_the_service_token_the_idempotency_key_and_the_trace() {
    let (_, url) = start_peer().await;
    let keys = keys();
    let client = client_with(keys.clone(), &url);
    crate::harness::spans();
    let span = tracing::info_span!(target: "platform::trace", "placing an order");
    let caller =
        platform::trace::span_context(&platform::trace::traceparent(&span).unwrap()).unwrap();
    let echoed = call(&client, "/charge").instrument(span).await.unwrap();
    // The calling service's own token, which the peer's ServiceCaller accepts.
    assert_eq!(
        echoed["authorization"],
        format!("Bearer {}", keys.service_token(ServiceName::Order).unwrap())
    );
    assert_eq!(echoed["idempotencyKey"], "order-9");
    // The call's own span, a child of the calling span, in its trace.
    let called = platform::trace::span_context(echoed["traceparent"].as_str().unwrap()).unwrap();
    assert_eq!(called.trace_id(), caller.trace_id());
    assert_ne!(called.span_id(), caller.span_id());
    // A client error is the caller's answer, with the peer's problem; it does not trip the breaker.
    for _ in 0..6 {
        match call(&client, "/reject").await {
            Err(CallError::Rejected {
                status, problem, ..
            }) => {
                assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
                assert_eq!(problem.unwrap().code, "card-declined");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    assert_eq!(client.state(), CircuitState::Closed);
}

#[tokio::test]
async fn the_breaker_opens_on_a_slow_peer_fails_fast_and_closes_after_recovery() {
    let (peer, url) = start_peer().await;
    let client = client(&url);
    call(&client, "/charge").await.unwrap();

    peer.mode.store(SLOW, Ordering::SeqCst);
    for _ in 0..4 {
        let started = Instant::now();
        let error = call(&client, "/charge").await.unwrap_err();
        assert!(matches!(error, CallError::Unavailable { .. }), "{error}");
        assert!(
            started.elapsed() < Duration::from_millis(700),
            "the timeout cut it short"
        );
    }
    assert_eq!(client.state(), CircuitState::Open);

    // Open: calls fail at once without reaching the peer.
    let before = peer.calls.load(Ordering::SeqCst);
    let started = Instant::now();
    let error = call(&client, "/charge").await.unwrap_err();
    assert!(
        error.to_string().contains("circuit breaker is open"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(peer.calls.load(Ordering::SeqCst), before);

    // The peer recovers; after the open period a trial call goes through and closes the breaker.
    peer.mode.store(HEALTHY, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(800)).await;
    call(&client, "/charge").await.unwrap();
    call(&client, "/charge").await.unwrap();
    assert_eq!(client.state(), CircuitState::Closed);
}

#[tokio::test]
async fn server_errors_and_refused_connections_are_unavailable() {
    let (peer, url) = start_peer().await;
    peer.mode.store(BROKEN, Ordering::SeqCst);
    let error = call(&client(&url), "/charge").await.unwrap_err();
    assert!(matches!(error, CallError::Unavailable { .. }), "{error}");

    let port = baedal::broker::free_port().unwrap();
    let error = call(&client(&format!("http://127.0.0.1:{port}")), "/charge")
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::Unavailable { .. }), "{error}");
}

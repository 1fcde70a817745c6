//! The HTTP side every service shares: extractors that turn bad input into problem bodies, the
//! common middleware (request ids, trace context, access logs, metrics, panic safety), the
//! `/healthz`, `/readyz` and `/metrics` endpoints, and a server that drains on shutdown.

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{bus::EventBus, db::Db, problem::ApiError, ready::Gate, trace::TraceContext};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// `axum::Json` whose rejections are problem bodies (400 malformed, 415 not JSON, 422 wrong shape).
#[derive(FromRequest, Debug, Clone, Default)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` whose rejections are problem bodies.
#[derive(FromRequestParts, Debug)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` whose rejections are problem bodies.
#[derive(FromRequestParts, Debug)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    pub db: Option<Db>,
    pub bus: Option<EventBus>,
    /// Opens when the instance has started: its consumers joined their groups, and for `up` the
    /// demo data is in.
    pub started: Gate,
}

/// Health, readiness and metrics endpoints, merged into every service's router.
pub fn operational_routes(readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "alive"})) }),
        )
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics_text))
        .with_state(Arc::new(readiness))
}

async fn ready(State(readiness): State<Arc<Readiness>>) -> Response {
    if !readiness.started.is_open() {
        return ApiError::unavailable("starting", "still starting").into_response();
    }
    let database = match &readiness.db {
        Some(db) => Some(db.ping().await.is_ok()),
        None => None,
    };
    let broker = match &readiness.bus {
        Some(bus) => Some(bus.ping().await),
        None => None,
    };
    let word = |up: Option<bool>| match up {
        Some(true) => "up",
        Some(false) => "down",
        None => "n/a",
    };
    let body = serde_json::json!({
        "status": if database != Some(false) && broker != Some(false) { "ready" } else { "not-ready" },
        "database": word(database),
        "broker": word(broker),
    });
    if database == Some(false) || broker == Some(false) {
        let detail = format!("database {}, broker {}", word(database), word(broker));
        ApiError::unavailable("not-ready", detail).into_response()
    } else {
        axum::Json(body).into_response()
    }
}

async fn metrics_text() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render_metrics(),
    )
        .into_response()
}

/// Wraps a service's routes with the behaviour every endpoint shares.
pub fn finish(router: Router, service: &'static str, body_limit: usize) -> Router {
    router
        .fallback(|| async { ApiError::not_found("no-route", "there is no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(move |req, next| {
            reject_nul(body_limit, req, next)
        }))
        .layer(middleware::from_fn(move |req, next| {
            record_metrics(service, req, next)
        }))
        .layer(middleware::from_fn(trace_context))
        .layer(
            TraceLayer::new_for_http().make_span_with(move |req: &Request| {
                let request_id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", service, method = %req.method(), uri = %req.uri(), request_id)
            }),
        )
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// PostgreSQL cannot store NUL in text, so a `\u0000` in a body or `%00` in a URL would turn a
/// client's mistake into a 500 there (and store garbage in SQLite). Refused up front, once.
async fn reject_nul(body_limit: usize, request: Request, next: Next) -> Response {
    let uri = request.uri().to_string();
    if uri.contains("%00") {
        return ApiError::bad_request("invalid-path", "URLs may not contain NUL characters")
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                format!("request bodies are limited to {body_limit} bytes"),
            )
            .into_response();
        }
    };
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return ApiError::unprocessable("invalid-body", "text may not contain NUL characters")
            .into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

async fn trace_context(request: Request, next: Next) -> Response {
    let context = request
        .headers()
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
        .map(|t| t.child())
        .unwrap_or_else(TraceContext::root);
    let header = HeaderValue::from_str(&context.header()).ok();
    let mut response = context.scope(next.run(request)).await;
    if let Some(header) = header {
        response.headers_mut().insert(TRACEPARENT, header);
    }
    response
}

async fn record_metrics(service: &'static str, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "service" => service, "method" => method.clone(),
        "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("http_request_duration_seconds", "service" => service, "method" => method,
        "route" => route)
    .record(started.elapsed().as_secs_f64());
    response
}

/// Serves until `shutdown`, then stops accepting and lets requests in flight finish. Each request
/// carries its peer's address (`ConnectInfo`), for the gateway's `x-forwarded-for` and limits.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, routing::post};
    use tower::ServiceExt;

    #[derive(serde::Deserialize, Serialize)]
    struct Order {
        quantity: u32,
    }

    fn app() -> Router {
        let router = Router::new().route(
            "/orders",
            post(|Json(order): Json<Order>| async move { Json(order) }),
        );
        finish(router, "test", 1024)
    }

    async fn call(request: Request<Body>) -> (StatusCode, Response) {
        let response = app().oneshot(request).await.unwrap();
        (response.status(), response)
    }

    fn post_json(body: &'static str, content_type: &str) -> Request<Body> {
        Request::post("/orders")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    }

    async fn code(response: Response) -> String {
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            crate::problem::CONTENT_TYPE
        );
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let problem: crate::problem::Problem = serde_json::from_slice(&bytes).unwrap();
        problem.code
    }

    #[tokio::test]
    async fn every_bad_request_gets_a_problem_body() {
        let cases = [
            (post_json("{", "application/json"), 400, "malformed-json"),
            (
                post_json(r#"{"quantity":-1}"#, "application/json"),
                422,
                "invalid-body",
            ),
            (
                post_json(r#"{"quantity":1}"#, "text/plain"),
                415,
                "expected-json",
            ),
            (
                Request::get("/nowhere").body(Body::empty()).unwrap(),
                404,
                "no-route",
            ),
            (
                Request::get("/orders").body(Body::empty()).unwrap(),
                405,
                "method-not-allowed",
            ),
        ];
        for (request, status, expected) in cases {
            let (actual, response) = call(request).await;
            assert_eq!(actual.as_u16(), status);
            assert_eq!(code(response).await, expected);
        }
    }

    #[tokio::test]
    async fn nul_characters_are_refused_before_they_reach_storage() {
        let (status, response) = call(post_json(
            r#"{"quantity":1,"x":"a\u0000b"}"#,
            "application/json",
        ))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(code(response).await, "invalid-body");
        let (status, _) = call(Request::get("/orders%00").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn too_large_bodies_are_refused_with_413() {
        let big: &'static str =
            Box::leak(format!(r#"{{"quantity":1,"pad":"{}"}}"#, "x".repeat(4096)).into_boxed_str());
        let (status, response) = call(post_json(big, "application/json")).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(code(response).await, "body-too-large");
    }

    #[tokio::test]
    async fn responses_carry_a_request_id_and_trace() {
        let (status, response) = call(post_json(r#"{"quantity":2}"#, "application/json")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(response.headers().contains_key(&REQUEST_ID));
        let trace = response.headers()[&TRACEPARENT].to_str().unwrap();
        assert!(TraceContext::parse(trace).is_some());
    }
}

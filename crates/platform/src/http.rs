//! The HTTP side every service shares: extractors that turn bad input into problem bodies, the
//! common middleware (request ids, trace context, access logs, metrics, panic safety), the
//! `/healthz` and `/readyz` endpoints, and a server that drains on shutdown and does not let
//! slow or numerous clients hold it. Metrics are served apart, on an internal listener.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{
        ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State,
    },
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use serde::Serialize;
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};
use tracing::Instrument;

use crate::{bus::EventBus, config::HttpSettings, db::Db, problem::ApiError, ready::Gate, trace};

/// Longest URI and header block a request may have; longer ones get 414 and 431 problem bodies.
/// (hyper itself refuses URIs over 64 KiB and heads over [`MAX_HEAD_BYTES`], with bare answers.)
pub const MAX_URI_BYTES: usize = 8 * 1024;
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
const MAX_HEAD_BYTES: usize = 1024 * 1024;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// Health and readiness endpoints, merged into every service's router.
pub fn operational_routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(alive))
        .route("/readyz", get(ready))
        .with_state(Arc::new(readiness))
}

/// The process's metrics, for the internal metrics listener (`metrics.bind`), never for a
/// public one.
pub fn metrics_routes() -> Router {
    Router::new().route("/metrics", get(metrics_text))
}

/// The process is alive (liveness): it answers without looking at anything else.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "alive: `{\"status\": \"alive\"}`")),
    security(())
)]
pub async fn alive() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "alive"}))
}

/// Whether the process can do its work (readiness): its database and broker answer.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "ready: `{\"status\": \"ready\", \"database\": \"up\", \"broker\": \"up\"}`"),
        (status = 503, description = "still starting, or a dependency is down (`code`: starting, not-ready)")
    ),
    security(())
)]
pub async fn ready(State(readiness): State<Arc<Readiness>>) -> Response {
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
pub fn finish(router: Router, service: &'static str, settings: &HttpSettings) -> Router {
    let body_limit = settings.body_limit_bytes;
    let body_timeout = settings.body_read_timeout;
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
            read_body(body_limit, body_timeout, req, next)
        }))
        .layer(middleware::from_fn(move |req, next| {
            record_metrics(service, req, next)
        }))
        .layer(middleware::from_fn(move |req, next| {
            traced(service, req, next)
        }))
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::from_fn(check_head))
}

/// A request id is echoed in responses and written to every log line: only a short token is
/// taken from a client, anything else is replaced by one of ours.
fn acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Checks what comes before the body: a URI or headers too long for us get their problem body
/// (hyper would answer far larger ones with a bare status), and an unusable request id is
/// dropped so a fresh one is made.
async fn check_head(mut request: Request, next: Next) -> Response {
    let uri_bytes = request.uri().to_string().len();
    if uri_bytes > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            format!("URIs are limited to {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            format!("request headers are limited to {MAX_HEADER_BYTES} bytes"),
        )
        .into_response();
    }
    if request
        .headers()
        .get(&REQUEST_ID)
        .is_some_and(|id| !acceptable_request_id(id))
    {
        request.headers_mut().remove(&REQUEST_ID);
    }
    next.run(request).await
}

/// Reads the whole body before the handler runs, within the size limit and the body timeout (a
/// client announcing 1000 bytes and sending 5 does not hold the connection), and refuses NUL:
/// PostgreSQL cannot store it in text, so a `\u0000` in a body or `%00` in a URL would turn a
/// client's mistake into a 500 there (and store garbage in SQLite).
async fn read_body(
    body_limit: usize,
    body_timeout: Duration,
    request: Request,
    next: Next,
) -> Response {
    let uri = request.uri().to_string();
    if uri.contains("%00") {
        return ApiError::bad_request("invalid-path", "URLs may not contain NUL characters")
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let bytes =
        match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, body_limit)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) => {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    format!("request bodies are limited to {body_limit} bytes"),
                )
                .into_response();
            }
            Err(_) => {
                let mut response = ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body-timeout",
                    format!(
                        "the request body did not arrive within {} ms",
                        body_timeout.as_millis()
                    ),
                )
                .into_response();
                // The rest of the body may never come: do not wait for it on this connection.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return response;
            }
        };
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return ApiError::unprocessable("invalid-body", "text may not contain NUL characters")
            .into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Serves the request in a span of its own, a child of the caller's when the request names one
/// (`traceparent`), and tells the caller which span served it.
async fn traced(service: &'static str, request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<trace::Route>() {
        Some(trace::Route(template)) => Some(*template),
        None => request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    };
    let span = trace::server_span(service, request.method().as_str(), route, request.headers());
    if let Some(id) = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
    {
        span.record("request_id", id);
    }
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        trace::failed(&span);
        span.in_scope(|| {
            tracing::error!(
                status = status.as_u16(),
                latency_ms = started.elapsed().as_millis() as u64,
                "request failed"
            )
        });
    }
    if let Some(value) = trace::traceparent(&span).and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(trace::TRACEPARENT, value);
    }
    response
}

async fn record_metrics(service: &'static str, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    // Clients choose the method; only the standard ones become label values, so made-up methods
    // cannot grow the number of series.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "service" => service, "method" => method,
        "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("http_request_duration_seconds", "service" => service, "method" => method,
        "route" => route)
    .record(started.elapsed().as_secs_f64());
    response
}

/// Serves until `shutdown`, then stops accepting and lets requests in flight finish. Each request
/// carries its peer's address (`ConnectInfo`), for the gateway's `x-forwarded-for` and limits.
///
/// A client has `http.header_read_timeout` to send each request's headers (or the connection
/// closes), and at most `http.max_connections` connections are open at once; more wait in the
/// listen queue.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    settings: &HttpSettings,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        // The gateway carries every client's live stream to a service over one HTTP/2
        // connection: as many streams as the service takes connections.
        .max_concurrent_streams(u32::try_from(settings.max_connections).unwrap_or(u32::MAX));
    let connections = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service =
            tower::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                router.clone().oneshot(request.map(axum::body::Body::new))
            });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, error = %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A list request's query: how many items it answers (`limit`: `DEFAULT` when the query names
/// none, else 1 to `MAX`; anything else is 400 `invalid-limit`) and the list's own parameters
/// `T`, which may refuse any others (`deny_unknown_fields`) as `limit` is taken out first.
/// Documented by `params(T, Limit<DEFAULT, MAX>)`.
#[derive(Debug)]
pub struct Paged<const DEFAULT: i64, const MAX: i64, T = NoParams> {
    pub limit: i64,
    pub query: T,
}

/// A list that takes no parameters but its page size.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl<S, T, const DEFAULT: i64, const MAX: i64> FromRequestParts<S> for Paged<DEFAULT, MAX, T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        let invalid_query = |error: serde_urlencoded::de::Error| {
            ApiError::bad_request(
                "invalid-query",
                format!("Failed to deserialize query string: {error}"),
            )
        };
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
                .map_err(invalid_query)?;
        let asked = pairs.iter().rposition(|(name, _)| name == "limit");
        let limit = page_size(asked.map(|at| pairs[at].1.as_str()), DEFAULT, MAX)?;
        pairs.retain(|(name, _)| name != "limit");
        let rest = serde_urlencoded::to_string(&pairs).expect("pairs of strings encode");
        let query = serde_urlencoded::from_str(&rest).map_err(invalid_query)?;
        Ok(Self { limit, query })
    }
}

/// How many items a list answers: `default` when the query names no `limit`, else 1 to `max`;
/// anything else is 400 `invalid-limit`.
fn page_size(limit: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    match limit.map(str::parse::<i64>) {
        None => Ok(default),
        Some(Ok(asked)) if (1..=max).contains(&asked) => Ok(asked),
        Some(_) => Err(ApiError::bad_request(
            "invalid-limit",
            format!("limit must be a whole number from 1 to {max}"),
        )),
    }
}

/// The `limit` parameter of a [`Paged`] list, for its OpenAPI document.
pub struct Limit<const DEFAULT: i64, const MAX: i64>;

impl<const DEFAULT: i64, const MAX: i64> utoipa::IntoParams for Limit<DEFAULT, MAX> {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::{
            KnownFormat, ObjectBuilder, Required, SchemaFormat, Type,
            path::{ParameterBuilder, ParameterIn},
        };
        let schema = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(MAX))
            .default(Some(DEFAULT.into()));
        vec![
            ParameterBuilder::new()
                .name("limit")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(format!(
                    "how many to answer, 1 to {MAX} (default {DEFAULT})"
                )))
                .schema(Some(schema))
                .build(),
        ]
    }
}

/// Deserializes a whole number that JSON may also write as `3.0`: JSON Schema's `integer` (and so
/// every client that follows the API's OpenAPI document) admits both.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::{Deserialize, de::Error};
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(whole) = number.as_i64() {
        return Ok(whole);
    }
    match number.as_f64() {
        Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => Ok(float as i64),
        _ => Err(D::Error::custom(format!(
            "expected a whole number, found {number}"
        ))),
    }
}

/// `/healthz` and `/readyz`, described for an OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(alive, ready))]
struct OperationsDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    <OperationsDoc as utoipa::OpenApi>::openapi()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_page_is_the_default_size_or_one_to_the_most_and_other_parameters_stay_strict() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Orders {
            status: Option<String>,
        }
        async fn paged(uri: &str) -> Result<Paged<20, 100, Orders>, ApiError> {
            let request = axum::http::Request::get(uri).body(()).unwrap();
            let (mut parts, ()) = request.into_parts();
            Paged::from_request_parts(&mut parts, &()).await
        }
        let page = paged("/orders").await.unwrap();
        assert_eq!((page.limit, page.query), (20, Orders { status: None }));
        let page = paged("/orders?status=Placed&limit=100").await.unwrap();
        assert_eq!(
            (page.limit, page.query.status.as_deref()),
            (100, Some("Placed"))
        );
        assert_eq!(paged("/orders?limit=1").await.unwrap().limit, 1);
        for bad in ["0", "-1", "101", "9223372036854775808", "abc", "2.5", ""] {
            let error = paged(&format!("/orders?limit={bad}")).await.unwrap_err();
            assert_eq!(error.code, "invalid-limit", "{bad}");
        }
        let error = paged("/orders?sort=newest").await.unwrap_err();
        assert_eq!(error.code, "invalid-query");
    }

    /// JSON Schema's `integer` admits `3.0`, so a client following the document may send it; a
    /// fraction or a number out of range is still refused.
    #[test]
    fn whole_numbers_come_as_integers_or_integral_floats() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(deserialize_with = "super::whole_number")]
            n: i64,
        }
        let n = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.n);
        assert_eq!(n(r#"{"n": 3}"#).unwrap(), 3);
        assert_eq!(n(r#"{"n": -3.0}"#).unwrap(), -3);
        assert!(n(r#"{"n": 3.5}"#).is_err());
        assert!(n(r#"{"n": 1e300}"#).is_err());
        assert!(n(r#"{"n": "3"}"#).is_err());
    }

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
        let settings = HttpSettings {
            body_limit_bytes: 1024,
            ..HttpSettings::default()
        };
        finish(router, "test", &settings)
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
}

//! The reverse proxy: picks the service for a request from the public route table
//! ([`crate::routes`]) and relays the request and its answer, turning a down, slow or broken
//! service into a problem body clients can act on.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use axum::{
    Router,
    body::{Body, Bytes},
    extract::{ConnectInfo, FromRequest, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::Response,
    routing::any,
};
use futures::StreamExt;
use platform::{ApiError, ApiResult, ServiceName, Settings, http::REQUEST_ID, trace};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    accounts::SignedIn,
    routes::{Lookup, PublicRoute},
};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); relaying them would
/// describe the client's connection to the service, or the service's to the client.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The services' addresses and the client that relays to them, cheap to clone per request.
#[derive(Clone)]
pub struct Proxy(Arc<Inner>);

struct Inner {
    targets: Vec<Target>,
    client: reqwest::Client,
    /// Live streams go over HTTP/2 (cleartext, by prior knowledge): thousands of them share one
    /// connection to a service instead of holding a socket each.
    streams: reqwest::Client,
    body_limit: usize,
    streams_per_client: u32,
    /// Live streams open per caller.
    open: Mutex<HashMap<String, u32>>,
    /// Live streams end with the gateway, so it can drain.
    shutdown: CancellationToken,
}

struct Target {
    service: ServiceName,
    /// Without a trailing slash, so the original path can be appended as is.
    base_url: String,
    timeout: Duration,
}

impl Proxy {
    /// Service URLs were parsed with the settings, so only building the clients can fail.
    pub fn new(settings: &Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let targets = ServiceName::ALL
            .iter()
            .map(|service| Target {
                service: *service,
                base_url: settings
                    .service(*service)
                    .url
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
                timeout: settings.gateway.timeout,
            })
            .collect();
        let client = platform::client::platform_client(&settings.http)
            // The client, not the gateway, decides whether to follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the proxy's http client")?;
        // Over HTTP/2 an idle connection stays open (pings keep it alive), so this pool keeps
        // its connections.
        let streams = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http2_prior_knowledge()
            .http2_keep_alive_interval(Duration::from_secs(30))
            .http2_keep_alive_while_idle(true)
            .build()
            .context("building the proxy's stream client")?;
        Ok(Self(Arc::new(Inner {
            targets,
            client,
            streams,
            body_limit: settings.http.body_limit_bytes,
            streams_per_client: settings.gateway.streams_per_client,
            open: Mutex::new(HashMap::new()),
            shutdown,
        })))
    }

    /// A place for one more live stream of `caller`, held until the stream ends.
    fn stream_slot(&self, caller: Option<&SignedIn>) -> ApiResult<StreamSlot> {
        let Some(SignedIn(subject)) = caller else {
            // The service refuses it: live streams are for signed-in callers.
            return Ok(StreamSlot(None));
        };
        let mut open = self.0.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(subject.clone()).or_default();
        let bound = self.0.streams_per_client;
        if bound > 0 && *count >= bound {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-streams",
                format!("at most {bound} live streams may be open at once; close one first"),
            ));
        }
        *count += 1;
        Ok(StreamSlot(Some((self.clone(), subject.clone()))))
    }

    /// Where a request goes, if it is public, and its route.
    fn target(&self, method: &Method, path: &str) -> ApiResult<(&'static PublicRoute, &Target)> {
        let route = match crate::routes::lookup(method, path) {
            Lookup::Found(route) => route,
            Lookup::WrongMethod(allowed) => {
                let allow = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    format!("this endpoint takes {allow}"),
                )
                .allow(allow));
            }
            Lookup::NotPublic => {
                return Err(ApiError::not_found(
                    "no-route",
                    format!("no service answers {path}"),
                ));
            }
        };
        let target = self
            .0
            .targets
            .iter()
            .find(|target| target.service == route.service)
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("no target for {}", route.service))
            })?;
        Ok((route, target))
    }
}

/// One open live stream of a caller; the count goes down when the stream ends.
struct StreamSlot(Option<(Proxy, String)>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some((proxy, subject)) = self.0.take() {
            let mut open = proxy.0.open.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = open.get_mut(&subject) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&subject);
                }
            }
        }
    }
}

/// Every path the gateway does not answer itself. A catch-all route rather than a fallback:
/// `platform::http::finish` installs its own 404 fallback, which would replace ours.
pub fn routes(proxy: Proxy) -> Router {
    Router::new()
        .route("/", any(forward))
        .route("/{*path}", any(forward))
        .with_state(proxy)
}

/// True for a path with `.` or `..` segments, plain or percent-encoded: the URL library would
/// resolve them after routing, letting `/orders/%2e%2e/metrics` reach a service's internals.
fn has_dot_segments(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

/// Refuses a path that is not what it looks like: one the URL parser that builds the upstream
/// URL would change (a `\` is a `/` to it, dot segments are resolved), or that hides a separator
/// in percent-encoding (`%2f`, `%5c`), which a service might decode after routing.
fn check_path(path: &str) -> ApiResult<()> {
    let refuse = |why: &str| Err(ApiError::bad_request("invalid-path", why.to_owned()));
    let lower = path.to_ascii_lowercase();
    if path.contains('\\') || lower.contains("%5c") || lower.contains("%2f") {
        return refuse("paths may not contain backslashes or encoded separators");
    }
    if has_dot_segments(path) {
        return refuse("paths may not contain `.` or `..` segments");
    }
    match url::Url::parse(&format!("http://gateway{path}")) {
        Ok(url) if url.path() == path => Ok(()),
        _ => refuse("the path is not in normal form"),
    }
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> ApiResult<Response> {
    let path = request.uri().path();
    check_path(path)?;
    let (route, target) = proxy.target(request.method(), path)?;
    // A live stream holds a place of its caller's for as long as it lasts.
    let slot = if route.streams() {
        Some(proxy.stream_slot(request.extensions().get::<SignedIn>())?)
    } else {
        None
    };
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or(path, |pq| pq.as_str());
    let url = format!("{}{path_and_query}", target.base_url);
    let method = request.method().clone();
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let mut headers = upstream_headers(request.headers(), client_ip);
    let span = trace::client_span("gateway", target.service.as_str(), method.as_str(), path);
    trace::inject(&span, &mut headers);
    let body = read_body(request, proxy.0.body_limit).await?;

    let client = if slot.is_some() {
        &proxy.0.streams
    } else {
        &proxy.0.client
    };
    let mut upstream = client
        .request(method.clone(), url)
        .headers(headers)
        .body(body);
    if slot.is_none() {
        upstream = upstream.timeout(target.timeout);
    }
    // A stream's head must come within the timeout too; its body then has none (the service's
    // heartbeats keep it alive).
    let answer = tokio::time::timeout(target.timeout, upstream.send())
        .instrument(span.clone())
        .await
        .map_err(|_| timeout_error(target))
        .and_then(|sent| sent.map_err(|error| transport_error(target, error)))
        .inspect_err(|_| trace::failed(&span))?;
    let status = answer.status();
    span.record("http.response.status_code", status.as_u16());
    let mut headers = answer.headers().clone();
    strip_hop_by_hop(&mut headers);
    // The body is re-framed here; a HEAD answer keeps the length of the body it describes.
    if method != Method::HEAD {
        headers.remove(header::CONTENT_LENGTH);
    }
    let is_event_stream = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    let body = match slot {
        // Relayed as it comes: each event reaches the client as the service sends it, for as
        // long as both stay (or the gateway stops).
        Some(slot) if status.is_success() && is_event_stream => {
            // A proxy in front of the gateway (nginx, say) must not hold events back either.
            headers.insert(
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            );
            let shutdown = proxy.0.shutdown.clone();
            let events = answer
                .bytes_stream()
                .take_until(async move { shutdown.cancelled().await })
                .map(move |chunk| {
                    let _open = &slot;
                    chunk
                });
            Body::from_stream(events)
        }
        // Anything else, a stream's refusal included, is read whole.
        _ => Body::from(
            answer
                .bytes()
                .await
                .map_err(|error| transport_error(target, error))?,
        ),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

async fn read_body(request: Request, limit: usize) -> ApiResult<Bytes> {
    Bytes::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    format!("the request body exceeds {limit} bytes"),
                )
            } else {
                ApiError::bad_request("unreadable-body", rejection.body_text())
            }
        })
}

fn upstream_headers(incoming: &HeaderMap, client_ip: Option<IpAddr>) -> HeaderMap {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    // Host names the gateway; reqwest sets the service's. The length is recomputed from the body.
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    if !headers.contains_key(REQUEST_ID) {
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(value) = HeaderValue::from_str(&id) {
            headers.insert(REQUEST_ID, value);
        }
    }
    if let Some(ip) = client_ip {
        let mut chain: Vec<String> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect();
        chain.push(ip.to_string());
        if let Ok(value) = HeaderValue::from_str(&chain.join(", ")) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    headers
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // `Connection` may name further headers that belong to this hop only.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

fn timeout_error(target: &Target) -> ApiError {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream-timeout",
        format!(
            "the {} service did not answer within {} ms",
            target.service,
            target.timeout.as_millis()
        ),
    )
}

fn transport_error(target: &Target, error: reqwest::Error) -> ApiError {
    let service = target.service;
    tracing::warn!(%service, error = ?error, "proxied request failed");
    if error.is_connect() {
        ApiError::unavailable(
            "service-unavailable",
            format!("the {service} service cannot be reached right now; retry later"),
        )
    } else if error.is_timeout() {
        timeout_error(target)
    } else {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad-gateway",
            format!("the {service} service gave no usable answer"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_caught_however_they_are_written() {
        for path in [
            "/orders/../metrics",
            "/orders/%2e%2e/metrics",
            "/orders/%2E./x",
            "/a/./b",
            "/a/..",
        ] {
            assert!(has_dot_segments(path), "{path}");
        }
        for path in ["/orders/1", "/stores/a.b/menu", "/orders/..x", "/"] {
            assert!(!has_dot_segments(path), "{path}");
        }
    }

    #[test]
    fn paths_a_parser_would_change_are_refused() {
        for path in [
            "/orders/..\\metrics",
            "/orders/%5c..%5cmetrics",
            "/orders/a%2fb",
            "/orders/a%2Fb",
            "/orders/x/../../metrics",
            "/orders/%2e%2e/metrics",
            "/orders/a b",
        ] {
            assert!(check_path(path).is_err(), "{path}");
        }
        for path in [
            "/orders/1",
            "/stores/a.b/menu",
            "/orders/..x",
            "/",
            "/orders/%20x",
        ] {
            assert!(check_path(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn requests_go_to_the_service_of_their_route() {
        let settings = Settings::default();
        let proxy = Proxy::new(&settings, CancellationToken::new()).unwrap();
        let service = |method: Method, path| proxy.target(&method, path).map(|(_, t)| t.service);
        assert_eq!(
            service(Method::GET, "/stores/1/reviews").unwrap(),
            ServiceName::Review
        );
        assert_eq!(
            service(Method::GET, "/stores/1").unwrap(),
            ServiceName::Store
        );
        assert_eq!(
            service(Method::GET, "/mypage/orders").unwrap(),
            ServiceName::Order
        );
        assert_eq!(
            service(Method::GET, "/nowhere").unwrap_err().code,
            "no-route"
        );
        assert_eq!(
            service(Method::GET, "/internal/orders/1").unwrap_err().code,
            "no-route"
        );
        assert_eq!(
            service(Method::POST, "/payments").unwrap_err().code,
            "method-not-allowed"
        );
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close, x-hop"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(header::HOST, HeaderValue::from_static("gateway"));
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        let forwarded = upstream_headers(&headers, Some(IpAddr::from([127, 0, 0, 1])));
        assert!(!forwarded.contains_key(header::CONNECTION));
        assert!(!forwarded.contains_key("x-hop"));
        assert!(!forwarded.contains_key(header::TRANSFER_ENCODING));
        assert!(!forwarded.contains_key(header::HOST));
        assert_eq!(forwarded[header::AUTHORIZATION], "Bearer t");
        assert_eq!(forwarded[X_FORWARDED_FOR], "10.0.0.1, 127.0.0.1");
        assert!(forwarded.contains_key(REQUEST_ID));
    }
}

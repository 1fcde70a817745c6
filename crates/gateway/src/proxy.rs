//! The reverse proxy: picks the service for a path from `gateway.routes` and relays the request
//! and its answer, turning a down, slow or broken service into a problem body clients can act on.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
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
use platform::{
    ApiError, ApiResult, ServiceName, Settings,
    http::{REQUEST_ID, TRACEPARENT},
    trace::TraceContext,
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

/// The compiled route table and the client that relays through it, cheap to clone per request.
#[derive(Clone)]
pub struct Proxy(Arc<Inner>);

struct Inner {
    routes: Vec<Target>,
    client: reqwest::Client,
    body_limit: usize,
}

struct Target {
    prefix: Vec<Segment>,
    service: ServiceName,
    /// Without a trailing slash, so the original path can be appended as is.
    base_url: String,
    timeout: Duration,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Literal(String),
    Any,
}

impl Proxy {
    /// Compiles `gateway.routes`; a service URL that does not parse stops the gateway at start
    /// rather than failing each request.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let routes = settings
            .gateway
            .routes
            .iter()
            .map(|route| {
                let url = &settings.service(route.service).url;
                reqwest::Url::parse(url)
                    .with_context(|| format!("services.{}.url {url:?}", route.service))?;
                Ok(Target {
                    prefix: parse_prefix(&route.prefix),
                    service: route.service,
                    base_url: url.trim_end_matches('/').to_owned(),
                    timeout: Duration::from_millis(
                        route.timeout_ms.unwrap_or(settings.gateway.timeout_ms),
                    ),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let client = reqwest::Client::builder()
            // The client, not the gateway, decides whether to follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            // Services are reached directly; an HTTP_PROXY meant for the outside world must not
            // capture calls to them.
            .no_proxy()
            .build()
            .context("building the proxy's http client")?;
        Ok(Self(Arc::new(Inner {
            routes,
            client,
            body_limit: settings.http.body_limit_bytes,
        })))
    }

    fn target(&self, path: &str) -> Option<&Target> {
        self.0
            .routes
            .iter()
            .find(|target| matches(&target.prefix, path))
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

fn parse_prefix(prefix: &str) -> Vec<Segment> {
    prefix
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| match segment {
            "*" => Segment::Any,
            literal => Segment::Literal(literal.to_owned()),
        })
        .collect()
}

/// Segment by segment, so `/stores` takes `/stores/1` but not `/storesx`; `*` takes exactly one
/// non-empty segment.
fn matches(prefix: &[Segment], path: &str) -> bool {
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    prefix.iter().all(|expected| match segments.next() {
        Some(actual) => match expected {
            Segment::Any => !actual.is_empty(),
            Segment::Literal(literal) => literal == actual,
        },
        None => false,
    })
}

/// True for a path with `.` or `..` segments, plain or percent-encoded: the URL library would
/// resolve them after routing, letting `/orders/%2e%2e/metrics` reach a service's internals.
fn has_dot_segments(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> ApiResult<Response> {
    let path = request.uri().path();
    if has_dot_segments(path) {
        return Err(ApiError::bad_request(
            "invalid-path",
            "paths may not contain `.` or `..` segments",
        ));
    }
    let Some(target) = proxy.target(path) else {
        return Err(ApiError::not_found(
            "no-route",
            format!("no service answers {path}"),
        ));
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
    let headers = upstream_headers(request.headers(), client_ip);
    let body = read_body(request, proxy.0.body_limit).await?;

    let answer = proxy
        .0
        .client
        .request(method.clone(), url)
        .headers(headers)
        .body(body)
        .timeout(target.timeout)
        .send()
        .await
        .map_err(|error| transport_error(target, error))?;
    let status = answer.status();
    let mut headers = answer.headers().clone();
    strip_hop_by_hop(&mut headers);
    // The body is re-framed here; a HEAD answer keeps the length of the body it describes.
    if method != Method::HEAD {
        headers.remove(header::CONTENT_LENGTH);
    }
    let body = answer
        .bytes()
        .await
        .map_err(|error| transport_error(target, error))?;
    let mut response = Response::new(Body::from(body));
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
    let trace = TraceContext::current()
        .map(|current| current.child())
        .unwrap_or_else(TraceContext::root);
    if let Ok(value) = HeaderValue::from_str(&trace.header()) {
        headers.insert(TRACEPARENT, value);
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

fn transport_error(target: &Target, error: reqwest::Error) -> ApiError {
    let service = target.service;
    tracing::warn!(%service, error = ?error, "proxied request failed");
    if error.is_connect() {
        ApiError::unavailable(
            "service-unavailable",
            format!("the {service} service cannot be reached right now; retry later"),
        )
    } else if error.is_timeout() {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream-timeout",
            format!(
                "the {service} service did not answer within {} ms",
                target.timeout.as_millis()
            ),
        )
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

    fn hits(prefix: &str, path: &str) -> bool {
        matches(&parse_prefix(prefix), path)
    }

    #[test]
    fn a_prefix_ends_at_a_segment_boundary() {
        assert!(hits("/stores", "/stores"));
        assert!(hits("/stores", "/stores/"));
        assert!(hits("/stores", "/stores/x/orders"));
        assert!(!hits("/stores", "/storesx"));
        assert!(!hits("/stores", "/"));
        assert!(!hits("/stores/x", "/stores"));
    }

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
    fn a_star_matches_exactly_one_segment() {
        assert!(hits("/stores/*/reviews", "/stores/1/reviews"));
        assert!(hits("/stores/*/reviews", "/stores/1/reviews/9"));
        assert!(!hits("/stores/*/reviews", "/stores/1"));
        assert!(!hits("/stores/*/reviews", "/stores/1/2/reviews"));
        assert!(!hits("/stores/*/reviews", "/stores//reviews"));
        assert!(!hits("/stores/*/reviews", "/stores/1/reviewsx"));
    }

    #[test]
    fn the_root_prefix_matches_everything() {
        assert!(hits("/", "/"));
        assert!(hits("/", "/anything/at/all"));
    }

    #[test]
    fn the_first_matching_route_wins() {
        let settings = Settings::default();
        let proxy = Proxy::new(&settings).unwrap();
        let service = |path| proxy.target(path).map(|t| t.service);
        assert_eq!(service("/stores/1/reviews"), Some(ServiceName::Review));
        assert_eq!(service("/stores/1"), Some(ServiceName::Store));
        assert_eq!(service("/mypage/orders"), Some(ServiceName::Order));
        assert_eq!(service("/nowhere"), None);
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
        let trace = forwarded[TRACEPARENT].to_str().unwrap();
        assert!(TraceContext::parse(trace).is_some());
    }
}

//! Service-to-service HTTP: every synchronous call goes through a timeout (default 500 ms) and a
//! circuit breaker (tower-resilience), and carries the calling service's own token (never a
//! user's: internal endpoints take only service tokens), the request trace and an idempotency
//! key. A call that cannot be made — timed out, refused, breaker open, or answered
//! with a 5xx — comes back as [`CallError::Unavailable`], the caller's cue for its fallback.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use tower::{Service, ServiceExt};
use tower_resilience::circuitbreaker::{
    CircuitBreaker, CircuitBreakerError, CircuitBreakerLayer, CircuitState,
};

use crate::{
    auth::AuthKeys,
    config::{HttpSettings, ServiceName},
    problem::{ApiError, Problem},
    trace,
};
use tracing::Instrument;

/// An HTTP client for this platform's own servers: the gateway's proxy and every peer client
/// start from it.
///
/// Its pool drops a connection idle for half of `http.header_read_timeout`. A server closes an
/// idle keep-alive connection after that timeout (hyper counts the wait for the next request's
/// headers in it), and a request sent on a connection as the server closes it fails with nothing
/// read: the gateway could only answer 502, a peer call would take its fallback. Services are
/// reached directly, so an `HTTP_PROXY` meant for the outside world must not capture the calls.
pub fn platform_client(settings: &HttpSettings) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .pool_idle_timeout(settings.header_read_timeout / 2)
        .no_proxy()
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The peer could not give an answer: the fallback applies.
    #[error("{peer} unavailable: {reason}")]
    Unavailable { peer: String, reason: String },
    /// The peer answered with a client error; its problem body tells why.
    #[error("{peer} answered {status}: {}", problem.as_ref().map(|p| p.code.as_str()).unwrap_or("-"))]
    Rejected {
        peer: String,
        status: StatusCode,
        problem: Option<Problem>,
    },
    /// The peer answered 2xx with a body we cannot read: a contract mismatch, not an outage.
    #[error("{peer} answered with an unreadable body: {reason}")]
    Contract { peer: String, reason: String },
}

impl CallError {
    /// What the caller answers its own client when a call fails, written once: an unavailable
    /// peer is the fallback, 503 with `code` and `detail` (nothing was done, try again later,
    /// and the outage is logged); a 2xx the caller cannot read is its own fault (500); a peer's
    /// refusal is the caller's to judge, through `rejected` (its status and problem body).
    pub fn fallback(
        self,
        code: &'static str,
        detail: &str,
        rejected: impl FnOnce(StatusCode, Option<Problem>) -> ApiError,
    ) -> ApiError {
        match self {
            CallError::Rejected {
                status, problem, ..
            } => rejected(status, problem),
            CallError::Unavailable { peer, reason } => {
                tracing::warn!(%peer, %reason, code, "peer unavailable; falling back");
                ApiError::unavailable(code, detail)
            }
            error @ CallError::Contract { .. } => ApiError::internal(error),
        }
    }
}

/// One answered call.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

#[derive(Debug)]
enum Failure {
    Timeout,
    Transport(String),
    Server(StatusCode),
}

type Inner = tower::util::BoxCloneSyncService<reqwest::Request, Reply, Failure>;

/// A client for one peer service; clones share the peer's breaker.
#[derive(Clone)]
pub struct ResilientClient {
    peer: String,
    base_url: String,
    /// Signs this service's token for every call.
    keys: AuthKeys,
    caller: ServiceName,
    http: reqwest::Client,
    timeout: Duration,
    breaker: CircuitBreaker<Inner, tower_resilience::circuitbreaker::DefaultClassifier>,
}

impl ResilientClient {
    /// A client through which `caller` calls `peer` at `base_url`.
    pub fn new(
        caller: ServiceName,
        keys: AuthKeys,
        peer: &str,
        base_url: &str,
        settings: &HttpSettings,
    ) -> anyhow::Result<Self> {
        let http = platform_client(settings).build()?;
        let timeout = settings.call_timeout;
        let transport = http.clone();
        let inner: Inner = tower::util::BoxCloneSyncService::new(tower::service_fn(
            move |request: reqwest::Request| {
                let http = transport.clone();
                async move {
                    // The whole exchange, body included, must fit in the timeout.
                    let exchange = async {
                        let response = http
                            .execute(request)
                            .await
                            .map_err(|e| Failure::Transport(e.to_string()))?;
                        let status = response.status();
                        let body = response
                            .bytes()
                            .await
                            .map_err(|e| Failure::Transport(e.to_string()))?;
                        if status.is_server_error() {
                            return Err(Failure::Server(status));
                        }
                        Ok(Reply { status, body })
                    };
                    tokio::time::timeout(timeout, exchange)
                        .await
                        .unwrap_or(Err(Failure::Timeout))
                }
            },
        ));
        let breaker_settings = &settings.breaker;
        let peer_name = peer.to_owned();
        let layer = CircuitBreakerLayer::builder()
            .name(format!("{peer}-breaker"))
            .failure_rate_threshold(breaker_settings.failure_rate)
            .sliding_window_size(breaker_settings.window)
            .minimum_number_of_calls(breaker_settings.min_calls)
            .wait_duration_in_open(breaker_settings.open_for)
            .permitted_calls_in_half_open(breaker_settings.half_open_calls)
            .on_state_transition(move |from, to| {
                tracing::warn!(peer = %peer_name, ?from, ?to, "circuit breaker changed state");
                metrics::counter!("circuit_breaker_transitions_total",
                    "peer" => peer_name.clone(), "to" => format!("{to:?}"))
                .increment(1);
                metrics::gauge!("circuit_breaker_open", "peer" => peer_name.clone())
                    .set(if to == CircuitState::Open { 1.0 } else { 0.0 });
            })
            .build()
            .map_err(|e| anyhow::anyhow!("circuit breaker for {peer}: {e}"))?;
        Ok(Self {
            peer: peer.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            keys,
            caller,
            http,
            timeout,
            breaker: layer.layer_fn(inner),
        })
    }

    pub fn state(&self) -> CircuitState {
        self.breaker.state_sync()
    }

    /// Sends one request through the breaker. `path` must be built from parsed ids only (a
    /// UUID cannot smuggle a `/`, `..` or `?` into it); `idempotency_key` makes a retried state
    /// change safe.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, CallError> {
        let span = trace::client_span(self.caller.as_str(), &self.peer, method.as_str(), path);
        let result = self
            .send_in(&span, method, path, body, idempotency_key)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(Reply { status, .. }) | Err(CallError::Rejected { status, .. }) => {
                span.record("http.response.status_code", status.as_u16());
            }
            Err(_) => trace::failed(&span),
        }
        result
    }

    async fn send_in(
        &self,
        span: &tracing::Span,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, CallError> {
        let token = self
            .keys
            .service_token(self.caller)
            .map_err(|e| CallError::Contract {
                peer: self.peer.clone(),
                reason: format!("signing the service token: {e}"),
            })?;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header(contracts::http::IDEMPOTENCY_KEY, key);
        }
        if let Some(traceparent) = trace::traceparent(span) {
            request = request.header(trace::TRACEPARENT, traceparent);
        }
        let request = request.build().map_err(|e| CallError::Contract {
            peer: self.peer.clone(),
            reason: e.to_string(),
        })?;
        let started = std::time::Instant::now();
        let mut breaker = self.breaker.clone();
        let result = match breaker.ready().await {
            Ok(ready) => ready.call(request).await,
            Err(error) => Err(error),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(CircuitBreakerError::OpenCircuit) => "open",
            Err(CircuitBreakerError::Inner(Failure::Timeout)) => "timeout",
            Err(_) => "error",
        };
        metrics::histogram!("http_client_seconds", "peer" => self.peer.clone(), "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        let unavailable = |reason: String| CallError::Unavailable {
            peer: self.peer.clone(),
            reason,
        };
        let reply = match result {
            Ok(reply) => reply,
            Err(CircuitBreakerError::OpenCircuit) => {
                return Err(unavailable("circuit breaker is open".into()));
            }
            Err(CircuitBreakerError::Inner(Failure::Timeout)) => {
                return Err(unavailable(format!(
                    "no answer within {} ms",
                    self.timeout.as_millis()
                )));
            }
            Err(CircuitBreakerError::Inner(Failure::Transport(e))) => return Err(unavailable(e)),
            Err(CircuitBreakerError::Inner(Failure::Server(status))) => {
                return Err(unavailable(format!("answered {status}")));
            }
        };
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(CallError::Rejected {
                peer: self.peer.clone(),
                status: reply.status,
                problem: serde_json::from_slice(&reply.body).ok(),
            })
        }
    }

    /// `send` and decode a JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        idempotency_key: Option<&str>,
    ) -> Result<T, CallError> {
        let reply = self.send(method, path, body, idempotency_key).await?;
        serde_json::from_slice(&reply.body).map_err(|e| CallError::Contract {
            peer: self.peer.clone(),
            reason: e.to_string(),
        })
    }
}

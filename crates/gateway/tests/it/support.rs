//! A gateway on a free port with a fresh database, and stand-in services that echo what reached
//! them.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::Request,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use gateway::RunningGateway;
use platform::{ServiceName, Settings, problem::Problem};
use reqwest::Method;
use testkit::Sent as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct TestGateway {
    pub url: String,
    pub settings: Arc<Settings>,
    pub client: reqwest::Client,
    pub running: Option<RunningGateway>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl TestGateway {
    pub fn db(&self) -> &platform::Db {
        &self.running.as_ref().expect("gateway is running").db
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.url))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.url))
    }

    /// `method path` sent with `token` as the bearer.
    pub async fn call(&self, method: Method, path: &str, token: &str) -> reqwest::Response {
        self.client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .sent()
            .await
    }

    /// A token for a fresh account of `role` named `username` (created if missing).
    pub async fn token(&self, username: &str, role: platform::Role) -> String {
        let subject =
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, username.as_bytes()).to_string();
        gateway::upsert_account(self.db(), username, "secret-password", role, &subject)
            .await
            .unwrap();
        platform::AuthKeys::new(&self.settings.auth)
            .unwrap()
            .issue(&subject, role, username)
            .unwrap()
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            running.stopped().await.expect("gateway stops cleanly");
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Starts a gateway whose settings `configure` may adjust (service URLs, routes).
/// Logging and tracing as a process has them (logs off unless `RUST_LOG` says otherwise): the
/// gateway's spans are what it hands on in `traceparent`.
fn telemetry() {
    static TELEMETRY: std::sync::OnceLock<platform::telemetry::Telemetry> =
        std::sync::OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let log = platform::config::LogSettings {
            filter: "off".into(),
            ..Default::default()
        };
        platform::telemetry::init(&log, &Default::default(), "gateway").unwrap()
    });
}

pub async fn spawn_gateway(configure: impl FnOnce(&mut Settings)) -> TestGateway {
    telemetry();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/gateway.db", dir.path().display());
    let mut settings = Settings {
        data_dir: dir.path().to_owned(),
        ..Settings::default()
    };
    settings.database.url = url.clone();
    settings.gateway.database_url = Some(url);
    settings
        .auth
        .fill_missing(|_| Ok(platform::config::Secret::random()))
        .unwrap();
    configure(&mut settings);
    settings.validate().unwrap();
    let settings = Arc::new(settings);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let running = gateway::run(settings.clone(), listener, shutdown.clone())
        .await
        .unwrap();
    TestGateway {
        url: format!("http://{}", running.addr),
        settings,
        client: client(),
        running: Some(running),
        shutdown,
        _dir: dir,
    }
}

pub fn point(settings: &mut Settings, service: ServiceName, addr: SocketAddr) {
    settings.services.get_mut(&service).unwrap().url = platform::config::local_url(addr);
}

/// A stand-in service that answers every request with a JSON echo of what it received, and a
/// header naming itself; POSTs answer 201 to show the status comes through.
pub async fn echo_service(name: &'static str) -> SocketAddr {
    let app = Router::new().fallback(move |request: Request| echo(name, request));
    serve(app).await
}

async fn echo(name: &'static str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let header = |headers: &HeaderMap, name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let echoed = serde_json::json!({
        "service": name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "body": String::from_utf8_lossy(&body),
        "authorization": header(&parts.headers, "authorization"),
        "requestId": header(&parts.headers, "x-request-id"),
        "traceparent": header(&parts.headers, "traceparent"),
        "forwardedFor": header(&parts.headers, "x-forwarded-for"),
        "host": header(&parts.headers, "host"),
        "hopHeader": header(&parts.headers, "x-hop"),
    });
    let status = if parts.method == axum::http::Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, [("x-upstream", name)], axum::Json(echoed)).into_response()
}

/// A stand-in service that takes `delay` to answer anything.
pub async fn slow_service(delay: Duration) -> SocketAddr {
    let app = Router::new().fallback(move |_body: Bytes| async move {
        tokio::time::sleep(delay).await;
        "finally"
    });
    serve(app).await
}

/// An address nothing listens on: bound, then released.
pub async fn dead_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Asserts a problem body with this status and code, and returns it.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Problem {
    assert_eq!(response.status().as_u16(), status, "status of {code}");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        platform::problem::CONTENT_TYPE
    );
    let problem: Problem = response.json().await.unwrap();
    assert_eq!(problem.code, code);
    assert_eq!(problem.status, status);
    problem
}

/// A stand-in service that accepts connections and hangs up without answering.
pub async fn rude_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    addr
}

//! The one door of baedal (docs/architecture.md, "Synchronous calls"): it answers
//! `POST /auth/login` itself and relays every other public path to the service that owns it, with
//! CORS for browsers and problem bodies when a service is down or slow.

pub mod accounts;
pub mod asyncapi;
pub mod docs;
pub mod limits;
pub mod proxy;
pub mod routes;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    http::{HeaderValue, Method, header},
};
use platform::{
    AuthKeys, Db, Settings,
    db::redact,
    http::{REQUEST_ID, Readiness, finish, operational_routes},
    ready::Gate,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use accounts::upsert_account;

/// The account table, versions from 1001 like every service's.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

/// The gateway serving requests.
pub struct RunningGateway {
    pub addr: SocketAddr,
    pub db: Db,
    /// Whoever started the gateway opens it when the platform behind it may take traffic;
    /// `/readyz` answers 503 until then.
    pub started: Gate,
    server: JoinHandle<std::io::Result<()>>,
}

impl RunningGateway {
    /// Waits for the server to drain after shutdown was requested, then closes the database.
    pub async fn stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        if tokio::time::timeout(Duration::from_secs(5), self.db.close())
            .await
            .is_err()
        {
            tracing::warn!("gateway database did not close within 5 s");
        }
        match served {
            Ok(result) => result.context("gateway server failed"),
            Err(error) if error.is_cancelled() => Ok(()),
            Err(error) => Err(error).context("gateway server task panicked"),
        }
    }
}

/// Opens (creating and migrating) the gateway's database and serves on `listener` until
/// `shutdown` is cancelled.
pub async fn run(
    settings: Arc<Settings>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningGateway> {
    let url = settings.gateway_database_url();
    let db = Db::connect(&url, settings.database.max_connections, &MIGRATIONS)
        .await
        .with_context(|| format!("gateway: opening {}", redact(&url)))?;
    let started = Gate::new();
    let app = match app(&settings, db.clone(), started.clone(), shutdown.clone()).await {
        Ok(app) => app,
        Err(error) => {
            db.close().await;
            return Err(error);
        }
    };
    let addr = listener.local_addr()?;
    let http = settings.http.clone();
    let server =
        tokio::spawn(async move { platform::http::serve(listener, app, shutdown, &http).await });
    tracing::info!(%addr, "gateway listening");
    Ok(RunningGateway {
        addr,
        db,
        started,
        server,
    })
}

/// The gateway's complete router, for serving or for calling in-process; live streams it relays
/// end when `shutdown` is cancelled.
pub async fn app(
    settings: &Settings,
    db: Db,
    started: Gate,
    shutdown: CancellationToken,
) -> anyhow::Result<Router> {
    let accounts = accounts::Accounts::new(
        db.clone(),
        AuthKeys::new(&settings.auth)?,
        settings.auth.account_check,
    )
    .await?;
    let proxy = proxy::Proxy::new(settings, shutdown)?;
    let relayed = proxy::routes(proxy).layer(axum::middleware::from_fn_with_state(
        accounts.clone(),
        accounts::authenticate,
    ));
    let router = accounts::routes(accounts)
        .merge(web_app())
        .merge(docs::routes())
        .merge(operational_routes(Readiness {
            db: Some(db),
            bus: None,
            started,
        }))
        .merge(relayed);
    let cors = cors(&settings.gateway.cors_origins)?;
    let limits = Arc::new(limits::Limits::new(&settings.gateway.rate_limit));
    // Limits sit inside CORS, so a refused browser request still gets CORS headers to read the 429.
    let limited = router.layer(axum::middleware::from_fn_with_state(
        limits,
        limits::enforce,
    ));
    // No response of the gateway may be sniffed into something it does not say it is.
    Ok(finish(limited, "gateway", &settings.http)
        .layer(axum::middleware::from_fn(routes::name_route))
        .layer(cors)
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )))
}

/// The web app's files (`web/`), compiled in: the page, its modules and its styles. Nothing is
/// fetched at build or run time.
const WEB_APP: [(&str, &str, &str); 11] = [
    (
        "/app",
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    ),
    (
        "/app/app.css",
        "text/css; charset=utf-8",
        include_str!("../web/app.css"),
    ),
    ("/app/main.js", JAVASCRIPT, include_str!("../web/main.js")),
    ("/app/api.js", JAVASCRIPT, include_str!("../web/api.js")),
    ("/app/dom.js", JAVASCRIPT, include_str!("../web/dom.js")),
    (
        "/app/format.js",
        JAVASCRIPT,
        include_str!("../web/format.js"),
    ),
    (
        "/app/customer.js",
        JAVASCRIPT,
        include_str!("../web/customer.js"),
    ),
    ("/app/owner.js", JAVASCRIPT, include_str!("../web/owner.js")),
    ("/app/rider.js", JAVASCRIPT, include_str!("../web/rider.js")),
    ("/app/admin.js", JAVASCRIPT, include_str!("../web/admin.js")),
    (
        "/app/reviews.js",
        JAVASCRIPT,
        include_str!("../web/reviews.js"),
    ),
];
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The web app: one app for customers, owners and riders, talking to the same public API. Its
/// scripts and styles are files of their own, so the page runs under a CSP that allows no inline
/// code: an injected `<script>` or `onclick` does not run.
fn web_app() -> Router {
    use axum::{response::IntoResponse, routing::get};
    use tower_http::set_header::SetResponseHeaderLayer;
    let policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                  connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
    let mut router = Router::new();
    for (path, content_type, body) in WEB_APP {
        router =
            router.route(
                path,
                get(move || async move {
                    ([(header::CONTENT_TYPE, content_type)], body).into_response()
                }),
            );
    }
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

fn cors(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let allow_origin = if origins.iter().any(|origin| origin.trim() == "*") {
        AllowOrigin::any()
    } else {
        let origins = origins
            .iter()
            .map(|origin| {
                // Browsers send `Origin` without a trailing slash.
                HeaderValue::from_str(origin.trim().trim_end_matches('/'))
                    .with_context(|| format!("gateway.cors_origins: {origin:?} is not an origin"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(origins)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            REQUEST_ID,
        ])
        // Scripts need these to report a request id or honour a 503's retry hint.
        .expose_headers([REQUEST_ID, header::RETRY_AFTER, header::LOCATION])
        .max_age(Duration::from_secs(600)))
}

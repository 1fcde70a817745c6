use std::time::{Duration, Instant};

use platform::{ServiceName, trace};
use reqwest::Method;
use serde_json::Value;
use testkit::Sent as _;

use crate::support::{
    assert_problem, dead_address, echo_service, point, rude_service, slow_service, spawn_gateway,
};

#[tokio::test]
async fn paths_go_to_the_service_that_owns_them_with_everything_intact() {
    let store = echo_service("store").await;
    let review = echo_service("review").await;
    let gateway = spawn_gateway(|settings| {
        point(settings, ServiceName::Store, store);
        point(settings, ServiceName::Review, review);
    })
    .await;
    let incoming_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let token = gateway.token("customer", platform::Role::Customer).await;
    let bearer = format!("Bearer {token}");

    let response = gateway
        .post("/reviews?sort=new&page=2")
        .header("authorization", &bearer)
        .header("x-request-id", "req-42")
        .header("traceparent", incoming_trace)
        .header("connection", "x-hop")
        .header("x-hop", "only for this hop")
        .body(r#"{"rating":5}"#)
        .sent()
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-upstream"], "review");
    assert_eq!(response.headers()["x-request-id"], "req-42");
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["service"], "review");
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/reviews");
    assert_eq!(echoed["query"], "sort=new&page=2");
    assert_eq!(echoed["body"], r#"{"rating":5}"#);
    assert_eq!(echoed["authorization"], bearer.as_str());
    assert_eq!(echoed["requestId"], "req-42");
    assert_eq!(echoed["forwardedFor"], "127.0.0.1");
    assert_eq!(echoed["host"], format!("{review}"));
    assert_eq!(echoed["hopHeader"], Value::Null);
    // The service is called from the gateway's own span, in the caller's trace.
    let forwarded = trace::span_context(echoed["traceparent"].as_str().unwrap()).unwrap();
    assert_eq!(
        forwarded.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_ne!(forwarded.span_id().to_string(), "00f067aa0ba902b7");

    let response = gateway
        .get("/stores/1?lang=ko")
        .header("authorization", &bearer)
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["service"], "store");
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["path"], "/stores/1");
    assert_eq!(echoed["query"], "lang=ko");
    assert_eq!(echoed["authorization"], bearer.as_str());
    // A request that came without an id gets one, and the service sees the same one.
    assert_eq!(echoed["requestId"], request_id.as_str());
    gateway.stop().await;
}

#[tokio::test]
async fn a_service_that_is_not_listening_is_a_503_with_a_retry_hint() {
    let dead = dead_address().await;
    let gateway = spawn_gateway(|settings| point(settings, ServiceName::Delivery, dead)).await;
    let response = gateway.get("/deliveries/available").sent().await;
    assert_eq!(response.headers()["retry-after"], "5");
    let problem = assert_problem(response, 503, "service-unavailable").await;
    assert!(problem.detail.contains("delivery"), "{}", problem.detail);
    assert!(problem.detail.contains("retry later"), "{}", problem.detail);
    gateway.stop().await;
}

#[tokio::test]
async fn a_service_slower_than_its_route_timeout_is_a_504() {
    let slow = slow_service(Duration::from_secs(5)).await;
    let gateway = spawn_gateway(|settings| {
        point(settings, ServiceName::Order, slow);
        settings.gateway.timeout = Duration::from_millis(200);
    })
    .await;
    let started = Instant::now();
    let response = gateway.get("/orders/o-1").sent().await;
    let elapsed = started.elapsed();
    assert_problem(response, 504, "upstream-timeout").await;
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_service_that_hangs_up_is_a_502() {
    let rude = rude_service().await;
    let gateway = spawn_gateway(|settings| point(settings, ServiceName::Customer, rude)).await;
    let response = gateway.get("/customers/me").sent().await;
    assert_problem(response, 502, "bad-gateway").await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_relayed() {
    let store = echo_service("store").await;
    let gateway = spawn_gateway(|settings| {
        point(settings, ServiceName::Store, store);
        settings.http.body_limit_bytes = 1024;
    })
    .await;
    let response = gateway
        .client
        .put(format!("{}/stores/1/menu", gateway.url))
        .body("x".repeat(4096))
        .sent()
        .await;
    assert_problem(response, 413, "body-too-large").await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_path_no_route_claims_is_a_404_problem() {
    let gateway = spawn_gateway(|_| {}).await;
    for path in ["/nowhere", "/storesx", "/"] {
        let response = gateway.get(path).sent().await;
        assert_problem(response, 404, "no-route").await;
    }
    gateway.stop().await;
}

#[tokio::test]
async fn the_gateway_answers_its_own_health_checks() {
    let gateway = spawn_gateway(|_| {}).await;
    let response = gateway.get("/healthz").sent().await;
    assert_eq!(response.status(), 200);
    // Alive, but not ready until whoever started it says the platform behind it is.
    let response = gateway.get("/readyz").sent().await;
    assert_problem(response, 503, "starting").await;
    gateway.running.as_ref().unwrap().started.open();
    let response = gateway.get("/readyz").sent().await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "up");
    gateway.stop().await;
}

#[tokio::test]
async fn browsers_get_cors_answers() {
    let store = echo_service("store").await;
    let gateway = spawn_gateway(|settings| point(settings, ServiceName::Store, store)).await;
    let preflight = gateway
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/stores/1/orders", gateway.url),
        )
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .sent()
        .await;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert!(allowed.contains("content-type"), "{allowed}");

    let simple = gateway
        .get("/stores")
        .header("origin", "http://localhost:5173")
        .sent()
        .await;
    assert_eq!(simple.status(), 200);
    assert_eq!(simple.headers()["access-control-allow-origin"], "*");
    gateway.stop().await;
}

#[tokio::test]
async fn a_listed_origin_is_allowed_and_others_are_not() {
    let gateway = spawn_gateway(|settings| {
        settings.gateway.cors_origins = vec!["https://baedal.example".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        gateway
            .client
            .request(reqwest::Method::OPTIONS, format!("{}/orders", gateway.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://baedal.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://baedal.example"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_web_app_is_served_at_app() {
    let gateway = crate::support::spawn_gateway(|_| {}).await;
    let response = gateway.get("/app").sent().await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("/app/main.js") && page.contains("/app/app.css"));
    // Each module the app imports is served, as JavaScript.
    let mut scripts = String::new();
    for module in [
        "main", "api", "dom", "format", "customer", "owner", "rider", "admin", "reviews",
    ] {
        let script = gateway.get(&format!("/app/{module}.js")).sent().await;
        assert_eq!(script.status(), 200, "{module}");
        assert!(
            script.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript"),
            "{module}"
        );
        scripts.push_str(&script.text().await.unwrap());
    }
    assert!(scripts.contains("/auth/login") && scripts.contains("/mypage/orders"));
    // Data never becomes markup: the app builds its DOM without innerHTML or document.write.
    assert!(!scripts.contains("innerHTML") && !scripts.contains("document.write"));
    gateway.stop().await;
}

#[tokio::test]
async fn dot_segments_cannot_reach_a_services_internals() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gateway = crate::support::spawn_gateway(|_| {}).await;
    let addr = gateway.url.trim_start_matches("http://").to_owned();
    // Raw requests: an HTTP client library would resolve the dots before sending.
    for path in [
        "/orders/%2e%2e/metrics",
        "/orders/../readyz",
        "/stores/%2E%2e/metrics",
        "/orders/..\\metrics",
        "/orders/%5c..%5cmetrics",
        "/orders/a%2Fb",
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{path}: {response}");
        assert!(response.contains("invalid-path"), "{path}: {response}");
    }
    gateway.stop().await;
}

/// Only the public API leaves the gateway: internal endpoints, and methods a public path does not
/// take, are answered by the gateway itself.
#[tokio::test]
async fn internal_endpoints_and_unlisted_methods_are_not_relayed() {
    let order = echo_service("order").await;
    let payment = echo_service("payment").await;
    let gateway = spawn_gateway(|settings| {
        point(settings, ServiceName::Order, order);
        point(settings, ServiceName::Payment, payment);
    })
    .await;
    let token = gateway.token("customer", platform::Role::Customer).await;
    for path in [
        "/internal/payments",
        "/internal/orders/0190a4e1-0000-7000-8000-000000000000",
    ] {
        let response = gateway.call(Method::POST, path, &token).await;
        assert_problem(response, 404, "no-route").await;
        let response = gateway.call(Method::GET, path, &token).await;
        assert_problem(response, 404, "no-route").await;
    }
    // Charging is not public: POST /payments is not a route, whoever asks.
    let response = gateway
        .post("/payments")
        .bearer_auth(&token)
        .body("{}")
        .sent()
        .await;
    // RFC 9110: a 405 says which methods the resource takes.
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    assert_problem(response, 405, "method-not-allowed").await;
    gateway.stop().await;
}

/// The gateway rechecks every token's account: a forged signature, a subject with no account and
/// a deleted account are refused before anything is relayed; the deletion is an admin's.
#[tokio::test]
async fn tokens_of_unknown_or_deleted_accounts_are_refused() {
    let order = echo_service("order").await;
    let gateway = spawn_gateway(|settings| point(settings, ServiceName::Order, order)).await;
    let customer = gateway.token("customer", platform::Role::Customer).await;
    let admin = gateway.token("admin", platform::Role::Admin).await;
    let response = gateway.call(Method::GET, "/orders/o-1", &customer).await;
    assert_eq!(response.status(), 200, "relayed");

    let keys = platform::AuthKeys::new(&gateway.settings.auth).unwrap();
    let nobody = keys
        .issue(
            &uuid::Uuid::new_v4().to_string(),
            platform::Role::Admin,
            "nobody",
        )
        .unwrap();
    let response = gateway.call(Method::GET, "/orders/o-1", &nobody).await;
    assert_problem(response, 401, "account-disabled").await;

    let mut other_keys = gateway.settings.as_ref().clone();
    other_keys.auth.jwt_secret = Some(platform::config::Secret::random());
    let forged = platform::AuthKeys::new(&other_keys.auth)
        .unwrap()
        .issue("whoever", platform::Role::Admin, "admin")
        .unwrap();
    let response = gateway.call(Method::GET, "/orders/o-1", &forged).await;
    assert_problem(response, 401, "invalid-token").await;

    // Only an admin deletes, and never themselves.
    for (token, account, status, code) in [
        (&customer, "customer", 403, "forbidden"),
        (&admin, "admin", 409, "cannot-delete-self"),
    ] {
        let path = format!("/accounts/{account}");
        let response = gateway.call(Method::DELETE, &path, token).await;
        assert_problem(response, status, code).await;
    }
    let response = gateway
        .call(Method::DELETE, "/accounts/customer", &admin)
        .await;
    assert_eq!(response.status(), 204);
    let response = gateway.call(Method::GET, "/orders/o-1", &customer).await;
    assert_problem(response, 401, "account-disabled").await;
    let login = gateway
        .post("/auth/login")
        .json(&serde_json::json!({"username": "customer", "password": "secret-password"}))
        .sent()
        .await;
    assert_problem(login, 401, "invalid-credentials").await;
    gateway.stop().await;
}

/// The web app runs under a CSP without inline code, and is never framed or sniffed.
#[tokio::test]
async fn the_web_app_carries_its_security_headers() {
    let gateway = spawn_gateway(|_| {}).await;
    for path in ["/app", "/app/main.js", "/app/app.css"] {
        let response = gateway.get(path).sent().await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
    let page = gateway.get("/app").sent().await.text().await.unwrap();
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline code"
    );
    gateway.stop().await;
}

/// A request id is echoed and logged, so only a short token is taken from a client.
#[tokio::test]
async fn only_short_request_ids_are_kept() {
    let gateway = spawn_gateway(|_| {}).await;
    let kept = gateway
        .get("/healthz")
        .header("x-request-id", "req-42")
        .sent()
        .await;
    assert_eq!(kept.headers()["x-request-id"], "req-42");
    for sent in ["x".repeat(65), "a b".to_owned(), "<script>".to_owned()] {
        let response = gateway
            .get("/healthz")
            .header("x-request-id", &sent)
            .sent()
            .await;
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, sent);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    gateway.stop().await;
}

/// Requests too large for the server are still answered with problem bodies.
#[tokio::test]
async fn oversized_uris_and_headers_get_problem_bodies() {
    let gateway = spawn_gateway(|_| {}).await;
    let long = format!("/stores/{}", "x".repeat(10_000));
    let response = gateway.get(&long).sent().await;
    assert_problem(response, 414, "uri-too-long").await;
    let response = gateway
        .get("/healthz")
        .header("x-padding", "y".repeat(40_000))
        .sent()
        .await;
    assert_problem(response, 431, "headers-too-large").await;
    gateway.stop().await;
}

/// A slow client cannot hold a connection: headers that never end, and a body shorter than its
/// Content-Length, are cut off after the read timeouts.
#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gateway = spawn_gateway(|settings| {
        settings.http.header_read_timeout = Duration::from_millis(500);
        settings.http.body_read_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = gateway.url.trim_start_matches("http://").to_owned();

    let started = Instant::now();
    let mut partial = tokio::net::TcpStream::connect(&addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), partial.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the server closed a connection whose headers never ended"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let mut short = tokio::net::TcpStream::connect(&addr).await.unwrap();
    short
        .write_all(
            b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"a\"",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), short.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server waited for a body that never came");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body-timeout"), "{answer}");
    gateway.stop().await;
}

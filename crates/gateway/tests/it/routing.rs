use std::time::{Duration, Instant};

use platform::{ServiceName, trace::TraceContext};
use serde_json::Value;

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
    let incoming_trace = TraceContext::root();

    let response = gateway
        .post("/stores/1/reviews?sort=new&page=2")
        .header("authorization", "Bearer abc.def.ghi")
        .header("x-request-id", "req-42")
        .header("traceparent", incoming_trace.header())
        .header("connection", "x-hop")
        .header("x-hop", "only for this hop")
        .body(r#"{"rating":5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-upstream"], "review");
    assert_eq!(response.headers()["x-request-id"], "req-42");
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["service"], "review");
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/stores/1/reviews");
    assert_eq!(echoed["query"], "sort=new&page=2");
    assert_eq!(echoed["body"], r#"{"rating":5}"#);
    assert_eq!(echoed["authorization"], "Bearer abc.def.ghi");
    assert_eq!(echoed["requestId"], "req-42");
    assert_eq!(echoed["forwardedFor"], "127.0.0.1");
    assert_eq!(echoed["host"], format!("{review}"));
    assert_eq!(echoed["hopHeader"], Value::Null);
    let forwarded_trace = TraceContext::parse(echoed["traceparent"].as_str().unwrap()).unwrap();
    assert_eq!(forwarded_trace.trace_id, incoming_trace.trace_id);
    assert_ne!(forwarded_trace.parent_id, incoming_trace.parent_id);

    let response = gateway
        .get("/stores/1?lang=ko")
        .header("authorization", "Bearer xyz")
        .send()
        .await
        .unwrap();
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
    assert_eq!(echoed["authorization"], "Bearer xyz");
    // A request that came without an id gets one, and the service sees the same one.
    assert_eq!(echoed["requestId"], request_id.as_str());
    gateway.stop().await;
}

#[tokio::test]
async fn a_service_that_is_not_listening_is_a_503_with_a_retry_hint() {
    let dead = dead_address().await;
    let gateway = spawn_gateway(|settings| point(settings, ServiceName::Delivery, dead)).await;
    let response = gateway.get("/deliveries/available").send().await.unwrap();
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
        for route in &mut settings.gateway.routes {
            if route.prefix == "/orders" {
                route.timeout_ms = Some(200);
            }
        }
    })
    .await;
    let started = Instant::now();
    let response = gateway.get("/orders/o-1").send().await.unwrap();
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
    let response = gateway.get("/customers/me").send().await.unwrap();
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
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "body-too-large").await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_path_no_route_claims_is_a_404_problem() {
    let gateway = spawn_gateway(|_| {}).await;
    for path in ["/nowhere", "/storesx", "/"] {
        let response = gateway.get(path).send().await.unwrap();
        assert_problem(response, 404, "no-route").await;
    }
    gateway.stop().await;
}

#[tokio::test]
async fn the_gateway_answers_its_own_health_checks() {
    let gateway = spawn_gateway(|_| {}).await;
    let response = gateway.get("/healthz").send().await.unwrap();
    assert_eq!(response.status(), 200);
    // Alive, but not ready until whoever started it says the platform behind it is.
    let response = gateway.get("/readyz").send().await.unwrap();
    assert_problem(response, 503, "starting").await;
    gateway.running.as_ref().unwrap().started.open();
    let response = gateway.get("/readyz").send().await.unwrap();
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
        .send()
        .await
        .unwrap();
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
        .send()
        .await
        .unwrap();
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
    let response = gateway.get("/app").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("/auth/login") && page.contains("/mypage/orders"));
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

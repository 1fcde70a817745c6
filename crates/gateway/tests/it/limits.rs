//! Rate limits: a client over its budget gets 429 with Retry-After, logins are limited tighter.

use crate::support::{assert_problem, spawn_gateway};
use testkit::Sent as _;

#[tokio::test]
async fn a_client_over_its_budget_gets_429_with_retry_after() {
    let gateway = spawn_gateway(|settings| {
        settings.gateway.rate_limit.per_second = 1;
        settings.gateway.rate_limit.burst = 3;
    })
    .await;
    for _ in 0..3 {
        let response = gateway.get("/healthz").sent().await;
        assert_eq!(response.status(), 200);
    }
    let response = gateway.get("/healthz").sent().await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 429, "rate-limited").await;
    gateway.stop().await;
}

#[tokio::test]
async fn logins_have_a_tighter_budget_of_their_own() {
    let gateway = spawn_gateway(|settings| {
        settings.gateway.rate_limit.logins_per_minute = 1;
        settings.gateway.rate_limit.login_burst = 2;
    })
    .await;
    let attempt = || {
        gateway
            .post("/auth/login")
            .json(&serde_json::json!({"username": "nobody", "password": "guess"}))
            .send()
    };
    assert_eq!(attempt().await.unwrap().status(), 401);
    assert_eq!(attempt().await.unwrap().status(), 401);
    let response = attempt().await.unwrap();
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_problem(response, 429, "rate-limited").await;
    // Other requests still pass.
    assert_eq!(gateway.get("/healthz").sent().await.status(), 200);
    gateway.stop().await;
}

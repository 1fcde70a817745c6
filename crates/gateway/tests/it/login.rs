use platform::{AuthKeys, Role};
use serde_json::{Value, json};
use testkit::Sent as _;

use crate::support::{assert_problem, spawn_gateway};

#[tokio::test]
async fn login_returns_a_token_for_the_accounts_role_and_subject() {
    let gateway = spawn_gateway(|_| {}).await;
    gateway::upsert_account(gateway.db(), "owner1", "demo1234", Role::Owner, "owner-1")
        .await
        .unwrap();

    let response = gateway
        .post("/auth/login")
        .json(&json!({"username": "owner1", "password": "demo1234"}))
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["role"], "owner");
    assert_eq!(body["subjectId"], "owner-1");
    let token = body["token"].as_str().unwrap();
    let claims = AuthKeys::new(&gateway.settings.auth)
        .unwrap()
        .verify(token)
        .unwrap();
    assert_eq!(claims.sub, "owner-1");
    assert_eq!(claims.role, Role::Owner);
    assert_eq!(claims.name, "owner1");
    gateway.stop().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let gateway = spawn_gateway(|_| {}).await;
    gateway::upsert_account(gateway.db(), "customer1", "demo1234", Role::Customer, "c-1")
        .await
        .unwrap();

    let mut details = Vec::new();
    for (username, password) in [("customer1", "wrong"), ("nobody", "demo1234")] {
        let response = gateway
            .post("/auth/login")
            .json(&json!({"username": username, "password": password}))
            .sent()
            .await;
        details.push(
            assert_problem(response, 401, "invalid-credentials")
                .await
                .detail,
        );
    }
    assert_eq!(details[0], details[1]);
    gateway.stop().await;
}

#[tokio::test]
async fn bad_login_bodies_get_problems() {
    let gateway = spawn_gateway(|_| {}).await;
    let malformed = gateway
        .post("/auth/login")
        .header("content-type", "application/json")
        .body("{")
        .sent()
        .await;
    assert_problem(malformed, 400, "malformed-json").await;

    let empty = gateway
        .post("/auth/login")
        .json(&json!({"username": "", "password": ""}))
        .sent()
        .await;
    assert_problem(empty, 422, "missing-credentials").await;

    let missing = gateway
        .post("/auth/login")
        .json(&json!({"username": "customer1"}))
        .sent()
        .await;
    assert_problem(missing, 422, "invalid-body").await;

    let wrong_method = gateway.get("/auth/login").sent().await;
    assert_problem(wrong_method, 405, "method-not-allowed").await;
    gateway.stop().await;
}

#[tokio::test]
async fn seeding_an_account_again_is_harmless_but_rebinding_it_is_refused() {
    let gateway = spawn_gateway(|_| {}).await;
    let db = gateway.db();
    gateway::upsert_account(db, "rider1", "demo1234", Role::Rider, "r-1")
        .await
        .unwrap();
    gateway::upsert_account(db, "rider1", "demo1234", Role::Rider, "r-1")
        .await
        .unwrap();
    let rebind = gateway::upsert_account(db, "rider1", "demo1234", Role::Rider, "r-2").await;
    assert!(rebind.is_err());
    let stolen_subject =
        gateway::upsert_account(db, "rider2", "demo1234", Role::Rider, "r-1").await;
    assert!(stolen_subject.is_err());
    gateway.stop().await;
}

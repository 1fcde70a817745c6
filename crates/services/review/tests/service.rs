//! The review service alone, with a real broker and database: without the order service to ask,
//! no review is stored and the customer is told to try later; bad reviews are refused first.

use platform::{Role, ServiceName};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::ServiceUnderTest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_stored_when_the_order_cannot_be_checked() {
    let service = ServiceUnderTest::start(
        ServiceName::Review,
        &review::MIGRATIONS,
        review::run,
        |settings| {
            // Nobody listens on the order service's address.
            let port = platform::broker::free_port().unwrap();
            if let Some(order) = settings.services.get_mut(&ServiceName::Order) {
                order.url = format!("http://127.0.0.1:{port}");
            }
            settings.http.call_timeout_ms = 500;
        },
    )
    .await;
    let write = |body: Value| {
        service
            .as_user(Method::POST, "/reviews", "customer-1", Role::Customer)
            .json(&body)
            .send()
    };
    let order_id = uuid::Uuid::now_v7().to_string();
    let response = write(json!({"orderId": order_id, "rating": 5, "text": "맛있어요"}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "order-lookup-unavailable");
    for (body, code) in [
        (
            json!({"orderId": order_id, "rating": 6, "text": "x"}),
            "invalid-review",
        ),
        (
            json!({"orderId": "../admin", "rating": 5, "text": "x"}),
            "invalid-review",
        ),
    ] {
        let response = write(body).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], code);
    }
    let reviews: Value = service
        .as_user(
            Method::GET,
            "/stores/store-1/reviews",
            "customer-1",
            Role::Customer,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reviews, json!([]));
    let missing = service
        .as_user(
            Method::DELETE,
            &format!("/reviews/{}", uuid::Uuid::now_v7()),
            "customer-1",
            Role::Customer,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    service.stop().await;
}

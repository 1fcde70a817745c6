//! The review service alone, with a real broker and database: without the order service to ask,
//! no review is stored and the customer is told to try later; bad reviews are refused first.

use platform::{Role, ServiceName};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::ServiceUnderTest;

const CUSTOMER: (&str, Role) = ("customer-1", Role::Customer);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_stored_when_the_order_cannot_be_checked() {
    let service = ServiceUnderTest::start(
        ServiceName::Review,
        &review::MIGRATIONS,
        review::run,
        |settings| testkit::peer_down(settings, ServiceName::Order),
    )
    .await;
    let write = |body: Value| service.call(Method::POST, "/reviews", CUSTOMER, Some(body));
    let order_id = uuid::Uuid::now_v7().to_string();
    let (status, problem) =
        write(json!({"orderId": order_id, "rating": 5, "text": "맛있어요"})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
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
        let (status, problem) = write(body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem["code"], code);
    }
    let reviews = service.get("/stores/store-1/reviews", CUSTOMER).await;
    assert_eq!(reviews, json!([]));
    let missing = format!("/reviews/{}", uuid::Uuid::now_v7());
    let (status, _) = service.call(Method::DELETE, &missing, CUSTOMER, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    service.stop().await;
}

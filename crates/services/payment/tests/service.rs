//! The payment service alone, with a real broker and database: a charge from the order service,
//! charged once however often it is asked, and refunded when the saga says so.

use std::time::Duration;

use contracts::{
    Event, EventType, Krw, Producer,
    http::{ChargeRequest, IDEMPOTENCY_KEY},
};
use platform::ServiceName;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use testkit::Sent as _;
use testkit::ServiceUnderTest;

const WAIT: Duration = Duration::from_secs(30);

fn charge(order_id: &str, card_token: &str) -> ChargeRequest {
    ChargeRequest {
        order_id: order_id.into(),
        customer_id: "customer-1".into(),
        amount: Krw::new(7000),
        method: "card".into(),
        card_token: card_token.into(),
    }
}

async fn ask(service: &ServiceUnderTest, request: &ChargeRequest) -> (StatusCode, Value) {
    let response = service
        .as_service(Method::POST, "/internal/payments", ServiceName::Order)
        .header(IDEMPOTENCY_KEY, request.order_id.as_str())
        .json(request)
        .sent()
        .await;
    (response.status(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_is_made_once_and_refunded_when_the_order_is_canceled() {
    let service =
        ServiceUnderTest::alone(ServiceName::Payment, &payment::MIGRATIONS, payment::run).await;
    let mut published = service.log_of(Producer::Payment);
    let order_id = uuid::Uuid::now_v7().to_string();
    let request = charge(&order_id, "tok_visa");
    let (status, first) = ask(&service, &request).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // The order service's retry of the same charge gets the same payment.
    let (status, again) = ask(&service, &request).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["paymentId"], first["paymentId"]);
    let Event::PaymentApproved(approved) = published.next(EventType::PaymentApproved, WAIT).await
    else {
        unreachable!()
    };
    assert_eq!(approved.order_id, order_id.as_str());
    assert_eq!(approved.amount, Krw::new(7000));

    service.publish(testkit::order_canceled(&order_id)).await;
    let Event::PaymentRefunded(refunded) = published.next(EventType::PaymentRefunded, WAIT).await
    else {
        unreachable!()
    };
    assert_eq!(refunded.order_id, order_id.as_str());
    assert_eq!(refunded.payment_id, approved.payment_id);
    assert_eq!(refunded.amount, Krw::new(7000));
    // The one approval was the only one: the retry published nothing.
    let Event::PaymentApproved(next) = ({
        let other = uuid::Uuid::now_v7().to_string();
        ask(&service, &charge(&other, "tok_visa")).await;
        published.next(EventType::PaymentApproved, WAIT).await
    }) else {
        unreachable!()
    };
    assert_ne!(next.order_id, order_id.as_str());
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_or_a_stranger_gets_no_charge() {
    let service =
        ServiceUnderTest::alone(ServiceName::Payment, &payment::MIGRATIONS, payment::run).await;
    let order_id = uuid::Uuid::now_v7().to_string();
    let (status, problem) = ask(&service, &charge(&order_id, "tok_decline")).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(problem["code"], "card-declined");
    // Only the order service may charge.
    let response = service
        .as_service(Method::POST, "/internal/payments", ServiceName::Review)
        .json(&charge(&uuid::Uuid::now_v7().to_string(), "tok_visa"))
        .sent()
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    service.stop().await;
}

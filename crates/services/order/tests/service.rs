//! The order service alone, with a real broker and database: orders are priced from the menus the
//! stores publish, and with no payment service to charge, no order is placed and the charge that
//! may have been made is voided.

use std::time::Duration;

use contracts::{Event, EventType, GeoPoint, Krw, MenuItem, MenuPublished, Producer};
use platform::{Role, ServiceName};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{ServiceUnderTest, eventually};

/// How long an event may take to be handled and published.
const WAIT: Duration = Duration::from_secs(30);
const CUSTOMER: (&str, Role) = ("customer-1", Role::Customer);

fn menu(store_id: &str) -> MenuPublished {
    let food = |id: &str, price: u32, sold_out: bool| MenuItem {
        food_id: id.into(),
        name: id.into(),
        price: Krw::new(price),
        sold_out,
    };
    MenuPublished {
        store_id: store_id.into(),
        owner_id: "owner-1".into(),
        name: "김밥천국".into(),
        location: GeoPoint::known(37.4979, 127.0276),
        open: true,
        foods: vec![food("kimbap", 3500, false), food("ramyeon", 4000, true)],
        revision: 2,
    }
}

fn order(store_id: &str, food: &str) -> Value {
    json!({
        "storeId": store_id,
        "items": [{"foodId": food, "quantity": 2}],
        "deliveryAddress": {"text": "서울 강남구 테헤란로 1", "lat": 37.5006, "lng": 127.0364},
        "payment": {"method": "card", "cardToken": "tok_visa"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_priced_from_the_replica_and_an_unreachable_payment_places_none() {
    let service = ServiceUnderTest::start(
        ServiceName::Order,
        &order::MIGRATIONS,
        order::run,
        |settings| testkit::peer_down(settings, ServiceName::Payment),
    )
    .await;
    let mut published = service.log_of(Producer::Order);
    let store_id = uuid::Uuid::now_v7().to_string();
    let place = |body: Value| service.call(Method::POST, "/orders", CUSTOMER, Some(body));
    let (status, _) = place(order(&store_id, "kimbap")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    service.publish(menu(&store_id)).await;
    let (status, problem) = eventually(30, "the menu replica", || async {
        let answer = place(order(&store_id, "ramyeon")).await;
        (answer.0 != StatusCode::NOT_FOUND).then_some(answer)
    })
    .await;
    assert_eq!(
        (status, &problem["code"]),
        (StatusCode::CONFLICT, &json!("sold-out"))
    );

    let (status, problem) = place(order(&store_id, "kimbap")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(problem["code"], "payment-unavailable");
    let Event::PaymentVoidRequested(void) =
        published.next(EventType::PaymentVoidRequested, WAIT).await
    else {
        unreachable!()
    };
    assert_eq!(void.customer_id, "customer-1");
    // No order was placed: the customer has none.
    let mypage = service.get("/mypage/orders", CUSTOMER).await;
    assert_eq!(mypage["orders"], json!([]));
    service.stop().await;
}

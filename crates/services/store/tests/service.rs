//! The store service alone, with a real broker and database: what it publishes when an admin
//! and an owner use its API, and what it does with the order service's events.

use std::time::Duration;

use contracts::{
    DeliveryAddress, Event, EventType, GeoPoint, Krw, OrderCancelRequested, OrderLine, OrderPlaced,
    Producer,
};
use platform::{Role, ServiceName};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{ServiceUnderTest, eventually};

const WAIT: Duration = Duration::from_secs(30);

async fn store_service() -> ServiceUnderTest {
    ServiceUnderTest::start(ServiceName::Store, &store::MIGRATIONS, store::run, |_| {}).await
}

/// Registers a store for `owner-1` with one food; returns its id and the menu's revision.
async fn open_store(service: &ServiceUnderTest) -> (String, i64) {
    let response = service
        .as_user(Method::POST, "/stores", "admin-1", Role::Admin)
        .json(&json!({"name": "김밥천국", "ownerId": "owner-1", "lat": 37.5, "lng": 127.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let store: Value = response.json().await.unwrap();
    let store_id = store["storeId"].as_str().unwrap().to_owned();
    let response = service
        .as_user(
            Method::PUT,
            &format!("/stores/{store_id}/menu"),
            "owner-1",
            Role::Owner,
        )
        .json(&json!({"foods": [{"foodId": "kimbap", "name": "김밥", "price": 3500}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let menu: Value = response.json().await.unwrap();
    (store_id, menu["revision"].as_i64().unwrap())
}

fn placed(order_id: &str, store_id: &str, revision: i64) -> OrderPlaced {
    OrderPlaced {
        order_id: order_id.into(),
        customer_id: "customer-1".into(),
        store_id: store_id.into(),
        store_name: "김밥천국".into(),
        items: vec![OrderLine {
            food_id: "kimbap".into(),
            name: "김밥".into(),
            quantity: 2,
            unit_price: Krw::new(3500),
        }],
        amount: Krw::new(7000),
        delivery_address: DeliveryAddress {
            text: "서울 강남구 테헤란로 1".into(),
            point: GeoPoint::known(37.5006, 127.0364),
        },
        payment_id: "payment-1".into(),
        menu_revision: revision,
        priced_at: platform::db::now_ms(),
    }
}

/// The owner sees an order once the store has it.
async fn received(service: &ServiceUnderTest, store_id: &str, order_id: &str) {
    eventually(WAIT, || async {
        let orders: Value = service
            .as_user(
                Method::GET,
                &format!("/stores/{store_id}/orders"),
                "owner-1",
                Role::Owner,
            )
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let listed = orders.as_array()?.iter().any(|o| o["orderId"] == order_id);
        listed.then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_menu_is_published_and_a_placed_order_is_accepted_by_its_owner() {
    let service = store_service().await;
    let mut published = service.log_of(Producer::Store);
    let (store_id, revision) = open_store(&service).await;
    let Event::MenuPublished(registered) = published.next(EventType::MenuPublished, WAIT).await
    else {
        unreachable!()
    };
    assert_eq!(registered.store_id, store_id.as_str());
    assert_eq!(registered.owner_id, "owner-1");
    let Event::MenuPublished(menu) = published.next(EventType::MenuPublished, WAIT).await else {
        unreachable!()
    };
    assert_eq!(menu.revision, revision);
    assert_eq!(menu.foods[0].price, Krw::new(3500));

    let order_id = uuid::Uuid::now_v7().to_string();
    service
        .publish(placed(&order_id, &store_id, revision))
        .await;
    received(&service, &store_id, &order_id).await;

    // Another owner's token cannot touch it.
    let path = format!("/stores/{store_id}/orders/{order_id}/accept");
    let stranger = service
        .as_user(Method::POST, &path, "owner-2", Role::Owner)
        .json(&json!({"cookMinutes": 15}))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::FORBIDDEN);
    let accepted = service
        .as_user(Method::POST, &path, "owner-1", Role::Owner)
        .json(&json!({"cookMinutes": 15}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    let Event::OrderAccepted(event) = published.next(EventType::OrderAccepted, WAIT).await else {
        unreachable!()
    };
    assert_eq!(event.order_id, order_id.as_str());
    assert_eq!(event.cook_minutes, 15);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_is_granted_before_cooking_and_refused_after() {
    let service = store_service().await;
    let mut published = service.log_of(Producer::Store);
    let (store_id, revision) = open_store(&service).await;
    let (early, late) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    for order_id in [&early, &late] {
        service.publish(placed(order_id, &store_id, revision)).await;
        received(&service, &store_id, order_id).await;
    }
    for step in ["accept", "cook-start"] {
        let response = service
            .as_user(
                Method::POST,
                &format!("/stores/{store_id}/orders/{late}/{step}"),
                "owner-1",
                Role::Owner,
            )
            .json(&json!({"cookMinutes": 10}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{step}");
    }
    for order_id in [&early, &late] {
        service
            .publish(OrderCancelRequested {
                order_id: order_id.as_str().into(),
                store_id: store_id.as_str().into(),
                customer_id: "customer-1".into(),
            })
            .await;
    }
    let Event::StoreOrderCanceled(canceled) =
        published.next(EventType::StoreOrderCanceled, WAIT).await
    else {
        unreachable!()
    };
    assert_eq!(canceled.order_id, early.as_str());
    let Event::CancelRefused(refused) = published.next(EventType::CancelRefused, WAIT).await else {
        unreachable!()
    };
    assert_eq!(refused.order_id, late.as_str());
    assert_eq!(refused.current_status, contracts::OrderStatus::Cooking);
    service.stop().await;
}

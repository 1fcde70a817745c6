//! The store service alone, with a real broker and database: what it publishes when an admin
//! and an owner use its API, and what it does with the order service's events.

use std::time::Duration;

use contracts::{Event, EventType, Krw, OrderCancelRequested, OrderPlaced, OrderStatus, Producer};
use platform::{Role, ServiceName};
use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{ServiceUnderTest, eventually};

/// How long an event may take to be handled and published.
const WAIT: Duration = Duration::from_secs(30);
const OWNER: (&str, Role) = ("owner-1", Role::Owner);

async fn store_service() -> ServiceUnderTest {
    ServiceUnderTest::alone(ServiceName::Store, &store::MIGRATIONS, store::run).await
}

/// Registers a store for `owner-1` with one food; returns its id and the menu's revision.
async fn open_store(service: &ServiceUnderTest) -> (String, i64) {
    let register = json!({"name": "김밥천국", "ownerId": "owner-1", "lat": 37.5, "lng": 127.0});
    let admin = ("admin-1", Role::Admin);
    let (status, store) = service
        .call(Method::POST, "/stores", admin, Some(register))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{store}");
    let store_id = store["storeId"].as_str().unwrap().to_owned();
    let foods = json!({"foods": [{"foodId": "kimbap", "name": "김밥", "price": 3500}]});
    let path = format!("/stores/{store_id}/menu");
    let (status, menu) = service.call(Method::PUT, &path, OWNER, Some(foods)).await;
    assert_eq!(status, StatusCode::OK, "{menu}");
    (store_id, menu["revision"].as_i64().unwrap())
}

/// An order priced at `revision` of the store's menu: two 김밥 at 3,500.
fn placed(order_id: &str, store_id: &str, revision: i64) -> OrderPlaced {
    let Event::OrderPlaced(placed) = testkit::example(EventType::OrderPlaced) else {
        unreachable!()
    };
    OrderPlaced {
        order_id: order_id.into(),
        store_id: store_id.into(),
        menu_revision: revision,
        priced_at: platform::db::now_ms(),
        ..placed
    }
}

/// Publishes a placed order as the order service would, and waits until its owner sees it.
async fn receive(service: &ServiceUnderTest, store_id: &str, revision: i64) -> String {
    let order_id = uuid::Uuid::now_v7().to_string();
    service.publish(placed(&order_id, store_id, revision)).await;
    let path = format!("/stores/{store_id}/orders");
    eventually(30, "the owner to see the order", || async {
        let orders = service.get(&path, OWNER).await;
        let listed = orders.as_array()?.iter().any(|o| o["orderId"] == order_id);
        listed.then_some(())
    })
    .await;
    order_id
}

/// The owner's `step` on an order: its status.
async fn step(
    service: &ServiceUnderTest,
    owner: &str,
    store_id: &str,
    order_id: &str,
    step: &str,
) -> StatusCode {
    let path = format!("/stores/{store_id}/orders/{order_id}/{step}");
    let body = json!({"cookMinutes": 15});
    let body = (step == "accept").then_some(body);
    service
        .call(Method::POST, &path, (owner, Role::Owner), body)
        .await
        .0
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

    let order_id = receive(&service, &store_id, revision).await;
    // Another owner cannot touch it.
    let stranger = step(&service, "owner-2", &store_id, &order_id, "accept").await;
    assert_eq!(stranger, StatusCode::FORBIDDEN);
    let accepted = step(&service, "owner-1", &store_id, &order_id, "accept").await;
    assert_eq!(accepted, StatusCode::OK);
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
    let early = receive(&service, &store_id, revision).await;
    let late = receive(&service, &store_id, revision).await;
    for owner_step in ["accept", "cook-start"] {
        let status = step(&service, "owner-1", &store_id, &late, owner_step).await;
        assert_eq!(status, StatusCode::OK, "{owner_step}");
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
    assert_eq!(refused.current_status, OrderStatus::Cooking);
    service.stop().await;
}

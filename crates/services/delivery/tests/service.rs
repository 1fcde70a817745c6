//! The delivery service alone, with a real broker and database: a cooked order opens a delivery
//! for riders nearby, exactly one rider wins it, and a canceled order closes it.

use std::time::Duration;

use contracts::{
    CookFinished, DeliveryAddress, Event, EventType, GeoPoint, Krw, OrderCanceled, Producer,
};
use platform::{Role, ServiceName};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use testkit::{ServiceUnderTest, eventually};

const WAIT: Duration = Duration::from_secs(30);

fn cooked(order_id: &str) -> CookFinished {
    CookFinished {
        order_id: order_id.into(),
        store_id: "store-1".into(),
        store_name: "김밥천국".into(),
        store_location: GeoPoint::known(37.4979, 127.0276),
        customer_id: "customer-1".into(),
        delivery_address: DeliveryAddress {
            text: "서울 강남구 테헤란로 1".into(),
            point: GeoPoint::known(37.5006, 127.0364),
        },
    }
}

/// The delivery of `order_id` once riders near the store see it.
async fn nearby(service: &ServiceUnderTest, order_id: &str) -> String {
    eventually(WAIT, || async {
        let available: Value = service
            .as_user(
                Method::GET,
                "/deliveries/available?lat=37.498&lng=127.028&radiusKm=3",
                "rider-1",
                Role::Rider,
            )
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        available
            .as_array()?
            .iter()
            .find(|d| d["orderId"] == order_id)
            .map(|d| d["deliveryId"].as_str().unwrap().to_owned())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rider_wins_a_delivery_and_completes_it() {
    let service = ServiceUnderTest::start(
        ServiceName::Delivery,
        &delivery::MIGRATIONS,
        delivery::run,
        |_| {},
    )
    .await;
    let mut published = service.log_of(Producer::Delivery);
    let order_id = uuid::Uuid::now_v7().to_string();
    service.publish(cooked(&order_id)).await;
    let delivery_id = nearby(&service, &order_id).await;
    // Far away, it is not offered.
    let far: Value = service
        .as_user(
            Method::GET,
            "/deliveries/available?lat=35.1&lng=129.0&radiusKm=3",
            "rider-2",
            Role::Rider,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        far.as_array()
            .unwrap()
            .iter()
            .all(|d| d["orderId"] != order_id.as_str())
    );

    let pick = |rider: &'static str| {
        service
            .as_user(
                Method::POST,
                &format!("/deliveries/{delivery_id}/pick"),
                rider,
                Role::Rider,
            )
            .send()
    };
    let (first, second) = tokio::join!(pick("rider-1"), pick("rider-2"));
    let mut statuses = [first.unwrap().status(), second.unwrap().status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let Event::DeliveryPicked(picked) = published.next(EventType::DeliveryPicked, WAIT).await
    else {
        unreachable!()
    };
    let winner = picked.rider_id.to_string();
    let loser = if winner == "rider-1" {
        "rider-2"
    } else {
        "rider-1"
    };
    let complete = |rider: &str| {
        service
            .as_user(
                Method::POST,
                &format!("/deliveries/{delivery_id}/complete"),
                rider,
                Role::Rider,
            )
            .send()
    };
    assert_eq!(
        complete(loser).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(complete(&winner).await.unwrap().status(), StatusCode::OK);
    let Event::DeliveryCompleted(done) = published.next(EventType::DeliveryCompleted, WAIT).await
    else {
        unreachable!()
    };
    assert_eq!(done.order_id, order_id.as_str());
    assert_eq!(done.rider_id.as_str(), winner);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_order_closes_its_delivery() {
    let service = ServiceUnderTest::start(
        ServiceName::Delivery,
        &delivery::MIGRATIONS,
        delivery::run,
        |_| {},
    )
    .await;
    let mut published = service.log_of(Producer::Delivery);
    let order_id = uuid::Uuid::now_v7().to_string();
    service.publish(cooked(&order_id)).await;
    let delivery_id = nearby(&service, &order_id).await;
    service
        .publish(OrderCanceled {
            order_id: order_id.as_str().into(),
            customer_id: "customer-1".into(),
            store_id: "store-1".into(),
            amount: Krw::new(7000),
            reason: None,
        })
        .await;
    let Event::DeliveryCanceled(canceled) = published.next(EventType::DeliveryCanceled, WAIT).await
    else {
        unreachable!()
    };
    assert_eq!(canceled.delivery_id.as_str(), delivery_id);
    let picked = service
        .as_user(
            Method::POST,
            &format!("/deliveries/{delivery_id}/pick"),
            "rider-1",
            Role::Rider,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(picked.status(), StatusCode::CONFLICT);
    service.stop().await;
}

//! The delivery service alone, with a real broker and database: a cooked order opens a delivery
//! for riders nearby, exactly one rider wins it, and a canceled order closes it.

use std::time::Duration;

use contracts::{CookFinished, DeliveryAddress, Event, EventType, GeoPoint, Producer};
use platform::{Role, ServiceName};
use reqwest::{Method, StatusCode};
use testkit::{EventLog, ServiceUnderTest, eventually};

/// How long an event may take to be handled and published.
const WAIT: Duration = Duration::from_secs(30);

const RIDER: (&str, Role) = ("rider-1", Role::Rider);

/// The deliveries waiting within 3 km of a point.
fn near(lat: f64, lng: f64) -> String {
    format!("/deliveries/available?lat={lat}&lng={lng}&radiusKm=3")
}

/// A rider's move on a delivery: its status.
async fn by_rider(
    service: &ServiceUnderTest,
    delivery_id: &str,
    action: &str,
    rider: &str,
) -> StatusCode {
    let path = format!("/deliveries/{delivery_id}/{action}");
    service
        .call(Method::POST, &path, (rider, Role::Rider), None)
        .await
        .0
}

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
    eventually(30, "the delivery to be offered nearby", || async {
        let available = service.get(&near(37.498, 127.028), RIDER).await;
        available
            .as_array()?
            .iter()
            .find(|d| d["orderId"] == order_id)
            .map(|d| d["deliveryId"].as_str().unwrap().to_owned())
    })
    .await
}

/// The delivery service alone, with a delivery waiting near the store: the service, its log, the
/// order id and the delivery id.
async fn waiting_delivery() -> (ServiceUnderTest, EventLog, String, String) {
    let service =
        ServiceUnderTest::alone(ServiceName::Delivery, &delivery::MIGRATIONS, delivery::run).await;
    let published = service.log_of(Producer::Delivery);
    let order_id = uuid::Uuid::now_v7().to_string();
    service.publish(cooked(&order_id)).await;
    let delivery_id = nearby(&service, &order_id).await;
    (service, published, order_id, delivery_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rider_wins_a_delivery_and_completes_it() {
    let (service, mut published, order_id, delivery_id) = waiting_delivery().await;
    // Far away, it is not offered.
    let far = service.get(&near(35.1, 129.0), RIDER).await;
    assert!(
        far.as_array()
            .unwrap()
            .iter()
            .all(|d| d["orderId"] != order_id.as_str())
    );

    let (first, second) = tokio::join!(
        by_rider(&service, &delivery_id, "pick", "rider-1"),
        by_rider(&service, &delivery_id, "pick", "rider-2")
    );
    let mut statuses = [first, second];
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
    let (service, mut published, order_id, delivery_id) = waiting_delivery().await;
    service.publish(testkit::order_canceled(&order_id)).await;
    let Event::DeliveryCanceled(canceled) = published.next(EventType::DeliveryCanceled, WAIT).await
    else {
        unreachable!()
    };
    assert_eq!(canceled.delivery_id.as_str(), delivery_id);
    let picked = by_rider(&service, &delivery_id, "pick", "rider-1").await;
    assert_eq!(picked, StatusCode::CONFLICT);
    service.stop().await;
}

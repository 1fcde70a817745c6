//! The notification service alone, with a real broker and database: every change a customer can
//! see becomes one message, also when its events arrive before the order they are about.

use contracts::{CookStarted, DeliveryAddress, GeoPoint, Krw, OrderLine, OrderPlaced};
use platform::{Role, ServiceName};
use testkit::{ServiceUnderTest, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_visible_change_is_one_message_to_its_customer() {
    let service = ServiceUnderTest::alone(
        ServiceName::Notification,
        &notification::MIGRATIONS,
        notification::run,
    )
    .await;
    let order_id = uuid::Uuid::now_v7().to_string();
    // The store's event first: it waits until the order's own arrives to learn whose it is.
    service
        .publish(CookStarted {
            order_id: order_id.as_str().into(),
            store_id: "store-1".into(),
        })
        .await;
    let placed = OrderPlaced {
        order_id: order_id.as_str().into(),
        customer_id: "customer-1".into(),
        store_id: "store-1".into(),
        store_name: "김밥천국".into(),
        items: vec![OrderLine {
            food_id: "kimbap".into(),
            name: "김밥".into(),
            quantity: 1,
            unit_price: Krw::new(3500),
        }],
        amount: Krw::new(3500),
        delivery_address: DeliveryAddress {
            text: "서울".into(),
            point: GeoPoint::known(37.5, 127.0),
        },
        payment_id: "payment-1".into(),
        menu_revision: 1,
        priced_at: 0,
    };
    // Delivered twice (a redelivery, the same event): one message.
    let event_id = service.publish(placed.clone()).await;
    service.publish_with_id(&event_id, placed).await;
    let path = format!("/notifications?orderId={order_id}");
    let messages = eventually(30, "both messages, sent", || async {
        let listed = service.get(&path, ("customer-1", Role::Customer)).await;
        let listed = listed.as_array()?.clone();
        let sent = listed.iter().filter(|m| m["status"] == "Sent").count();
        (listed.len() == 2 && sent == 2).then_some(listed)
    })
    .await;
    let types: Vec<&str> = messages
        .iter()
        .map(|m| m["eventType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"OrderPlaced") && types.contains(&"CookStarted"),
        "{types:?}"
    );
    assert!(
        messages
            .iter()
            .all(|m| m["message"].as_str().unwrap().contains("김밥천국"))
    );
    // Another customer sees none of them.
    let theirs = service.get(&path, ("customer-2", Role::Customer)).await;
    assert_eq!(theirs, serde_json::json!([]));
    service.stop().await;
}

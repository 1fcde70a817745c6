//! The whole scenario through the gateway with the demo accounts, from login to review: delivery
//! by the nearest rider, notifications for every step, the customer's grade and coupons.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, extract::State, http::StatusCode};
use notification::settings::{ChannelSettings, NotificationSettings};
use serde_json::{Value, json};
use testkit::Sent as _;

use crate::harness::{TestApp, eventually, refused};

const FAIL: u8 = 1;
const HANG: u8 = 2;

/// A webhook channel that records what it receives, and can be made to fail or hang.
#[derive(Clone, Default)]
struct Inbox {
    mode: Arc<AtomicU8>,
    received: Arc<Mutex<Vec<Value>>>,
}

impl Inbox {
    async fn start() -> (Self, String) {
        let inbox = Inbox::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (inbox, url)
    }

    fn for_order(&self, order_id: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m["orderId"] == order_id)
            .cloned()
            .collect()
    }
}

async fn receive(
    State(inbox): State<Inbox>,
    headers: axum::http::HeaderMap,
    Json(mut message): Json<Value>,
) -> StatusCode {
    message["idempotencyKeyHeader"] = json!(
        headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    );
    inbox.received.lock().unwrap().push(message);
    match inbox.mode.load(Ordering::SeqCst) {
        FAIL => StatusCode::INTERNAL_SERVER_ERROR,
        HANG => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK
        }
        _ => StatusCode::OK,
    }
}

fn webhook(settings: &mut platform::Settings, url: &str) {
    notification_settings(settings, |n| {
        n.channel = ChannelSettings::Webhook {
            url: url.parse().unwrap(),
        };
        n.poll_interval = Duration::from_millis(50);
    });
}

fn notification_settings(
    settings: &mut platform::Settings,
    change: impl FnOnce(&mut NotificationSettings),
) {
    settings.change_section(change).unwrap();
}

/// Places an order at owner1's store and cooks it; returns the order id.
async fn cooked_order(app: &TestApp, customer: &str, owner: &str, store: &str) -> String {
    let order = app.placed_order(customer, store).await;
    app.accept(owner, store, &order, 12).await;
    for action in ["cook-start", "cook-finish"] {
        let (status, body) = app.owner(owner, store, &order, action, json!({})).await;
        assert_eq!(status, 200, "{action}: {body}");
    }
    order
}

async fn profile(app: &TestApp, customer: &str) -> Value {
    let (status, me) = app.get(customer, "/customers/me").await;
    assert_eq!(status, 200, "{me}");
    me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_scenario_from_login_to_review() {
    let (inbox, hook) = Inbox::start().await;
    let app = TestApp::spawn_with(|settings| webhook(settings, &hook)).await;
    let customer = app.login("customer1").await;
    let owner = app.login("owner1").await;
    let (near_rider, far_rider) = (app.login("rider1").await, app.login("rider2").await);
    let store = app.store_id(&customer, "owner1").await;
    let before = profile(&app, &customer).await;
    assert_eq!(before["grade"], "고마운분");
    assert_eq!(before["completedOrders"], 0);

    let order = cooked_order(&app, &customer, &owner, &store).await;

    // Riders near the store see it; a rider across town does not.
    let near = "/deliveries/available?lat=37.5&lng=127.03&radiusKm=3";
    let far = "/deliveries/available?lat=37.5665&lng=126.978&radiusKm=3";
    let delivery = app.open_delivery(&near_rider, near, &order).await;
    assert!(delivery["distanceKm"].as_f64().unwrap() < 1.0);
    assert_eq!(delivery["status"], "Waiting");
    assert!(!app.lists_delivery(&far_rider, far, &order).await);
    let answer = app
        .get(
            &near_rider,
            "/deliveries/available?lat=37.5&lng=127.03&radiusKm=50",
        )
        .await;
    refused(answer, 400, "invalid-search");
    let (status, _) = app.get(&customer, near).await;
    assert_eq!(status, 403, "customers are not riders");

    // Two riders race for it: exactly one wins.
    let delivery_id = delivery["deliveryId"].as_str().unwrap().to_owned();
    let pick = format!("/deliveries/{delivery_id}/pick");
    let (first, second) = tokio::join!(
        app.post(&near_rider, &pick, json!({})),
        app.post(&far_rider, &pick, json!({}))
    );
    let statuses = [first.0, second.0];
    assert!(
        statuses.contains(&200) && statuses.contains(&409),
        "{statuses:?}"
    );
    let loser_problem = if first.0 == 409 { &first.1 } else { &second.1 };
    assert_eq!(loser_problem["code"], "already-picked");
    let (winner, loser, winner_name) = if first.0 == 200 {
        (&near_rider, &far_rider, "rider1")
    } else {
        (&far_rider, &near_rider, "rider2")
    };
    app.order_is(&customer, &order, "Picked").await;
    assert!(!app.lists_delivery(&near_rider, near, &order).await);

    let (status, _) = app.get(loser, &format!("/deliveries/{delivery_id}")).await;
    assert_eq!(
        status, 404,
        "another rider's delivery (and its customer) stays private"
    );
    let (status, _) = app.get(winner, &format!("/deliveries/{delivery_id}")).await;
    assert_eq!(status, 200);

    let complete = format!("/deliveries/{delivery_id}/complete");
    let (status, _) = app.post(loser, &complete, json!({})).await;
    assert_eq!(status, 403, "only the rider who picked it completes it");
    let (status, done) = app.post(winner, &complete, json!({})).await;
    assert_eq!((status, done["status"].as_str()), (200, Some("Delivered")));
    let (status, _) = app.post(winner, &complete, json!({})).await;
    assert_eq!(status, 409);

    // The rider's count rose by one; riders see only their own.
    let winner_id = baedal::demo::subject_id(winner_name);
    let (status, stats) = app.get(winner, &format!("/riders/{winner_id}/stats")).await;
    assert_eq!((status, stats["delivered"].as_i64()), (200, Some(1)));
    let (status, _) = app.get(loser, &format!("/riders/{winner_id}/stats")).await;
    assert_eq!(status, 403);

    // The customer confirms receipt: completed.
    app.order_is(&customer, &order, "Delivered").await;
    let (status, _) = app
        .post(
            &customer,
            &format!("/orders/{order}/confirm-receipt"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    app.mypage_shows(&customer, &order, "Completed").await;

    // One message per status change, each sent through the channel.
    let expected = [
        "OrderPlaced",
        "OrderAccepted",
        "CookStarted",
        "CookFinished",
        "DeliveryPicked",
        "DeliveryCompleted",
        "OrderCompleted",
    ];
    let messages = eventually(30, "every notification to be sent", || async {
        let (_, list) = app
            .get(&customer, &format!("/notifications?orderId={order}"))
            .await;
        let list = list.as_array().unwrap().clone();
        (list.len() == expected.len() && list.iter().all(|n| n["status"] == "Sent")).then_some(list)
    })
    .await;
    let mut types: Vec<_> = messages
        .iter()
        .map(|n| n["eventType"].as_str().unwrap())
        .collect();
    types.reverse();
    assert_eq!(types, expected);
    assert!(
        messages
            .iter()
            .all(|n| n["message"].as_str().unwrap().contains("김밥천국"))
    );
    assert!(
        messages
            .iter()
            .any(|n| n["message"].as_str().unwrap().contains("약 12분"))
    );
    assert_eq!(inbox.for_order(&order).len(), expected.len());
    let other = app.login("customer2").await;
    let (_, theirs) = app
        .get(&other, &format!("/notifications?orderId={order}"))
        .await;
    assert_eq!(
        theirs.as_array().unwrap().len(),
        0,
        "only the customer's own"
    );

    // The customer's grade and completed orders rose.
    let me = eventually(30, "the grade to rise", || async {
        let me = profile(&app, &customer).await;
        (me["completedOrders"] == 1).then_some(me)
    })
    .await;
    assert_eq!(me["grade"], "귀한분");
    assert_eq!(me["couponCount"], 0);

    // Review → coupon; delete → coupon back; a second review → 409.
    let review_body = json!({"orderId": order, "rating": 5, "text": "맛있어요"});
    let six_stars = json!({"orderId": order, "rating": 6});
    let answer = app.post(&customer, "/reviews", six_stars).await;
    refused(answer, 422, "invalid-review");
    let (status, _) = app.post(&other, "/reviews", review_body.clone()).await;
    assert_eq!(status, 404, "not their order");
    let (status, _) = app.post(&owner, "/reviews", review_body.clone()).await;
    assert_eq!(status, 403);
    let (status, review) = app.post(&customer, "/reviews", review_body.clone()).await;
    assert_eq!(status, 201, "{review}");
    let review_id = review["reviewId"].as_str().unwrap().to_owned();
    eventually(30, "the coupon", || async {
        (profile(&app, &customer).await["couponCount"] == 1).then_some(())
    })
    .await;
    let (status, reviews) = app.get(&other, &format!("/stores/{store}/reviews")).await;
    assert_eq!(status, 200);
    assert_eq!(reviews.as_array().unwrap().len(), 1);
    assert_eq!(reviews[0]["rating"], 5);
    let answer = app.post(&customer, "/reviews", review_body.clone()).await;
    refused(answer, 409, "already-reviewed");

    let delete = |token: String| {
        let url = app.url(&format!("/reviews/{review_id}"));
        let http = app.http.clone();
        async move { http.delete(url).bearer_auth(token).sent().await.status() }
    };
    assert_eq!(
        delete(other.clone()).await,
        404,
        "only its author deletes it"
    );
    assert_eq!(delete(customer.clone()).await, 204);
    assert_eq!(delete(customer.clone()).await, 404);
    let me = eventually(30, "the coupon to be taken back", || async {
        let me = profile(&app, &customer).await;
        (me["couponCount"] == 0).then_some(me)
    })
    .await;
    assert_eq!(me["coupons"][0]["status"], "Revoked");
    let (_, reviews) = app.get(&other, &format!("/stores/{store}/reviews")).await;
    assert_eq!(reviews.as_array().unwrap().len(), 0);
    // One review per order, ever.
    let answer = app.post(&customer, "/reviews", review_body).await;
    refused(answer, 409, "already-reviewed");

    // An order that is not completed cannot be reviewed.
    let pending = app.placed_order(&customer, &store).await;
    let review_pending = json!({"orderId": pending, "rating": 4});
    let answer = app.post(&customer, "/reviews", review_pending).await;
    refused(answer, 409, "order-not-completed");

    // Wrong roles.
    let (status, _) = app.get(&near_rider, "/customers/me").await;
    assert_eq!(status, 403);
    let (status, _) = app.get(&owner, "/notifications").await;
    assert_eq!(status, 403);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_review_while_the_order_service_is_down_is_503_and_stores_nothing() {
    let mut app = TestApp::spawn().await;
    let customer = app.login("customer2").await;
    let store = app.store_id(&customer, "owner1").await;
    let order = app.placed_order(&customer, &store).await;
    app.platform
        .as_mut()
        .unwrap()
        .kill(platform::ServiceName::Order)
        .await;
    let answer = app
        .post(
            &customer,
            "/reviews",
            json!({"orderId": order, "rating": 5}),
        )
        .await;
    refused(answer, 503, "order-lookup-unavailable");
    let (_, reviews) = app
        .get(&customer, &format!("/stores/{store}/reviews"))
        .await;
    assert_eq!(reviews.as_array().unwrap().len(), 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(profile(&app, &customer).await["couponCount"], 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_or_hanging_channel_never_slows_orders_and_is_retried_then_given_up() {
    let (inbox, hook) = Inbox::start().await;
    let app = TestApp::spawn_with(|settings| {
        webhook(settings, &hook);
        notification_settings(settings, |n| {
            n.send_timeout = Duration::from_millis(300);
            n.max_attempts = 2;
            n.backoff = Duration::from_millis(50);
        });
    })
    .await;
    let customer = app.login("customer3").await;
    let owner = app.login("owner1").await;
    let store = app.store_id(&customer, "owner1").await;

    // Failing: each message is tried max_attempts times, then marked failed.
    inbox.mode.store(FAIL, Ordering::SeqCst);
    let order = app.placed_order(&customer, &store).await;
    let failed = eventually(30, "the message to fail", || async {
        let (_, list) = app
            .get(&customer, &format!("/notifications?orderId={order}"))
            .await;
        list.as_array()
            .unwrap()
            .first()
            .filter(|n| n["status"] == "Failed")
            .cloned()
    })
    .await;
    assert_eq!(failed["attempts"], 2);
    assert!(failed["lastError"].as_str().unwrap().contains("500"));
    assert_eq!(inbox.for_order(&order).len(), 2);

    // Hanging: the order flow keeps its pace; messages time out and fail.
    inbox.mode.store(HANG, Ordering::SeqCst);
    let started = Instant::now();
    let order = app.placed_order(&customer, &store).await;
    app.accept(&owner, &store, &order, 5).await;
    app.owner(&owner, &store, &order, "cook-start", json!({}))
        .await;
    app.order_is(&customer, &order, "Cooking").await;
    let flow = started.elapsed();
    let messages = eventually(30, "the hung messages to fail", || async {
        let (_, list) = app
            .get(&customer, &format!("/notifications?orderId={order}"))
            .await;
        let list = list.as_array().unwrap().clone();
        (list.len() == 3 && list.iter().all(|n| n["status"] == "Failed")).then_some(list)
    })
    .await;
    assert!(
        messages
            .iter()
            .all(|n| n["lastError"].as_str().unwrap().contains("timed out"))
    );
    eprintln!("order flow with a hanging channel took {flow:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_overload_messages_are_shed_and_counted_and_a_redelivery_never_sends_twice() {
    let (inbox, hook) = Inbox::start().await;
    inbox.mode.store(HANG, Ordering::SeqCst);
    let app = TestApp::spawn_with(|settings| {
        webhook(settings, &hook);
        notification_settings(settings, |n| {
            n.send_timeout = Duration::from_secs(3);
            n.max_attempts = 1;
            n.concurrency = 1;
            n.max_backlog = 1;
        });
    })
    .await;
    let customer = app.login("customer1").await;
    let store = app.store_id(&customer, "owner1").await;
    for _ in 0..4 {
        app.placed_order(&customer, &store).await;
    }
    let dropped = eventually(30, "messages to be shed", || async {
        let (_, list) = app.get(&customer, "/notifications").await;
        let list = list.as_array().unwrap().clone();
        let dropped = list.iter().filter(|n| n["status"] == "Dropped").count();
        (list.len() == 4 && dropped >= 2).then_some(dropped)
    })
    .await;
    let metrics_addr = app.platform.as_ref().unwrap().metrics_addr;
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("notifications_dropped_total"),
        "shedding is counted"
    );
    eprintln!("{dropped} of 4 messages shed");

    // The same event delivered twice is told once.
    let settings = &app.platform.as_ref().unwrap().settings;
    let bus = platform::bus::EventBus::new(&settings.kafka).unwrap();
    // The mypage is another consumer's projection: it may not have the order yet.
    let order_id = eventually(30, "the order on mypage", || async {
        let (_, orders) = app.get(&customer, "/mypage/orders?limit=1").await;
        orders["orders"][0]["orderId"].as_str().map(str::to_owned)
    })
    .await;
    let event: contracts::Event = contracts::CookStarted {
        order_id: order_id.clone().into(),
        store_id: store.clone().into(),
    }
    .into();
    let body = contracts::EventBody {
        timestamp: platform::db::now_ms(),
        event,
    };
    let record = platform::bus::Outgoing {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: "CookStarted".into(),
        key: order_id.clone(),
        payload: serde_json::to_string(&body).unwrap(),
        source: "test".into(),
        traceparent: None,
    };
    bus.publish(&record).await.unwrap();
    bus.publish(&record).await.unwrap();
    let cooking = eventually(30, "the message", || async {
        let (_, list) = app
            .get(&customer, &format!("/notifications?orderId={order_id}"))
            .await;
        let cooking: Vec<_> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["eventType"] == "CookStarted")
            .cloned()
            .collect();
        (!cooking.is_empty()).then_some(cooking)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, list) = app
        .get(&customer, &format!("/notifications?orderId={order_id}"))
        .await;
    let again = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["eventType"] == "CookStarted")
        .count();
    assert_eq!((cooking.len(), again), (1, 1));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canceled_order_closes_its_delivery() {
    let app = TestApp::spawn().await;
    let customer = app.login("customer1").await;
    let owner = app.login("owner1").await;
    let rider = app.login("rider3").await;
    let store = app.store_id(&customer, "owner1").await;
    let order = cooked_order(&app, &customer, &owner, &store).await;
    let near = "/deliveries/available?lat=37.4979&lng=127.0276&radiusKm=1";
    let delivery = app.open_delivery(&rider, near, &order).await;

    // The order service never cancels a cooked order today; an operator's cancel would look so.
    app.publish(
        contracts::OrderCanceled {
            order_id: order.clone().into(),
            customer_id: baedal::demo::subject_id("customer1").into(),
            store_id: store.clone().into(),
            amount: contracts::Krw::new(14_000),
            reason: None,
        }
        .into(),
    )
    .await;
    eventually(30, "the delivery to close", || async {
        let (_, list) = app.get(&rider, near).await;
        list.as_array()
            .unwrap()
            .iter()
            .all(|d| d["orderId"] != order.as_str())
            .then_some(())
    })
    .await;
    let delivery_id = delivery["deliveryId"].as_str().unwrap();
    let answer = app
        .post(
            &rider,
            &format!("/deliveries/{delivery_id}/pick"),
            json!({}),
        )
        .await;
    refused(answer, 409, "not-available");
    let records = app.topic(200, 5).await;
    assert_eq!(
        records
            .iter()
            .filter(|r| r.header("type") == Some("DeliveryCanceled") && r.key == order)
            .count(),
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deletion_that_overtakes_its_review_leaves_no_coupon() {
    let app = TestApp::spawn().await;
    let customer = app.login("customer2").await;
    let customer_id = baedal::demo::subject_id("customer2");
    // Replayed out of order (the review was dead-lettered and replayed after its deletion).
    app.publish(
        contracts::ReviewDeleted {
            review_id: "r-late".into(),
            order_id: "o-late".into(),
            customer_id: customer_id.clone().into(),
        }
        .into(),
    )
    .await;
    app.publish(
        contracts::ReviewWritten {
            review_id: "r-late".into(),
            order_id: "o-late".into(),
            customer_id: customer_id.clone().into(),
            store_id: "s".into(),
            rating: 5,
        }
        .into(),
    )
    .await;
    eventually(30, "both events to be handled", || async {
        let me = profile(&app, &customer).await;
        (me["coupons"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let me = profile(&app, &customer).await;
    assert_eq!(me["couponCount"], 0);
    assert_eq!(me["coupons"][0]["status"], "Revoked");
    app.stop().await;
}

/// A crash that cuts a send short (the channel has the request, the outcome is never recorded)
/// does not lose the message: it is sent again after the restart, at least once, with the same
/// idempotency key (the event's id) for the channel to drop the repeat by.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_cut_off_by_a_crash_is_sent_again_with_its_idempotency_key() {
    let (inbox, hook) = Inbox::start().await;
    let mut app = TestApp::spawn_with(|settings| {
        webhook(settings, &hook);
        notification_settings(settings, |n| n.send_timeout = Duration::from_secs(30));
    })
    .await;
    let customer = app.login("customer2").await;
    let store = app.store_id(&customer, "owner1").await;
    inbox.mode.store(HANG, Ordering::SeqCst);
    let order = app.placed_order(&customer, &store).await;
    eventually(30, "the channel to take the message", || async {
        (!inbox.for_order(&order).is_empty()).then_some(())
    })
    .await;
    // The notification service dies mid-send.
    app.platform
        .as_mut()
        .unwrap()
        .kill(platform::ServiceName::Notification)
        .await;
    inbox.mode.store(0, Ordering::SeqCst);
    app.restart(platform::ServiceName::Notification).await;
    let sent = eventually(30, "the message to be sent again", || async {
        let (_, list) = app
            .get(&customer, &format!("/notifications?orderId={order}"))
            .await;
        list.as_array()?
            .iter()
            .find(|n| n["eventType"] == "OrderPlaced" && n["status"] == "Sent")
            .cloned()
    })
    .await;
    let received: Vec<Value> = inbox
        .for_order(&order)
        .into_iter()
        .filter(|m| m["eventType"] == "OrderPlaced")
        .collect();
    assert_eq!(received.len(), 2, "once cut off, once again: {received:?}");
    let key = sent["eventId"].as_str().unwrap();
    assert!(!key.is_empty());
    for message in &received {
        assert_eq!(message["idempotencyKeyHeader"], key);
        assert_eq!(message["idempotencyKey"], key);
    }
    app.stop().await;
}

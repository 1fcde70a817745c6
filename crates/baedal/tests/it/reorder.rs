//! Each producing context has a topic of its own, so two events of one order from different
//! producers may reach a consumer in either order; only each producer's own events keep theirs.
//! These tests hand one order's events to each consumer that reads more than one topic, in every
//! interleaving that keeps each producer's order, and check that it ends where in-order delivery
//! ends. (Payment's two cross-topic events,
//! `OrderRejected` and `OrderCanceled`, never both happen to one order, and each refunds at most
//! once.)

use contracts::{
    DeliveryAddress, Event, EventType, GeoPoint, MenuItem, MenuPublished, OrderCanceled,
    OrderCompleted, OrderLine, OrderPlaced,
};
use platform::{
    Db,
    bus::{EventHandler, Incoming},
};
use sqlx::migrate::Migrator;

// The order of `contracts::examples`, whose events of the kitchen and the ride these tests use.
use contracts::examples::{CUSTOMER, ORDER, STORE};

/// Every merge of `streams` that keeps each stream's own order.
fn interleavings<T: Clone>(streams: &[Vec<T>]) -> Vec<Vec<T>> {
    if streams.iter().all(Vec::is_empty) {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        let Some((first, rest)) = stream.split_first() else {
            continue;
        };
        let mut others = streams.to_vec();
        others[i] = rest.to_vec();
        for mut tail in interleavings(&others) {
            tail.insert(0, first.clone());
            all.push(tail);
        }
    }
    all
}

#[test]
fn interleavings_keep_each_streams_order_and_miss_none() {
    let merged = interleavings(&[vec![1, 2], vec![10, 20, 30]]);
    assert_eq!(merged.len(), 10, "5! / (2! 3!)");
    for m in &merged {
        let a: Vec<_> = m.iter().filter(|x| **x < 10).collect();
        let b: Vec<_> = m.iter().filter(|x| **x >= 10).collect();
        assert_eq!((a, b), (vec![&1, &2], vec![&10, &20, &30]));
    }
    let distinct: std::collections::HashSet<_> = merged.iter().collect();
    assert_eq!(distinct.len(), merged.len());
}

/// One event with the id it keeps however often or late it is delivered.
#[derive(Clone)]
struct Delivered {
    event_id: String,
    event: Event,
    at: i64,
}

/// The events of one order, grouped by the topic (producer) they are on, each in its order.
fn by_topic(events: Vec<Event>) -> Vec<Vec<Delivered>> {
    let mut streams: std::collections::BTreeMap<_, Vec<Delivered>> = Default::default();
    for (i, event) in events.into_iter().enumerate() {
        streams
            .entry(event.kind().producer())
            .or_default()
            .push(Delivered {
                event_id: format!("evt-{i}"),
                event,
                at: 1_000 * (i as i64 + 1),
            });
    }
    streams.into_values().collect()
}

/// Hands `events` to `handler` one by one, each in its own transaction, as its consumer would.
async fn deliver(db: &Db, handler: &impl EventHandler, events: &[Delivered]) {
    for delivered in events {
        let kind = delivered.event.kind();
        if !handler.subscriptions().contains(&kind) {
            continue;
        }
        let incoming = Incoming {
            event_id: delivered.event_id.clone(),
            event_type: kind.as_str().to_owned(),
            key: Some(delivered.event.key().to_owned()),
            source: Some(kind.producer().as_str().to_owned()),
            traceparent: None,
            timestamp: delivered.at,
            event: delivered.event.clone(),
            partition: 0,
            offset: 0,
        };
        let mut tx = db.begin().await.unwrap();
        handler
            .handle(&mut tx, &incoming)
            .await
            .unwrap_or_else(|e| panic!("{kind} failed: {e:#}"));
        tx.commit().await.unwrap();
    }
}

/// Runs every interleaving of `events` through a fresh database per run (after `seed`), and
/// checks each ends in the state in-order delivery ends in; returns that state.
async fn same_end_in_any_order<S: PartialEq + std::fmt::Debug>(
    events: Vec<Event>,
    migrations: &Migrator,
    seed: impl AsyncFn(&Db),
    handler: &impl EventHandler,
    end_state: impl AsyncFn(&Db) -> S,
) -> S {
    let streams = by_topic(events);
    assert!(streams.len() > 1, "the events span more than one topic");
    let run = async |events: &[Delivered]| {
        let db = Db::connect("sqlite::memory:", 1, migrations).await.unwrap();
        seed(&db).await;
        deliver(&db, handler, events).await;
        let state = end_state(&db).await;
        db.close().await;
        state
    };
    let mut in_order: Vec<Delivered> = streams.iter().flatten().cloned().collect();
    in_order.sort_by_key(|d| d.at);
    let expected = run(&in_order).await;
    let orders = interleavings(&streams);
    assert!(orders.len() > 1);
    for order in &orders {
        let sequence: Vec<EventType> = order.iter().map(|d| d.event.kind()).collect();
        assert_eq!(run(order).await, expected, "delivered as {sequence:?}");
    }
    expected
}

fn address() -> DeliveryAddress {
    DeliveryAddress {
        text: "Seoul".into(),
        point: contracts::GeoPoint::known(37.5, 127.0),
    }
}

fn lines() -> Vec<OrderLine> {
    vec![OrderLine {
        food_id: "f-1".into(),
        name: "kimbap".into(),
        quantity: 2,
        unit_price: contracts::Krw::new(3500),
    }]
}

fn placed() -> Event {
    OrderPlaced {
        order_id: ORDER.into(),
        customer_id: CUSTOMER.into(),
        store_id: STORE.into(),
        store_name: "Kimbap Heaven".into(),
        items: lines(),
        amount: contracts::Krw::new(7000),
        delivery_address: address(),
        payment_id: "p-1".into(),
        menu_revision: 1,
        priced_at: 1,
    }
    .into()
}

/// The store's events of the order: accepted, cooking, cooked.
fn kitchen() -> Vec<Event> {
    [
        EventType::OrderAccepted,
        EventType::CookStarted,
        EventType::CookFinished,
    ]
    .map(testkit::example)
    .into()
}

/// The rider's events of the order: picked, delivered.
fn ride() -> Vec<Event> {
    [EventType::DeliveryPicked, EventType::DeliveryCompleted]
        .map(testkit::example)
        .into()
}

fn completed() -> Event {
    OrderCompleted {
        order_id: ORDER.into(),
        customer_id: CUSTOMER.into(),
        store_id: STORE.into(),
        amount: contracts::Krw::new(7000),
    }
    .into()
}

fn canceled() -> Event {
    OrderCanceled {
        order_id: ORDER.into(),
        customer_id: CUSTOMER.into(),
        store_id: STORE.into(),
        amount: contracts::Krw::new(7000),
        reason: Some("the store never received the order".into()),
    }
    .into()
}

/// The order service's own copy of the order, as `POST /orders` left it: placed and paid.
async fn placed_order(db: &Db) {
    let menu = MenuPublished {
        store_id: STORE.into(),
        owner_id: "owner-1".into(),
        name: "Kimbap Heaven".into(),
        location: GeoPoint::known(37.5, 127.0),
        open: true,
        foods: vec![MenuItem {
            food_id: "f-1".into(),
            name: "kimbap".into(),
            price: contracts::Krw::new(3500),
            sold_out: false,
        }],
        revision: 1,
    };
    let priced = order::order::Priced {
        lines: lines(),
        amount: contracts::Krw::new(7000),
    };
    let mut placed = order::order::Order::pending(
        ORDER.into(),
        CUSTOMER.into(),
        &menu,
        priced,
        address(),
        None,
        1,
    );
    let mut tx = db.begin().await.unwrap();
    order::db::insert_order(&mut tx, &placed).await.unwrap();
    placed.paid("p-1".into()).unwrap();
    assert!(order::db::save_order(&mut tx, &placed).await.unwrap());
    tx.commit().await.unwrap();
}

/// The order follows the store and the delivery (two topics) and projects every event into the
/// customer's mypage: same status, same ETA, same timeline whichever topic is read first.
#[tokio::test]
async fn the_order_and_its_mypage_end_the_same_in_any_order() {
    let mut events = vec![placed()];
    events.extend(kitchen());
    events.extend(ride());
    let (order, mypage) = same_end_in_any_order(
        events,
        &order::MIGRATIONS,
        placed_order,
        &order::policies::OrderPolicies,
        async |db| {
            let mut conn = db.pool().acquire().await.unwrap();
            let order = order::db::find_order(&mut conn, &ORDER.into())
                .await
                .unwrap()
                .unwrap();
            let mypage = order::views::find(&mut conn, &CUSTOMER.into(), &ORDER.into())
                .await
                .unwrap()
                .expect("the mypage entry");
            let steps: Vec<_> = mypage.timeline.iter().map(|s| s.status.as_str()).collect();
            (
                (order.status.as_str(), order.ready_at),
                (mypage.status, mypage.ready_at, steps),
            )
        },
    )
    .await;
    assert_eq!(order, ("Delivered", Some(1_700_000_900_000)));
    assert_eq!(mypage.0, contracts::OrderStatus::Delivered);
    assert_eq!(
        mypage.1,
        Some(1_700_000_900_000),
        "the ETA, even when accepted was read first"
    );
    assert_eq!(
        mypage.2,
        [
            "Placed",
            "Accepted",
            "Cooking",
            "Cooked",
            "Picked",
            "Delivered"
        ]
    );
}

/// A delivery opens once the food is cooked and never for an order canceled meanwhile, whether
/// the store's `CookFinished` or the order service's `OrderCanceled` is read first.
#[tokio::test]
async fn a_canceled_order_never_gets_a_live_delivery_in_any_order() {
    let mut events = kitchen();
    events.push(canceled());
    let open = same_end_in_any_order(
        events,
        &delivery::MIGRATIONS,
        async |_| {},
        &delivery::policies::DeliveryPolicies,
        async |db| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM deliveries WHERE order_id = $1 AND status IN ('Waiting', 'Picked')",
            )
            .bind(ORDER)
            .fetch_one(db.pool())
            .await
            .unwrap()
        },
    )
    .await;
    assert_eq!(open, 0);
}

/// The owner follows an order past the kitchen: the rider's steps (delivery topic) and the
/// customer's confirmation (order topic) may be read in either order, and the store's copy ends
/// `Completed` all the same, never back at `Delivered`.
#[tokio::test]
async fn the_stores_copy_follows_a_cooked_order_to_completed_in_any_order() {
    let mut events = ride();
    events.push(completed());
    let status = same_end_in_any_order(
        events,
        &store::MIGRATIONS,
        async |db| {
            let cooked = store::store_order::StoreOrder {
                order_id: ORDER.into(),
                store_id: STORE.into(),
                customer_id: CUSTOMER.into(),
                status: store::store_order::StoreOrderStatus::Cooked,
                amount: contracts::Krw::new(7000),
                items: lines(),
                delivery_address: address(),
                placed_at: 1,
                cook_minutes: Some(10),
                ready_at: Some(600_001),
                version: 1,
            };
            let mut tx = db.begin().await.unwrap();
            assert!(
                platform::unit::create_in(&mut tx, &cooked, [])
                    .await
                    .unwrap()
            );
            tx.commit().await.unwrap();
        },
        &store::policies::StorePolicies,
        async |db| {
            sqlx::query_scalar::<_, String>("SELECT status FROM store_orders WHERE order_id = $1")
                .bind(ORDER)
                .fetch_one(db.pool())
                .await
                .unwrap()
        },
    )
    .await;
    assert_eq!(status, "Completed");
}

/// Every step the customer can see becomes one message, even when the store's or the rider's
/// event is read before the `OrderPlaced` that says whom to tell.
#[tokio::test]
async fn each_step_is_told_once_in_any_order() {
    let mut events = vec![placed()];
    events.extend(kitchen());
    events.extend(ride());
    let (messages, waiting) = same_end_in_any_order(
        events,
        &notification::MIGRATIONS,
        async |_| {},
        &notification::policies::NotificationPolicy,
        async |db| {
            let mut told: Vec<String> = sqlx::query_scalar(
                "SELECT event_type FROM notifications WHERE order_id = $1 AND customer_id = $2",
            )
            .bind(ORDER)
            .bind(CUSTOMER)
            .fetch_all(db.pool())
            .await
            .unwrap();
            told.sort();
            let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM awaiting_contact")
                .fetch_one(db.pool())
                .await
                .unwrap();
            (told, waiting)
        },
    )
    .await;
    assert_eq!(waiting, 0, "nothing left waiting for its contact");
    assert_eq!(
        messages,
        [
            "CookFinished",
            "CookStarted",
            "DeliveryCompleted",
            "DeliveryPicked",
            "OrderAccepted",
            "OrderPlaced"
        ]
    );
}

/// The customer's count and grade follow `OrderCompleted` (the order service's topic) and the
/// coupon follows the review's events (the review service's), in whatever order they come.
#[tokio::test]
async fn grade_and_coupon_end_the_same_in_any_order() {
    let mut events = vec![completed()];
    events.extend([EventType::ReviewWritten, EventType::ReviewDeleted].map(testkit::example));
    let policies = customer::policies::CustomerPolicies {
        grades: customer::settings::CustomerSettings::default().grades,
    };
    let (customer, coupons) = same_end_in_any_order(
        events,
        &customer::MIGRATIONS,
        async |_| {},
        &policies,
        async |db| {
            let customer: (i64, String) = sqlx::query_as(
                "SELECT completed_orders, grade FROM customers WHERE customer_id = $1",
            )
            .bind(CUSTOMER)
            .fetch_one(db.pool())
            .await
            .unwrap();
            let coupons: Vec<String> =
                sqlx::query_scalar("SELECT status FROM coupons WHERE customer_id = $1")
                    .bind(CUSTOMER)
                    .fetch_all(db.pool())
                    .await
                    .unwrap();
            (customer, coupons)
        },
    )
    .await;
    assert_eq!(customer, (1, "귀한분".to_owned()));
    assert!(
        coupons.iter().all(|s| s == "Revoked"),
        "the deleted review's coupon is not usable: {coupons:?}"
    );
}

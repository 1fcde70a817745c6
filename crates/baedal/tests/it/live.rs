//! Live updates over Server-Sent Events, through the gateway as a browser gets them: an order's
//! steps for its customer, a store's orders for its owner, deliveries near a rider; resuming
//! after a dropped connection with `Last-Event-ID`; the bound on streams per caller; a reader
//! that reads nothing for a while holds nothing up and misses nothing.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use testkit::Sent as _;

use crate::harness::{TestApp, eventually};

/// One event as a browser's `EventSource` sees it.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<i64>,
    event: String,
    data: Value,
    /// When it arrived, in epoch ms.
    arrived: i64,
}

/// A client reading one stream.
struct Stream {
    /// The task reading ahead, stopped with the stream.
    reader: Option<tokio::task::AbortHandle>,
    chunks: futures::stream::BoxStream<'static, (i64, axum::body::Bytes)>,
    /// Bytes, not text: a chunk may end inside a character.
    buffer: Vec<u8>,
    /// When the bytes in `buffer` arrived.
    arrived: i64,
}

impl Stream {
    /// Opens `path` through the gateway and reads it as it comes, as a browser does, noting when
    /// each piece arrived; panics unless it is an event stream.
    async fn open(app: &TestApp, token: &str, path: &str, last_event_id: Option<i64>) -> Self {
        let body = Self::body(app, token, path, last_event_id).await;
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut body = body;
            while let Some(Ok(chunk)) = body.next().await {
                if sender.send((platform::db::now_ms(), chunk)).is_err() {
                    return;
                }
            }
        });
        Self {
            reader: Some(reader.abort_handle()),
            chunks: futures::stream::unfold(receiver, |mut receiver| async move {
                receiver.recv().await.map(|chunk| (chunk, receiver))
            })
            .boxed(),
            buffer: Vec::new(),
            arrived: 0,
        }
    }

    /// Opens `path` but reads nothing until asked: a reader that stalls.
    async fn open_stalled(app: &TestApp, token: &str, path: &str) -> Self {
        let body = Self::body(app, token, path, None).await;
        Self {
            reader: None,
            chunks: body
                .map(|chunk| (platform::db::now_ms(), chunk.expect("stream chunk")))
                .boxed(),
            buffer: Vec::new(),
            arrived: 0,
        }
    }

    async fn body(
        app: &TestApp,
        token: &str,
        path: &str,
        last_event_id: Option<i64>,
    ) -> futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>> {
        let response = Self::request(app, token, path, last_event_id).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        // Nor may a proxy in front of the gateway hold events back.
        assert_eq!(response.headers()["x-accel-buffering"], "no");
        response.bytes_stream().boxed()
    }

    async fn request(
        app: &TestApp,
        token: &str,
        path: &str,
        last_event_id: Option<i64>,
    ) -> reqwest::Response {
        // No overall timeout: a stream lasts.
        let client = reqwest::Client::new();
        let mut request = client
            .get(app.url(path))
            .bearer_auth(token)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        request.sent().await
    }

    /// The next event, or `None` if none comes within `wait`. Heartbeat comments are skipped.
    async fn next_within(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let frame = std::str::from_utf8(&frame).expect("an event is UTF-8");
                if let Some(event) = parse(frame, self.arrived) {
                    return Some(event);
                }
                continue;
            }
            let (arrived, chunk) = tokio::time::timeout_at(deadline, self.chunks.next())
                .await
                .ok()??;
            self.arrived = arrived;
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// Whether the stream ended (the server closed it) within `wait`; what came before is
    /// dropped.
    async fn ended_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.chunks.next()).await {
                Ok(None) => return true,
                Ok(Some(_)) => {}
                Err(_) => return false,
            }
        }
    }

    async fn next(&mut self) -> Sse {
        self.next_within(Duration::from_secs(30))
            .await
            .expect("an event within 30 s")
    }

    /// Events until one satisfies `until`, which is returned last.
    async fn until(&mut self, mut until: impl FnMut(&Sse) -> bool) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self.next().await;
            let done = until(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

fn parse(frame: &str, arrived: i64) -> Option<Sse> {
    let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
    for line in frame.lines() {
        if let Some(value) = line.strip_prefix("id:") {
            id = Some(value.trim().parse().unwrap());
        } else if let Some(value) = line.strip_prefix("event:") {
            event = value.trim().to_owned();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    if data.is_empty() {
        // Only comments: a heartbeat.
        return None;
    }
    Some(Sse {
        id,
        event,
        data: serde_json::from_str(&data).unwrap(),
        arrived,
    })
}

/// The latest status in an `order` event.
fn status(event: &Sse) -> &str {
    event.data["status"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_is_followed_live_to_completed_and_resumed_after_a_drop() {
    let app = TestApp::spawn().await;
    let customer = app.login("customer1").await;
    let owner = app.login("owner1").await;
    let rider = app.login("rider1").await;
    let store_id = app.store_id(&customer, "owner1").await;
    let order_id = app.placed_order(&customer, &store_id).await;
    let path = format!("/orders/{order_id}/events");

    // Someone else's order is no order at all, as over REST; an owner is not its customer.
    let other = app.login("customer2").await;
    let refused = Stream::request(&app, &other, &path, None).await;
    assert_eq!(refused.status(), 404);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["code"],
        "order-not-found"
    );
    assert_eq!(
        Stream::request(&app, &owner, &path, None).await.status(),
        403
    );
    let bad = Stream::request(&app, &customer, &path, None).await;
    assert_eq!(bad.status(), 200);
    let garbled = app
        .http
        .get(app.url(&path))
        .bearer_auth(&customer)
        .header("last-event-id", "yesterday")
        .sent()
        .await;
    assert_eq!(garbled.status(), 400);
    assert_eq!(
        garbled.json::<Value>().await.unwrap()["code"],
        "invalid-last-event-id"
    );

    // A new stream begins with the order as it stands.
    let mut stream = Stream::open(&app, &customer, &path, None).await;
    let first = stream.until(|e| status(e) == "Placed").await;
    assert!(first.iter().all(|e| e.event == "order"));
    let mut last_id = first.last().unwrap().id.unwrap();

    // The owner accepts: the customer is told without asking.
    app.accept(&owner, &store_id, &order_id, 7).await;
    let accepted = stream.until(|e| status(e) == "Accepted").await;
    last_id = accepted.last().unwrap().id.unwrap().max(last_id);

    // The connection drops; cooking starts meanwhile; the client comes back with the last id it
    // saw and gets what it missed, and nothing it had.
    drop(stream);
    let (code, _) = app
        .owner(&owner, &store_id, &order_id, "cook-start", json!({}))
        .await;
    assert_eq!(code, 200);
    app.mypage_shows(&customer, &order_id, "Cooking").await;
    let mut resumed = Stream::open(&app, &customer, &path, Some(last_id)).await;
    let missed = resumed.until(|e| status(e) == "Cooking").await;
    assert!(
        missed.iter().all(|e| e.id.unwrap() > last_id),
        "a resumed stream repeats nothing: {missed:?}"
    );

    // The rest of the way, each step timed from its event to its arrival here.
    let (code, _) = app
        .owner(&owner, &store_id, &order_id, "cook-finish", json!({}))
        .await;
    assert_eq!(code, 200);
    let delivery = eventually(30, "the delivery to open", || async {
        let (_, list) = app
            .get(
                &rider,
                "/deliveries/available?lat=37.5&lng=127.03&radiusKm=3",
            )
            .await;
        list.as_array()?
            .iter()
            .find(|d| d["orderId"] == order_id.as_str())
            .map(|d| d["deliveryId"].as_str().unwrap().to_owned())
    })
    .await;
    for step in ["pick", "complete"] {
        let (code, body) = app
            .post(&rider, &format!("/deliveries/{delivery}/{step}"), json!({}))
            .await;
        assert_eq!(code, 200, "{step}: {body}");
    }
    let delivered = resumed.until(|e| status(e) == "Delivered").await;
    let (code, _) = app
        .post(
            &customer,
            &format!("/orders/{order_id}/confirm-receipt"),
            json!({}),
        )
        .await;
    assert_eq!(code, 200);
    let completed = resumed.until(|e| status(e) == "Completed").await;

    // Every status the order went through reached the browser, in order, ids rising.
    let all: Vec<&Sse> = accepted
        .iter()
        .chain(&missed)
        .chain(&delivered)
        .chain(&completed)
        .collect();
    let mut statuses: Vec<&str> = all.iter().map(|e| status(e)).collect();
    statuses.dedup();
    for expected in ["Cooking", "Delivered", "Completed"] {
        assert!(statuses.contains(&expected), "{expected} in {statuses:?}");
    }
    // The store's and the rider's events are on two topics, so the order may read the rider's
    // pickup before the store's "cooked": the entry then goes from Cooking straight to Picked,
    // and Cooked shows only in its timeline. Every step is there, in order, either way.
    let timeline: Vec<&str> = completed.last().unwrap().data["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|step| step["status"].as_str())
        .collect();
    assert_eq!(
        timeline,
        [
            "Placed",
            "Accepted",
            "Cooking",
            "Cooked",
            "Picked",
            "Delivered",
            "Completed"
        ],
        "{timeline:?}"
    );
    let ids: Vec<i64> = missed
        .iter()
        .chain(&delivered)
        .chain(&completed)
        .map(|e| e.id.unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");

    // From the order service's change to the browser, and from the event that made the step
    // (the store's or the rider's action) to the browser: printed, not asserted (a test is no
    // benchmark); docs/benchmarks.md has the figures.
    let mut lags = Vec::new();
    for event in accepted.iter().chain(&delivered).chain(&completed) {
        let step_at = event.data["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == status(event))
            .filter_map(|s| s["at"].as_i64())
            .max()
            .unwrap();
        lags.push(format!(
            "{} {} ms after the change, {} ms after its event",
            status(event),
            event.arrived - event.data["changedAt"].as_i64().unwrap(),
            event.arrived - step_at,
        ));
    }
    println!("live: the customer's stream: {lags:?}");

    // An id this stream never gave (or one past retention) is told to read afresh.
    let mut stale = Stream::open(&app, &customer, &path, Some(1_000_000)).await;
    let reset = stale.next().await;
    assert_eq!(reset.event, "reset");
    assert_eq!(reset.id, None);

    // Open streams do not hold a stopping platform: they end, and it drains.
    tokio::time::timeout(Duration::from_secs(30), app.stop())
        .await
        .expect("the platform stops with streams open");
    assert!(stale.ended_within(Duration::from_secs(5)).await);
    assert!(resumed.ended_within(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn owners_and_riders_follow_their_lists_live_and_only_theirs() {
    let app = TestApp::spawn().await;
    let customer = app.login("customer1").await;
    let owner = app.login("owner1").await;
    let other_owner = app.login("owner2").await;
    let near = app.login("rider1").await;
    let far = app.login("rider2").await;
    let store_id = app.store_id(&customer, "owner1").await;
    let store_path = format!("/stores/{store_id}/orders/events");

    // Authorized like their REST twins.
    assert_eq!(
        Stream::request(&app, &other_owner, &store_path, None)
            .await
            .status(),
        403
    );
    assert_eq!(
        Stream::request(&app, &customer, &store_path, None)
            .await
            .status(),
        403
    );
    let deliveries = "/deliveries/events?lat=37.5&lng=127.03&radiusKm=3";
    assert_eq!(
        Stream::request(&app, &customer, deliveries, None)
            .await
            .status(),
        403
    );
    let out_of_range =
        Stream::request(&app, &near, "/deliveries/events?lat=95&lng=127", None).await;
    assert_eq!(out_of_range.status(), 400);
    assert_eq!(
        out_of_range.json::<Value>().await.unwrap()["code"],
        "invalid-search"
    );

    let mut kitchen = Stream::open(&app, &owner, &store_path, None).await;
    let mut nearby = Stream::open(&app, &near, deliveries, None).await;
    // Busan is far from a store in Seoul.
    let mut busan = Stream::open(
        &app,
        &far,
        "/deliveries/events?lat=35.1&lng=129.0&radiusKm=5",
        None,
    )
    .await;

    // A new order arrives on the owner's stream, then follows the owner's commands.
    let order_id = app.placed_order(&customer, &store_id).await;
    let arrived = kitchen.next().await;
    assert_eq!(arrived.event, "order");
    assert_eq!(arrived.data["orderId"], order_id.as_str());
    assert_eq!(arrived.data["status"], "Placed");
    let first_id = arrived.id.unwrap();
    for (step, (action, body, status)) in (1..).zip([
        ("accept", json!({"cookMinutes": 5}), "Accepted"),
        ("cook-start", json!({}), "Cooking"),
        ("cook-finish", json!({}), "Cooked"),
    ]) {
        let sent = platform::db::now_ms();
        let (code, answer) = app.owner(&owner, &store_id, &order_id, action, body).await;
        assert_eq!(code, 200, "{action}: {answer}");
        let changed = kitchen.next().await;
        println!(
            "live: {action} to the owner's stream: {} ms",
            changed.arrived - sent
        );
        assert_eq!(changed.data["orderId"], order_id.as_str());
        assert_eq!(changed.data["status"], status, "{action}");
        assert_eq!(
            changed.id,
            Some(first_id + step),
            "ids count the store's changes"
        );
    }

    // The cooked order opens a delivery near the first rider, with the distance to the store.
    let opened = nearby.next().await;
    assert_eq!(opened.event, "opened");
    assert_eq!(opened.data["orderId"], order_id.as_str());
    assert!(opened.data["distanceKm"].as_f64().unwrap() <= 3.0);
    let delivery = opened.data["deliveryId"].as_str().unwrap().to_owned();
    let (code, _) = app
        .post(&near, &format!("/deliveries/{delivery}/pick"), json!({}))
        .await;
    assert_eq!(code, 200);
    let closed = nearby.next().await;
    assert_eq!(closed.event, "closed");
    assert_eq!(closed.data["deliveryId"], delivery.as_str());
    assert_eq!(closed.data["status"], "Picked");
    assert_eq!(closed.id, Some(opened.id.unwrap() + 1));

    // The rider in Busan was shown neither (only heartbeats, if anything, came).
    assert!(
        busan
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "a delivery in Seoul is not shown in Busan"
    );

    // A waiting delivery whose order is canceled closes too. (Nothing cancels a cooked order
    // today; an operator's cancel would look so.)
    let second = app.placed_order(&customer, &store_id).await;
    for (action, body) in [
        ("accept", json!({"cookMinutes": 5})),
        ("cook-start", json!({})),
        ("cook-finish", json!({})),
    ] {
        let (code, answer) = eventually(30, "the store to take the step", || async {
            let answer = app
                .owner(&owner, &store_id, &second, action, body.clone())
                .await;
            (answer.0 != 404).then_some(answer)
        })
        .await;
        assert_eq!(code, 200, "{action}: {answer}");
    }
    let opened = nearby.next().await;
    assert_eq!(
        (opened.event.as_str(), &opened.data["orderId"]),
        ("opened", &json!(second))
    );
    app.publish(
        contracts::OrderCanceled {
            order_id: second.clone().into(),
            customer_id: baedal::demo::subject_id("customer1").into(),
            store_id: store_id.clone().into(),
            amount: contracts::Krw::new(14_000),
            reason: None,
        }
        .into(),
    )
    .await;
    let closed = nearby.next().await;
    assert_eq!(closed.event, "closed");
    assert_eq!(closed.data["orderId"], second.as_str());
    assert_eq!(closed.data["status"], "Canceled");
    assert_eq!(closed.id, Some(opened.id.unwrap() + 1));

    // A store service that goes away ends its streams (the owner's client reconnects), though
    // the gateway stays.
    let mut app = app;
    app.platform
        .as_mut()
        .unwrap()
        .kill(platform::ServiceName::Store)
        .await;
    assert!(kitchen.ended_within(Duration::from_secs(10)).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_holds_a_bounded_number_of_streams_and_a_reader_that_stalls_misses_nothing() {
    let app = TestApp::spawn_with(|settings| settings.gateway.streams_per_client = 2).await;
    let customer = app.login("customer1").await;
    let owner = app.login("owner1").await;
    let store_id = app.store_id(&customer, "owner1").await;
    let path = format!("/stores/{store_id}/orders/events");

    // The owner's third stream is refused until one of two closes.
    let stalled = Stream::open_stalled(&app, &owner, &path).await;
    let second = Stream::open(&app, &owner, &path, None).await;
    let third = Stream::request(&app, &owner, &path, None).await;
    assert_eq!(third.status(), 429);
    assert_eq!(
        third.json::<Value>().await.unwrap()["code"],
        "too-many-streams"
    );
    drop(second);
    eventually(10, "the closed stream's place to be free", || async {
        let response = Stream::request(&app, &owner, &path, None).await;
        (response.status() == 200).then_some(())
    })
    .await;

    // The first stream is not read while many orders come and change (more than a stream keeps
    // waiting for a slow reader); orders go on at full speed meanwhile.
    let started = Instant::now();
    let rounds = 40;
    let mut orders = Vec::new();
    for _ in 0..rounds {
        orders.push(app.placed_order(&customer, &store_id).await);
    }
    for order_id in &orders {
        eventually(30, "the store to receive the order", || async {
            let (code, _) = app
                .owner(
                    &owner,
                    &store_id,
                    order_id,
                    "reject",
                    json!({"reason": "재료 소진"}),
                )
                .await;
            (code == 200).then_some(())
        })
        .await;
    }
    println!(
        "live: {rounds} orders placed and rejected in {:?} while a stream stalled",
        started.elapsed()
    );

    // Then it reads: every change, in order, none twice.
    let mut stalled = stalled;
    let mut seen = Vec::new();
    while seen.len() < rounds * 2 {
        seen.push(stalled.next().await);
    }
    let ids: Vec<i64> = seen.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    for order_id in &orders {
        let statuses: Vec<&str> = seen
            .iter()
            .filter(|e| e.data["orderId"] == order_id.as_str())
            .map(status)
            .collect();
        assert_eq!(statuses, ["Placed", "Rejected"], "{order_id}");
    }
    app.stop().await;
}

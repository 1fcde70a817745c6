//! The thin slice of the scenario, through the gateway only: log in, browse, order and pay, the
//! store receives the order, mypage shows it; a declined card leaves no order.

use serde_json::json;
use testkit::Sent as _;

use crate::harness::{TestApp, eventually, read_topic, refused};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paid_order_reaches_the_store_and_the_customers_mypage() {
    let app = TestApp::spawn().await;
    let customer = app.login("customer1").await;

    let store = app.store_of(&customer, "owner1").await;
    let store_id = store["storeId"].as_str().unwrap().to_owned();
    let foods = store["foods"].as_array().unwrap();
    assert!(
        foods
            .iter()
            .any(|f| f["foodId"] == "tuna-kimbap" && f["price"] == 4500)
    );
    assert!(store["lat"].as_f64().unwrap() > 37.0);

    let (status, placed) = app.order(&customer, &store_id, "tok_visa").await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["status"], "Placed");
    assert_eq!(placed["amount"], 4500 * 2 + 5000);
    let order_id = placed["orderId"].as_str().unwrap().to_owned();

    // OrderPlaced is on the topic, keyed by the order id, with the four headers.
    let settings = &app.platform.as_ref().unwrap().settings;
    let records = read_topic(
        &settings.kafka.brokers,
        &settings.kafka.event_topics(),
        6,
        20,
    )
    .await;
    let event = records
        .iter()
        .find(|r| r.header("type") == Some("OrderPlaced"))
        .expect("OrderPlaced on the topic");
    assert_eq!(event.key, order_id);
    assert_eq!(event.value["eventType"], "OrderPlaced");
    assert_eq!(event.value["orderId"], order_id.as_str());
    assert_eq!(event.value["amount"], 14_000);
    assert!(event.value["timestamp"].as_i64().unwrap() > 0);
    assert_eq!(event.header("source"), Some("order"));
    assert!(uuid::Uuid::parse_str(event.header("event-id").unwrap()).is_ok());
    // The traceparent names the relay's publishing span, in the trace of the customer's request.
    let published = platform::trace::span_context(event.header("traceparent").unwrap()).unwrap();
    assert!(published.is_sampled());

    // The owner sees it.
    let owner = app.login("owner1").await;
    let orders_path = format!("/stores/{store_id}/orders?status=Placed");
    let received = eventually(30, "the store to receive the order", || async {
        let (status, orders) = app.get(&owner, &orders_path).await;
        assert_eq!(status, 200, "{orders}");
        orders
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["orderId"] == order_id.as_str())
            .cloned()
    })
    .await;
    assert_eq!(received["status"], "Placed");
    assert_eq!(received["amount"], 14_000);
    assert_eq!(received["items"].as_array().unwrap().len(), 2);

    // Mypage shows it, with its timeline.
    let mypage = eventually(30, "mypage to show the order", || async {
        let (status, body) = app
            .get(&customer, &format!("/mypage/orders/{order_id}"))
            .await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(mypage["status"], "Placed");
    assert_eq!(mypage["storeName"], store["name"]);
    assert_eq!(mypage["timeline"][0]["status"], "Placed");
    let (status, order) = app.get(&customer, &format!("/orders/{order_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(order["status"], "Placed");
    assert_eq!(order["paymentId"], event.value["paymentId"]);

    // No one else reads or acts on it.
    let other = app.login("customer2").await;
    let answer = app.get(&other, &format!("/orders/{order_id}")).await;
    refused(answer, 404, "order-not-found");
    let (status, _) = app.get(&other, &format!("/mypage/orders/{order_id}")).await;
    assert_eq!(status, 404);
    let other_owner = app.login("owner2").await;
    refused(app.get(&other_owner, &orders_path).await, 403, "forbidden");
    let (status, _) = app.order(&owner, &store_id, "tok_visa").await;
    assert_eq!(status, 403, "owners do not order");

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_card_gets_402_and_leaves_no_order() {
    let app = TestApp::spawn().await;
    let customer = app.login("customer2").await;
    let store_id = app.store_of(&customer, "owner2").await["storeId"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({
        "storeId": store_id,
        "items": [{"foodId": "fried", "quantity": 1}],
        "deliveryAddress": {"text": "서울 중구 세종대로 110", "lat": 37.566, "lng": 126.978},
        "payment": {"method": "card", "cardToken": "tok_decline"},
    });
    let (status, problem) = eventually(30, "the menu replica", || async {
        let (status, problem) = app.post(&customer, "/orders", body.clone()).await;
        let not_yet = status == 404 || problem["code"] == "unknown-food";
        (!not_yet).then_some((status, problem))
    })
    .await;
    assert_eq!(status, 402, "{problem}");
    assert_eq!(problem["code"], "payment-declined");

    // A sold-out item is refused before any charge.
    let mut sold_out = body.clone();
    sold_out["items"] = json!([{"foodId": "cheese-ball", "quantity": 1}]);
    sold_out["payment"]["cardToken"] = json!("tok_visa");
    let answer = app.post(&customer, "/orders", sold_out.clone()).await;
    refused(answer, 409, "sold-out");
    // So is a food the menu does not have (any more), the same way.
    let mut unknown = sold_out;
    unknown["items"] = json!([{"foodId": "no-such-food", "quantity": 1}]);
    let answer = app.post(&customer, "/orders", unknown).await;
    refused(answer, 409, "unknown-food");

    // Nothing was placed: mypage stays empty and no OrderPlaced was published.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (status, page) = app.get(&customer, "/mypage/orders").await;
    assert_eq!(status, 200);
    assert_eq!(page["orders"].as_array().unwrap().len(), 0);
    let settings = &app.platform.as_ref().unwrap().settings;
    let records = read_topic(
        &settings.kafka.brokers,
        &settings.kafka.event_topics(),
        100,
        3,
    )
    .await;
    assert!(
        records
            .iter()
            .all(|r| r.header("type") != Some("OrderPlaced"))
    );
    assert!(
        records
            .iter()
            .all(|r| r.header("type") != Some("PaymentApproved"))
    );

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_client_mistake_is_a_problem_body_and_a_down_service_is_503() {
    let mut app = TestApp::spawn().await;
    let customer = app.login("customer1").await;

    let response = app.http.get(app.url("/stores")).sent().await;
    assert_eq!(response.status(), 401);
    let response = app
        .http
        .get(app.url("/stores"))
        .bearer_auth("not-a-token")
        .sent()
        .await;
    assert_eq!(response.status(), 401);

    let response = app
        .http
        .post(app.url("/orders"))
        .bearer_auth(&customer)
        .header("content-type", "application/json")
        .body("{\"storeId\":")
        .sent()
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    for (body, code) in [
        (json!({"storeId": "x"}), "invalid-body"),
        (
            json!({"storeId": "x", "items": [], "deliveryAddress": {"text": "a", "lat": 1.0, "lng": 1.0},
                   "payment": {"method": "card", "cardToken": "t"}}),
            "invalid-order",
        ),
        (
            json!({"storeId": "x", "items": [{"foodId": "a", "quantity": 1}],
                   "deliveryAddress": {"text": "a", "lat": 100.0, "lng": 1.0},
                   "payment": {"method": "card", "cardToken": "t"}}),
            "invalid-order",
        ),
    ] {
        let (status, problem) = app.post(&customer, "/orders", body).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some(code)));
    }
    let answer = app
        .post(
            &customer,
            "/orders",
            json!({"storeId": "no-such-store", "items": [{"foodId": "a", "quantity": 1}],
                   "deliveryAddress": {"text": "a", "lat": 1.0, "lng": 1.0},
                   "payment": {"method": "card", "cardToken": "t"}}),
        )
        .await;
    refused(answer, 404, "store-not-found");
    refused(app.get(&customer, "/nowhere").await, 404, "no-route");
    let answer = app.get(&customer, "/mypage/orders?limit=0").await;
    refused(answer, 400, "invalid-limit");

    // The order service dies: the gateway says so in a problem body, it does not hang.
    app.platform
        .as_mut()
        .unwrap()
        .kill(platform::ServiceName::Order)
        .await;
    let answer = app.get(&customer, "/mypage/orders").await;
    refused(answer, 503, "service-unavailable");

    app.stop().await;
}

/// A review names its order in the body; whatever that text is, it is parsed as an id before any
/// URL is built from it, so it cannot reach another endpoint of the order service, and nothing a
/// client writes there is a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reviews_order_id_cannot_steer_the_lookup() {
    let app = TestApp::spawn().await;
    let customer = app.login("customer1").await;
    let long = "7".repeat(70_000);
    for order_id in [
        "%ff",
        "%00",
        "..\\healthz",
        "..\\mypage\\orders",
        "..\\..\\metrics",
        "../../internal/orders/x",
        long.as_str(),
    ] {
        let (status, body) = app
            .post(
                &customer,
                "/reviews",
                json!({"orderId": order_id, "rating": 5, "text": "x"}),
            )
            .await;
        assert_eq!(
            status,
            422,
            "{}: {body}",
            &order_id[..order_id.len().min(20)]
        );
        assert_eq!(body["code"], "invalid-review");
    }
    // A well-formed id of no order is simply no order.
    let (status, body) = app
        .post(
            &customer,
            "/reviews",
            json!({"orderId": uuid::Uuid::now_v7().to_string(), "rating": 5, "text": "x"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    app.stop().await;
}

/// Metrics are not on any public port, and made-up methods cannot add series.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_are_internal_and_their_labels_bounded() {
    let app = TestApp::spawn().await;
    let platform = app.platform.as_ref().unwrap();
    let response = app.http.get(app.url("/metrics")).sent().await;
    assert_eq!(response.status(), 404, "not on the gateway");
    let order = platform.service(platform::ServiceName::Order).unwrap().addr;
    let response = app.http.get(format!("http://{order}/metrics")).sent().await;
    assert_eq!(response.status(), 404, "not on a service port");
    for method in ["FOOBAR", "BREW", "X-MADE-UP"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        app.http.request(method, app.url("/stores")).sent().await;
    }
    let metrics = app
        .http
        .get(format!("http://{}/metrics", platform.metrics_addr))
        .sent()
        .await
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("method=\"other\""));
    for made_up in ["FOOBAR", "BREW", "X-MADE-UP"] {
        assert!(!metrics.contains(made_up), "{made_up} became a label");
    }
    app.stop().await;
}

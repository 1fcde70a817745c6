//! The operator's view of money and sagas: the stuck-saga monitor and `baedal audit`, each shown
//! to pass on a healthy platform and to catch a broken invariant.

use serde_json::json;
use testkit::Sent as _;

use crate::harness::{TestApp, eventually};

/// An order stuck in a stage past its deadline is listed for admins and counted in `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_stuck_past_its_stage_deadline_is_listed_and_counted() {
    let app = TestApp::spawn_with(|settings| {
        settings
            .change_section(|order: &mut order::settings::OrderSettings| {
                order.deadline_sweep = std::time::Duration::from_millis(200)
            })
            .unwrap()
    })
    .await;
    let customer = app.login("customer1").await;
    let store = app.store_id(&customer, "owner1").await;
    let order_id = app.placed_order(&customer, &store).await;
    let platform = app.platform.as_ref().unwrap();
    let order_db = &platform.service(platform::ServiceName::Order).unwrap().db;
    // Cooked two hours ago, and no rider ever came.
    sqlx::query("UPDATE orders SET status = 'Cooked', updated_at = $1 WHERE order_id = $2")
        .bind(platform::db::now_ms() - 2 * 3600 * 1000)
        .bind(&order_id)
        .execute(order_db.pool())
        .await
        .unwrap();

    let admin = app.login("admin").await;
    let (status, stages) = app.get(&admin, "/admin/sagas/stuck").await;
    assert_eq!(status, 200, "{stages}");
    let cooked = stages
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "Cooked")
        .unwrap();
    assert_eq!(cooked["count"], 1);
    assert_eq!(cooked["orders"][0]["orderId"], order_id.as_str());
    let (status, _) = app.get(&customer, "/admin/sagas/stuck").await;
    assert_eq!(status, 403);

    let metrics = format!("http://{}/metrics", platform.metrics_addr);
    eventually(10, "the gauge to count it", || async {
        let page = reqwest::get(&metrics).await.ok()?.text().await.ok()?;
        page.lines()
            .any(|l| l.starts_with("sagas_stuck{stage=\"Cooked\"} 1"))
            .then_some(())
    })
    .await;
    app.stop().await;
}

/// After a day of the scenario (completed, rejected, canceled, reviewed and unreviewed orders)
/// the audit finds nothing wrong; a charge made without an order is found.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_passes_a_healthy_platform_and_finds_a_charge_without_an_order() {
    let app = TestApp::spawn().await;
    let customer = app.login("customer1").await;
    let owner = app.login("owner1").await;
    let rider = app.login("rider1").await;
    let store = app.store_id(&customer, "owner1").await;

    // Completed and reviewed, then the review deleted.
    let done = app.placed_order(&customer, &store).await;
    app.complete_order(&customer, &owner, &rider, &store, &done)
        .await;
    let (status, review) = app
        .post(
            &customer,
            "/reviews",
            json!({"orderId": done, "rating": 4, "text": "ok"}),
        )
        .await;
    assert_eq!(status, 201, "{review}");
    // Rejected, and canceled.
    let rejected = app.placed_order(&customer, &store).await;
    eventually(30, "the store to have it", || async {
        let (status, _) = app
            .owner(
                &owner,
                &store,
                &rejected,
                "reject",
                json!({"reason": "no rice"}),
            )
            .await;
        (status == 200).then_some(())
    })
    .await;
    let canceled = app.placed_order(&customer, &store).await;
    eventually(30, "the cancel to be taken", || async {
        let path = format!("/orders/{canceled}/cancel");
        (app.post(&customer, &path, json!({})).await.0 == 202).then_some(())
    })
    .await;
    app.mypage_refunded(&customer, &rejected, "Rejected").await;
    app.mypage_refunded(&customer, &canceled, "Canceled").await;
    eventually(30, "the coupon", || async {
        let (_, me) = app.get(&customer, "/customers/me").await;
        (me["couponCount"] == 1).then_some(())
    })
    .await;

    let settings = &app.platform.as_ref().unwrap().settings;
    let audit = eventually(30, "a clean audit", || async {
        let audit = baedal::audit::run(settings, std::time::Duration::ZERO)
            .await
            .unwrap();
        (audit.violations() == 0).then_some(audit)
    })
    .await;
    assert!(
        audit
            .checks
            .iter()
            .all(|c| c.checked > 0 || c.name == "coupons match reviews")
    );

    // A charge that belongs to no order: the incident the audit exists for.
    let platform = app.platform.as_ref().unwrap();
    let keys = platform::AuthKeys::new(&settings.auth).unwrap();
    let payment = platform
        .service(platform::ServiceName::Payment)
        .unwrap()
        .addr;
    let ghost = uuid::Uuid::now_v7().to_string();
    let charged = app
        .http
        .post(format!("http://{payment}/internal/payments"))
        .bearer_auth(keys.service_token(platform::ServiceName::Order).unwrap())
        .json(
            &json!({"orderId": ghost, "customerId": baedal::demo::subject_id("customer1"),
            "amount": 9000, "method": "card", "cardToken": "tok_visa"}),
        )
        .sent()
        .await;
    assert_eq!(charged.status(), 201);
    let audit = baedal::audit::run(settings, std::time::Duration::ZERO)
        .await
        .unwrap();
    let check = audit
        .checks
        .iter()
        .find(|c| c.name == "every charge has an order")
        .unwrap();
    assert_eq!(check.violations.len(), 1, "{:?}", check.violations);
    assert!(check.violations[0].contains(&ghost));
    app.stop().await;
}

//! `baedal audit`: reconciles what the services' databases say about money and sagas. It is an
//! operator's tool, so it reads every service's tables (which no service does): charges against
//! orders against refunds, orders against the store's copies and mypage, coupons against reviews,
//! and what is still waiting in outboxes and dead letters.
//!
//! Only rows older than `settle` count: what is younger may still be on its way.

use std::{collections::HashMap, time::Duration};

use anyhow::Context;
use platform::{Db, ServiceName, Settings, db::now_ms};
use serde::Serialize;

/// One invariant and the rows that break it.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: &'static str,
    pub meaning: &'static str,
    pub checked: usize,
    pub violations: Vec<String>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    pub checks: Vec<Check>,
    /// Outbox rows not yet published, per service.
    pub outbox_backlog: Vec<(String, i64)>,
    pub dead_letters: Option<usize>,
}

impl Audit {
    pub fn violations(&self) -> usize {
        self.checks.iter().map(|c| c.violations.len()).sum()
    }

    pub fn print(&self) {
        for check in &self.checks {
            let verdict = if check.violations.is_empty() {
                "ok".to_owned()
            } else {
                format!("{} VIOLATIONS", check.violations.len())
            };
            println!("{:<34} {:>7} checked  {verdict}", check.name, check.checked);
            println!("  {}", check.meaning);
            for violation in check.violations.iter().take(10) {
                println!("    {violation}");
            }
        }
        for (service, pending) in &self.outbox_backlog {
            println!("outbox backlog {service:<13} {pending}");
        }
        match self.dead_letters {
            Some(count) => println!("dead letters {count}"),
            None => println!("dead letters: the broker could not be read"),
        }
    }
}

struct Order {
    store_id: String,
    status: String,
    updated_at: i64,
}

/// Statuses in which the customer has no order: the charge was not approved, or was voided.
fn unplaced(status: &str) -> bool {
    matches!(
        status,
        "PaymentPending" | "PaymentDeclined" | "PaymentFailed"
    )
}

async fn open(settings: &Settings, name: ServiceName) -> anyhow::Result<Db> {
    let url = settings.database_url(name);
    Db::connect(&url, 2, crate::migrations(name))
        .await
        .with_context(|| format!("opening the {name} database"))
}

pub async fn run(settings: &Settings, settle: Duration) -> anyhow::Result<Audit> {
    // Rows written after this are still on their way; with no settle time, everything written
    // up to this millisecond is judged.
    let before = now_ms() - settle.as_millis() as i64;
    let order_db = open(settings, ServiceName::Order).await?;
    let payment_db = open(settings, ServiceName::Payment).await?;
    let store_db = open(settings, ServiceName::Store).await?;
    let customer_db = open(settings, ServiceName::Customer).await?;
    let review_db = open(settings, ServiceName::Review).await?;

    let mut orders = HashMap::new();
    let rows: Vec<(String, String, String, i64)> =
        sqlx::query_as("SELECT order_id, store_id, status, updated_at FROM orders")
            .fetch_all(order_db.pool())
            .await?;
    for (order_id, store_id, status, updated_at) in rows {
        let order = Order {
            store_id,
            status,
            updated_at,
        };
        orders.insert(order_id, order);
    }
    let payments: HashMap<String, (String, i64)> = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT order_id, status, updated_at FROM payments",
    )
    .fetch_all(payment_db.pool())
    .await?
    .into_iter()
    .map(|(order_id, status, at)| (order_id, (status, at)))
    .collect();

    let mut checks = Vec::new();

    // Money.
    let mut charged_for_nothing = Vec::new();
    let mut approved_checked = 0;
    for (order_id, (status, at)) in &payments {
        if status != "Approved" || *at > before {
            continue;
        }
        approved_checked += 1;
        match orders.get(order_id) {
            None => charged_for_nothing.push(format!("{order_id}: approved, no order at all")),
            Some(order) if unplaced(&order.status) => charged_for_nothing.push(format!(
                "{order_id}: approved, the order is {}",
                order.status
            )),
            Some(_) => {}
        }
    }
    checks.push(Check {
        name: "every charge has an order",
        meaning: "an approved payment belongs to a placed order (else it must be voided)",
        checked: approved_checked,
        violations: charged_for_nothing,
    });

    let mut unrefunded = Vec::new();
    let mut uncharged = Vec::new();
    let mut settled_checked = 0;
    for (order_id, order) in &orders {
        if order.updated_at > before {
            continue;
        }
        settled_checked += 1;
        let payment = payments.get(order_id).map(|(status, _)| status.as_str());
        if matches!(order.status.as_str(), "Rejected" | "Canceled") && payment != Some("Refunded") {
            unrefunded.push(format!(
                "{order_id}: {} but its payment is {}",
                order.status,
                payment.unwrap_or("missing")
            ));
        }
        if !unplaced(&order.status) && !matches!(payment, Some("Approved" | "Refunded")) {
            uncharged.push(format!(
                "{order_id}: {} but its payment is {}",
                order.status,
                payment.unwrap_or("missing")
            ));
        }
    }
    checks.push(Check {
        name: "every dropped order is refunded",
        meaning: "a rejected or canceled order's payment is refunded",
        checked: settled_checked,
        violations: unrefunded,
    });
    checks.push(Check {
        name: "every order is paid for",
        meaning: "a placed order has an approved (or refunded) payment",
        checked: settled_checked,
        violations: uncharged,
    });

    // The saga across services.
    let store_orders: HashMap<String, String> =
        sqlx::query_as("SELECT order_id, status FROM store_orders")
            .fetch_all(store_db.pool())
            .await?
            .into_iter()
            .collect();
    let withdrawn: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT order_id FROM withdrawn_orders")
            .fetch_all(store_db.pool())
            .await?
            .into_iter()
            .collect();
    let mypage: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT order_id FROM mypage_orders")
            .fetch_all(order_db.pool())
            .await?
            .into_iter()
            .collect();
    let mut unknown_to_store = Vec::new();
    let mut missing_from_mypage = Vec::new();
    let mut disagreeing = Vec::new();
    let mut placed_checked = 0;
    for (order_id, order) in &orders {
        if order.updated_at > before || unplaced(&order.status) {
            continue;
        }
        placed_checked += 1;
        if !mypage.contains(order_id) {
            missing_from_mypage.push(format!("{order_id}: {}", order.status));
        }
        match store_orders.get(order_id) {
            None if withdrawn.contains(order_id) => {}
            None => unknown_to_store.push(format!(
                "{order_id}: {} (store {})",
                order.status, order.store_id
            )),
            Some(store_status) => {
                // The store's word on where the order ended must be the order's.
                let agree = match store_status.as_str() {
                    "Rejected" => order.status == "Rejected",
                    "Canceled" => order.status == "Canceled",
                    _ => !matches!(order.status.as_str(), "Rejected"),
                };
                if !agree {
                    disagreeing.push(format!(
                        "{order_id}: the order is {}, the store's copy {store_status}",
                        order.status
                    ));
                }
            }
        }
    }
    checks.push(Check {
        name: "every order reached the store",
        meaning: "a placed order is in the store's orders (or was withdrawn before it arrived)",
        checked: placed_checked,
        violations: unknown_to_store,
    });
    checks.push(Check {
        name: "the store agrees on the outcome",
        meaning: "an order rejected or canceled at the store is so at the order service",
        checked: placed_checked,
        violations: disagreeing,
    });
    checks.push(Check {
        name: "every order is on mypage",
        meaning: "the customer's read model has every placed order",
        checked: placed_checked,
        violations: missing_from_mypage,
    });

    // Coupons against reviews.
    let reviews: HashMap<String, (String, Option<i64>)> =
        sqlx::query_as::<_, (String, String, Option<i64>)>(
            "SELECT review_id, customer_id, deleted_at FROM reviews WHERE created_at <= $1",
        )
        .bind(before)
        .fetch_all(review_db.pool())
        .await?
        .into_iter()
        .map(|(review_id, customer_id, deleted_at)| (review_id, (customer_id, deleted_at)))
        .collect();
    let coupons: HashMap<String, String> = sqlx::query_as("SELECT review_id, status FROM coupons")
        .fetch_all(customer_db.pool())
        .await?
        .into_iter()
        .collect();
    let mut coupon_violations = Vec::new();
    for (review_id, (customer_id, deleted_at)) in &reviews {
        let coupon = coupons.get(review_id).map(String::as_str);
        match (deleted_at, coupon) {
            (None, Some("Active")) => {}
            (Some(_), None | Some("Revoked")) => {}
            (None, other) => coupon_violations.push(format!(
                "review {review_id} of {customer_id} stands, its coupon is {}",
                other.unwrap_or("missing")
            )),
            (Some(_), Some(other)) => coupon_violations.push(format!(
                "review {review_id} of {customer_id} was deleted, its coupon is {other}"
            )),
        }
    }
    checks.push(Check {
        name: "coupons match reviews",
        meaning: "a standing review has one active coupon; a deleted one, none that is active",
        checked: reviews.len(),
        violations: coupon_violations,
    });

    // What is still on its way.
    let mut outbox_backlog = Vec::new();
    for name in ServiceName::ALL {
        let db = open(settings, name).await?;
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(db.pool())
            .await?;
        outbox_backlog.push((name.as_str().to_owned(), pending));
        db.close().await;
    }
    let dead_letters = platform::dlq::list(&settings.kafka, Duration::from_secs(2))
        .await
        .ok()
        .map(|letters| letters.len());
    for db in [order_db, payment_db, store_db, customer_db, review_db] {
        db.close().await;
    }
    Ok(Audit {
        checks,
        outbox_backlog,
        dead_letters,
    })
}

//! The order's jobs, each run every `order.deadline_sweep`:
//! - the deadlines: an order still `PaymentPending` past the payment deadline has its charge
//!   voided, and one still `Placed` past the store's deadline and a grace is canceled;
//! - the stuck-saga monitor: orders that sit in a non-terminal status longer than that stage
//!   should take, counted per stage in `/metrics` (`sagas_stuck`), listed by
//!   `GET /admin/sagas/stuck` and by `baedal sagas stuck`.

use std::{convert::Infallible, sync::Arc, time::Duration};

use contracts::{CustomerId, Event, OrderId, StoreId};
use platform::{
    Db, UnitOfWork,
    db::{Conn, now_ms},
};
use serde::Serialize;

use crate::{
    db,
    order::{Order, OrderStatus},
    settings::OrderSettings,
};

/// How long each non-terminal stage may last before its order counts as stuck, in seconds.
pub fn stage_deadlines(settings: &OrderSettings) -> Vec<(OrderStatus, u64)> {
    vec![
        // These two are settled by the order's own deadlines; still there twice as long after
        // means the settling failed.
        (
            OrderStatus::PaymentPending,
            settings.payment_deadline.as_secs() * 2,
        ),
        (OrderStatus::Placed, settings.store_deadline.as_secs() * 2),
        // The store answers a cancel request as soon as it has it.
        (OrderStatus::CancelRequested, 300),
        (OrderStatus::Accepted, 2 * 3600),
        (OrderStatus::Cooking, 2 * 3600),
        // Cooked and waiting for a rider.
        (OrderStatus::Cooked, 3600),
        (OrderStatus::Picked, 2 * 3600),
    ]
}

#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StuckStage {
    pub stage: &'static str,
    pub deadline_secs: u64,
    pub count: i64,
    /// The longest-stuck orders of the stage, at most 100.
    pub orders: Vec<StuckOrder>,
}

#[derive(Serialize, Debug, Clone, PartialEq, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StuckOrder {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub store_id: StoreId,
    /// Epoch ms of the order's last change: since when it has been in this stage.
    pub since: i64,
}

/// Every stage with the orders stuck in it, now.
pub async fn stuck(
    conn: &mut Conn,
    deadlines: &[(OrderStatus, u64)],
) -> anyhow::Result<Vec<StuckStage>> {
    let now = now_ms();
    let mut stages = Vec::with_capacity(deadlines.len());
    for (status, secs) in deadlines {
        let before = now - (*secs as i64) * 1000;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status = $1 AND updated_at < $2")
                .bind(status.as_str())
                .bind(before)
                .fetch_one(&mut *conn)
                .await?;
        let orders = sqlx::query_as(
            "SELECT order_id, customer_id, store_id, updated_at AS since FROM orders \
             WHERE status = $1 AND updated_at < $2 ORDER BY updated_at LIMIT 100",
        )
        .bind(status.as_str())
        .bind(before)
        .fetch_all(&mut *conn)
        .await?;
        stages.push(StuckStage {
            stage: status.as_str(),
            deadline_secs: *secs,
            count,
            orders,
        });
    }
    Ok(stages)
}

/// Keeps `sagas_stuck{stage}` current.
pub async fn count_stuck(db: Db, deadlines: Arc<Vec<(OrderStatus, u64)>>) -> anyhow::Result<()> {
    let mut conn = db.reader().acquire().await?;
    for stage in stuck(&mut conn, &deadlines).await? {
        metrics::gauge!("sagas_stuck", "stage" => stage.stage).set(stage.count as f64);
        if stage.count > 0 {
            tracing::warn!(
                stage = stage.stage,
                count = stage.count,
                "orders stuck past their stage's deadline"
            );
        }
    }
    Ok(())
}

/// The order's own deadlines: how long a payment may stay pending and a placed order
/// unanswered before this service settles them by itself.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    pub payment: Duration,
    pub store: Duration,
}

/// Settles the orders past their deadlines: a payment pending past its deadline lost its request
/// between the charge and the order's own commit, so the charge is voided; an order `Placed` past
/// the store's deadline and a grace never reached the store, so it is canceled (and refunded).
pub async fn settle_overdue(db: Db, work: UnitOfWork, deadlines: Deadlines) -> anyhow::Result<()> {
    let voided = settle(
        &db,
        &work,
        OrderStatus::PaymentPending,
        deadlines.payment,
        |order| order.payment_failed().ok().map(Event::from),
    )
    .await?;
    let expired = settle(&db, &work, OrderStatus::Placed, deadlines.store, |order| {
        order.expire().map(Event::from)
    })
    .await?;
    if voided + expired > 0 {
        tracing::warn!(voided, expired, "settled orders past their deadlines");
        metrics::counter!("orders_settled_by_deadline_total", "stage" => "payment")
            .increment(voided as u64);
        metrics::counter!("orders_settled_by_deadline_total", "stage" => "store")
            .increment(expired as u64);
    }
    Ok(())
}

/// Applies `decide` to every order in `status` older than `age`, each in its own unit of work; an
/// order that moved on meanwhile is left alone.
async fn settle(
    db: &Db,
    work: &UnitOfWork,
    status: OrderStatus,
    age: Duration,
    decide: impl Fn(&mut Order) -> Option<Event> + Send + Sync,
) -> anyhow::Result<usize> {
    let before = now_ms() - age.as_millis() as i64;
    let due = {
        let mut conn = db.reader().acquire().await?;
        db::orders_in_status(&mut conn, status, before, 100).await?
    };
    let mut settled = 0;
    for order_id in due {
        // Set by the attempt that was saved: a request that moved the order meanwhile wins.
        let mut moved = false;
        let order = work
            .change::<Order, Infallible>(&order_id, |order| {
                let caused = (order.status == status).then(|| decide(order)).flatten();
                moved = caused.is_some();
                Ok(caused.into())
            })
            .await?;
        if moved {
            tracing::warn!(order_id = %order.order_id, from = status.as_str(),
                to = order.status.as_str(), "order settled by its deadline");
            settled += 1;
        }
    }
    Ok(settled)
}

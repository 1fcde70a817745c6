//! The stuck-saga monitor: orders that sit in a non-terminal status longer than that stage
//! should take. Counted per stage in `/metrics` (`sagas_stuck`), listed by
//! `GET /admin/sagas/stuck` and by `baedal sagas stuck`.

use contracts::{CustomerId, OrderId, StoreId};
use std::time::Duration;

use platform::{
    Db,
    db::{Conn, now_ms},
};
use serde::Serialize;
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::domain::OrderStatus;

/// How long each non-terminal stage may last before its order counts as stuck, in seconds.
pub fn stage_deadlines(saga: &platform::config::SagaSettings) -> Vec<(OrderStatus, u64)> {
    vec![
        // These two are settled by the order's own deadlines; still there means they failed.
        (OrderStatus::PaymentPending, saga.payment_deadline_secs * 2),
        (
            OrderStatus::Placed,
            saga.acceptance_deadline_secs + saga.store_grace_secs * 2,
        ),
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

#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
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
        let rows = sqlx::query(
            "SELECT order_id, customer_id, store_id, updated_at FROM orders \
             WHERE status = $1 AND updated_at < $2 ORDER BY updated_at LIMIT 100",
        )
        .bind(status.as_str())
        .bind(before)
        .fetch_all(&mut *conn)
        .await?;
        let orders = rows
            .iter()
            .map(|row| {
                Ok(StuckOrder {
                    order_id: row.try_get("order_id")?,
                    customer_id: row.try_get("customer_id")?,
                    store_id: row.try_get("store_id")?,
                    since: row.try_get("updated_at")?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        stages.push(StuckStage {
            stage: status.as_str(),
            deadline_secs: *secs,
            count,
            orders,
        });
    }
    Ok(stages)
}

/// Keeps `sagas_stuck{stage}` current, every `interval`, until shutdown.
pub async fn monitor(
    db: Db,
    deadlines: Vec<(OrderStatus, u64)>,
    interval: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let counted = async {
            let mut conn = db.reader().acquire().await?;
            stuck(&mut conn, &deadlines).await
        };
        match counted.await {
            Ok(stages) => {
                for stage in stages {
                    metrics::gauge!("sagas_stuck", "stage" => stage.stage).set(stage.count as f64);
                    if stage.count > 0 {
                        tracing::warn!(
                            stage = stage.stage,
                            count = stage.count,
                            "orders stuck past their stage's deadline"
                        );
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "counting stuck sagas failed")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

//! The store's jobs: an order nobody answered within the acceptance deadline is rejected (and so
//! refunded), by a sweep every `store.deadline_sweep`.

use std::time::Duration;

use platform::{Db, Decision, UnitOfWork, db::now_ms};

use crate::{
    db,
    store_order::{Reason, StoreOrder, StoreOrderError, StoreOrderStatus},
};

/// Rejects the orders placed more than `deadline` ago that the owner has not answered.
pub async fn reject_overdue(db: Db, work: UnitOfWork, deadline: Duration) -> anyhow::Result<()> {
    let placed_before = now_ms() - deadline.as_millis() as i64;
    let overdue = {
        let mut conn = db.reader().acquire().await?;
        db::unanswered_orders(&mut conn, placed_before, 100).await?
    };
    let mut rejected = 0;
    for order_id in overdue {
        // Set by the attempt that was saved: an owner who answered meanwhile wins.
        let mut rejecting = false;
        work.change::<StoreOrder, StoreOrderError>(&order_id, |order| {
            rejecting = order.status == StoreOrderStatus::Placed;
            if !rejecting {
                return Ok(Decision::Unchanged);
            }
            let reason = Reason::parse("the store did not answer in time")?;
            order.reject(reason, true).map(Decision::publish)
        })
        .await?;
        if rejecting {
            rejected += 1;
        }
    }
    if rejected > 0 {
        tracing::info!(rejected, "rejected orders past the acceptance deadline");
    }
    Ok(())
}

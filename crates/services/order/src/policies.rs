//! What the order service does with events:
//! - whenever a store publishes its menu, the replica takes it (orders are priced from it);
//! - whenever the store or the delivery reports progress, the order follows (and a canceled order
//!   asks for its refund with `OrderCanceled`);
//! - whenever anything happens to an order, the customer's mypage shows it.

use contracts::Event;
use platform::{
    Tx,
    bus::{EventHandler, Incoming},
    outbox,
};

use crate::{
    db,
    domain::OrderStatus,
    views::{self, NewEntry, StepKind},
};

pub struct OrderPolicies;

impl EventHandler for OrderPolicies {
    fn handles(&self, event_type: &str) -> bool {
        matches!(
            event_type,
            "MenuPublished"
                | "OrderPlaced"
                | "OrderAccepted"
                | "OrderRejected"
                | "CookStarted"
                | "CookFinished"
                | "OrderCancelRequested"
                | "StoreOrderCanceled"
                | "CancelRefused"
                | "OrderCanceled"
                | "PaymentRefunded"
                | "DeliveryPicked"
                | "DeliveryCompleted"
                | "OrderCompleted"
        )
    }

    async fn handle(&self, tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
        match &incoming.event {
            Event::MenuPublished(menu) => return db::upsert_menu(tx, menu).await,
            Event::OrderAccepted(_)
            | Event::OrderRejected(_)
            | Event::CookStarted(_)
            | Event::CookFinished(_)
            | Event::StoreOrderCanceled(_)
            | Event::CancelRefused(_)
            | Event::DeliveryPicked(_)
            | Event::DeliveryCompleted(_) => follow(tx, &incoming.event).await?,
            _ => {}
        }
        project(tx, incoming).await
    }
}

/// The order aggregate follows an event from the store or the delivery.
async fn follow(tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
    let Some(mut order) = db::find_order(tx, event.key()).await? else {
        tracing::warn!(
            order_id = event.key(),
            event_type = event.event_type(),
            "event for an unknown order"
        );
        return Ok(());
    };
    let caused = order.apply(event);
    // A concurrent change (the customer's cancel) makes this fail; the event is then retried on
    // the new state.
    if !db::save_order(tx, &order).await? {
        anyhow::bail!("order {} changed concurrently", order.order_id);
    }
    outbox::enqueue(tx, caused).await?;
    Ok(())
}

/// The mypage read model: one step per event.
async fn project(tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
    use OrderStatus::*;
    let event = &incoming.event;
    let (kind, status, note): (StepKind, &str, Option<String>) = match event {
        Event::OrderPlaced(placed) => {
            views::open_entry(
                tx,
                NewEntry {
                    order_id: &placed.order_id,
                    customer_id: &placed.customer_id,
                    store_id: &placed.store_id,
                    store_name: &placed.store_name,
                    amount: placed.amount,
                    items: &placed.items,
                    placed_at: incoming.timestamp,
                },
            )
            .await?;
            (StepKind::Status, Placed.as_str(), None)
        }
        Event::OrderAccepted(accepted) => {
            views::set_ready_at(tx, &accepted.order_id, accepted.ready_at).await?;
            let note = format!("about {} minutes", accepted.cook_minutes);
            (StepKind::Status, Accepted.as_str(), Some(note))
        }
        Event::OrderRejected(rejected) => (
            StepKind::Status,
            Rejected.as_str(),
            Some(rejected.reason.clone()),
        ),
        Event::CookStarted(_) => (StepKind::Status, Cooking.as_str(), None),
        Event::CookFinished(_) => (StepKind::Status, Cooked.as_str(), None),
        Event::OrderCancelRequested(_) => (StepKind::Status, CancelRequested.as_str(), None),
        Event::CancelRefused(refused) => (
            StepKind::Status,
            refused.current_status.as_str(),
            Some(format!("cancel refused: {}", refused.reason)),
        ),
        Event::OrderCanceled(_) => (StepKind::Status, Canceled.as_str(), None),
        Event::DeliveryPicked(_) => (StepKind::Status, Picked.as_str(), None),
        Event::DeliveryCompleted(_) => (StepKind::Status, Delivered.as_str(), None),
        Event::OrderCompleted(_) => (StepKind::Status, Completed.as_str(), None),
        Event::PaymentRefunded(refund) => (
            StepKind::Payment,
            "Refunded",
            Some(format!("{} KRW", refund.amount)),
        ),
        _ => return Ok(()),
    };
    views::record_step(
        tx,
        event.key(),
        &incoming.event_id,
        kind,
        status,
        incoming.timestamp,
        note.as_deref(),
    )
    .await
}

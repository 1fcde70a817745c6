//! What the order service does with events:
//! - whenever a store publishes its menu, the replica takes it (orders are priced from it);
//! - whenever the store or the delivery reports progress, the order follows (and a canceled order
//!   asks for its refund with `OrderCanceled`);
//! - whenever anything happens to an order, the customer's mypage shows it.
//!
//! The deadlines (payment, store) are the order's jobs (`jobs.rs`).

use std::convert::Infallible;

use contracts::{Event, EventType};
use platform::{
    Decision, Tx, WorkError,
    bus::{EventHandler, Incoming},
    unit,
};

use crate::{
    db,
    order::{Order, OrderStatus},
    views::{self, NewEntry, PaymentStep, StepStatus},
};

pub struct OrderPolicies;

impl EventHandler for OrderPolicies {
    fn subscriptions(&self) -> &'static [EventType] {
        &[
            EventType::MenuPublished,
            EventType::OrderPlaced,
            EventType::OrderAccepted,
            EventType::OrderRejected,
            EventType::CookStarted,
            EventType::CookFinished,
            EventType::OrderCancelRequested,
            EventType::StoreOrderCanceled,
            EventType::CancelRefused,
            EventType::OrderCanceled,
            EventType::PaymentRefunded,
            EventType::DeliveryPicked,
            EventType::DeliveryCompleted,
            EventType::OrderCompleted,
        ]
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

/// The order aggregate follows an event from the store or the delivery. A concurrent change (the
/// customer's cancel) fails the event, which is then taken again on the new state.
async fn follow(tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
    let Some(order_id) = event.order_id() else {
        return Ok(());
    };
    let followed = unit::change_in::<Order, Infallible>(tx, order_id, |order| {
        Ok(Decision::changed(order.apply(event)))
    })
    .await;
    match followed {
        Ok(_) => Ok(()),
        Err(WorkError::NotFound(_)) => {
            tracing::warn!(
                %order_id,
                event_type = event.event_type(),
                "event for an unknown order"
            );
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// The mypage read model: one step per event.
async fn project(tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
    use OrderStatus::*;
    let event = &incoming.event;
    let (status, note): (StepStatus, Option<String>) = match event {
        Event::OrderPlaced(placed) => {
            let ready_at = db::find_order(tx, &placed.order_id)
                .await?
                .and_then(|order| order.ready_at);
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
                    ready_at,
                },
            )
            .await?;
            (Placed.into(), None)
        }
        Event::OrderAccepted(accepted) => {
            views::set_ready_at(tx, &accepted.order_id, accepted.ready_at).await?;
            let note = format!("about {} minutes", accepted.cook_minutes);
            (Accepted.into(), Some(note))
        }
        Event::OrderRejected(rejected) => (Rejected.into(), Some(rejected.reason.clone())),
        Event::CookStarted(_) => (Cooking.into(), None),
        Event::CookFinished(_) => (Cooked.into(), None),
        Event::OrderCancelRequested(_) => (CancelRequested.into(), None),
        Event::CancelRefused(refused) => (
            refused.current_status.into(),
            Some(format!("cancel refused: {}", refused.reason)),
        ),
        Event::OrderCanceled(canceled) => (Canceled.into(), canceled.reason.clone()),
        Event::DeliveryPicked(_) => (Picked.into(), None),
        Event::DeliveryCompleted(_) => (Delivered.into(), None),
        Event::OrderCompleted(_) => (Completed.into(), None),
        Event::PaymentRefunded(refund) => (
            StepStatus::Payment(PaymentStep::Refunded),
            Some(format!("{} KRW", refund.amount)),
        ),
        _ => return Ok(()),
    };
    let Some(order_id) = event.order_id() else {
        return Ok(());
    };
    views::record_step(
        tx,
        order_id,
        &incoming.event_id,
        status,
        incoming.timestamp,
        note.as_deref(),
    )
    .await?;
    views::show_live(tx, order_id).await
}

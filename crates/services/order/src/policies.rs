//! What the order service does with events:
//! - whenever a store publishes its menu, the replica takes it (orders are priced from it);
//! - whenever the store or the delivery reports progress, the order follows (and a canceled order
//!   asks for its refund with `OrderCanceled`);
//! - whenever anything happens to an order, the customer's mypage shows it;
//! - whenever an order stays `PaymentPending` past the payment deadline, its request died between
//!   the charge and the order's own commit: the charge is voided;
//! - whenever an order stays `Placed` past the store's deadline and a grace, the store never got
//!   it: the order is canceled, and so refunded.

use std::{convert::Infallible, time::Duration};

use contracts::{Event, EventType};
use platform::{
    Db, Decision, Tx, UnitOfWork, WorkError,
    bus::{EventHandler, Incoming},
    db::now_ms,
    unit,
};
use tokio_util::sync::CancellationToken;

use crate::{
    db,
    domain::{Order, OrderStatus},
    views::{self, NewEntry, StepKind},
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
    let (kind, status, note): (StepKind, &str, Option<String>) = match event {
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
        Event::OrderCanceled(canceled) => {
            (StepKind::Status, Canceled.as_str(), canceled.reason.clone())
        }
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
    let Some(order_id) = event.order_id() else {
        return Ok(());
    };
    views::record_step(
        tx,
        order_id,
        &incoming.event_id,
        kind,
        status,
        incoming.timestamp,
        note.as_deref(),
    )
    .await?;
    views::show_live(tx, order_id).await
}

/// The order's own deadlines: how long a payment may stay pending and a placed order
/// unanswered before this service settles them by itself.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    pub payment: Duration,
    pub store: Duration,
    pub interval: Duration,
}

/// Settles orders past their deadlines, every `interval`, until shutdown.
pub async fn deadlines(
    db: Db,
    work: UnitOfWork,
    deadlines: Deadlines,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(deadlines.interval) => {}
        }
        let swept = async {
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
            anyhow::Ok((voided, expired))
        };
        match swept.await {
            Ok((0, 0)) => {}
            Ok((voided, expired)) => {
                tracing::warn!(voided, expired, "settled orders past their deadlines");
                metrics::counter!("orders_settled_by_deadline_total", "stage" => "payment")
                    .increment(voided as u64);
                metrics::counter!("orders_settled_by_deadline_total", "stage" => "store")
                    .increment(expired as u64);
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "order deadline sweep failed")
            }
        }
    }
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

//! The store's policies:
//! - whenever an order is placed, the store receives it (scenario step 3); the order service does
//!   not wait for this, so orders are taken while the store service is down and arrive later;
//! - whenever a customer asks to cancel, the store decides: canceled until cooking starts,
//!   refused after;
//! - whenever the order service cancels an order the store never answered, the store drops it,
//!   or remembers it so that it is not taken should it arrive after all.

use std::convert::Infallible;

use contracts::{Event, EventType, OrderId};
use platform::{
    Decision, Tx, WorkError,
    bus::{EventHandler, Incoming},
    unit,
};

use crate::{
    db,
    store_order::{CancelDecision, Reason, StoreOrder, StoreOrderStatus, stale_order},
};

pub struct StorePolicies;

impl EventHandler for StorePolicies {
    fn subscriptions(&self) -> &'static [EventType] {
        &[
            EventType::OrderPlaced,
            EventType::OrderCancelRequested,
            EventType::OrderCanceled,
            // After the kitchen: so the owner follows the order to its end.
            EventType::DeliveryPicked,
            EventType::DeliveryCompleted,
            EventType::OrderCompleted,
        ]
    }

    async fn handle(&self, tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
        match &incoming.event {
            Event::OrderPlaced(placed) => {
                if db::is_withdrawn(tx, &placed.order_id).await? {
                    tracing::info!(order_id = %placed.order_id,
                        "an order canceled before it arrived is not taken");
                    return Ok(());
                }
                let order = StoreOrder {
                    order_id: placed.order_id.clone(),
                    store_id: placed.store_id.clone(),
                    customer_id: placed.customer_id.clone(),
                    status: StoreOrderStatus::Placed,
                    amount: placed.amount,
                    items: placed.items.clone(),
                    delivery_address: placed.delivery_address.clone(),
                    placed_at: incoming.timestamp,
                    cook_minutes: None,
                    ready_at: None,
                    version: 1,
                };
                if !unit::create_in(tx, &order, []).await? {
                    return Ok(()); // received before
                }
                // The order service priced it from its replica of the menu, which lags: an order
                // priced after a pause, a sold-out mark or a price change is rejected (and so
                // refunded) rather than cooked at the old state.
                let priced_at = match placed.priced_at {
                    0 => incoming.timestamp,
                    at => at,
                };
                let stale = match placed.menu_revision {
                    0 => None,
                    revision => db::menu_at(tx, &placed.store_id, priced_at)
                        .await?
                        .and_then(|menu| stale_order(&menu, revision, &placed.items)),
                };
                if let Some(why) = stale {
                    tracing::info!(order_id = %placed.order_id, reason = %why,
                        "rejecting an order priced at a stale menu");
                    unit::change_in::<StoreOrder, _>(tx, &placed.order_id, |order| {
                        let reason = Reason::parse(&format!("the menu had changed: {why}"))?;
                        order.reject(reason, true).map(Decision::publish)
                    })
                    .await?;
                }
                Ok(())
            }
            Event::OrderCancelRequested(request) => {
                let result =
                    unit::change_in::<StoreOrder, Infallible>(tx, &request.order_id, |order| {
                        Ok(match order.request_cancel() {
                            CancelDecision::Canceled(event) => Decision::publish(event),
                            CancelDecision::Refused(event) => Decision::publish(event),
                            CancelDecision::AlreadyCanceled => Decision::Unchanged,
                        })
                    })
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    // The request overtook its order (impossible on one partition, but cheap to
                    // survive): retried, then dead-lettered for an operator.
                    Err(WorkError::NotFound(_)) => {
                        anyhow::bail!("cancel request for unknown order {}", request.order_id)
                    }
                    Err(error) => Err(error.into()),
                }
            }
            Event::OrderCanceled(canceled) => {
                let result =
                    unit::change_in::<StoreOrder, Infallible>(tx, &canceled.order_id, |order| {
                        // Canceled on the customer's request: the store decided that already.
                        if order.status == StoreOrderStatus::Canceled {
                            return Ok(Decision::Unchanged);
                        }
                        if !order.withdraw() {
                            tracing::warn!(order_id = %order.order_id,
                                status = order.status.as_str(),
                                "the order service canceled an order the store is cooking");
                            return Ok(Decision::Unchanged);
                        }
                        Ok(Decision::quiet())
                    })
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(WorkError::NotFound(_)) => {
                        db::withdraw(tx, &canceled.order_id).await.map(drop)
                    }
                    Err(error) => Err(error.into()),
                }
            }
            Event::DeliveryPicked(picked) => {
                follow(tx, &picked.order_id, StoreOrderStatus::Picked).await
            }
            Event::DeliveryCompleted(delivered) => {
                follow(tx, &delivered.order_id, StoreOrderStatus::Delivered).await
            }
            Event::OrderCompleted(completed) => {
                follow(tx, &completed.order_id, StoreOrderStatus::Completed).await
            }
            _ => Ok(()),
        }
    }
}

/// Moves a cooked order on to `step` (its live view goes with the save).
async fn follow(tx: &mut Tx, order_id: &OrderId, step: StoreOrderStatus) -> anyhow::Result<()> {
    let result = unit::change_in::<StoreOrder, Infallible>(tx, order_id, |order| {
        Ok(if order.follow(step) {
            Decision::quiet()
        } else {
            Decision::Unchanged
        })
    })
    .await;
    match result {
        Ok(_) => Ok(()),
        // Only the store's own cooked orders get a delivery: an unknown one is not ours to follow.
        Err(WorkError::NotFound(_)) => {
            tracing::warn!(%order_id, step = step.as_str(), "a step of an order the store never had");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

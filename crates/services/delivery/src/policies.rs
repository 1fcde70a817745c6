//! Whenever cooking finishes, a delivery opens for riders near the store (scenario step 7);
//! whenever an order is canceled, its delivery closes, or never opens: the two events come from
//! different topics and may arrive in either order.

use std::convert::Infallible;

use contracts::{DeliveryId, Event, EventType};
use platform::{
    Tx,
    bus::{EventHandler, Incoming},
    unit,
};

use crate::{
    db,
    delivery::{Delivery, DeliveryStatus},
};

pub struct DeliveryPolicies;

impl EventHandler for DeliveryPolicies {
    fn subscriptions(&self) -> &'static [EventType] {
        &[EventType::CookFinished, EventType::OrderCanceled]
    }

    async fn handle(&self, tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
        match &incoming.event {
            Event::CookFinished(cooked) => {
                if db::was_canceled(tx, &cooked.order_id).await? {
                    tracing::info!(order_id = %cooked.order_id,
                        "no delivery for an order canceled before its food was cooked");
                    return Ok(());
                }
                let delivery = Delivery {
                    delivery_id: DeliveryId::generate(),
                    order_id: cooked.order_id.clone(),
                    customer_id: cooked.customer_id.clone(),
                    store_id: cooked.store_id.clone(),
                    store_name: cooked.store_name.clone(),
                    pickup: cooked.store_location,
                    dropoff: cooked.delivery_address.clone(),
                    status: DeliveryStatus::Waiting,
                    rider_id: None,
                    version: 1,
                };
                unit::create_in(tx, &delivery, []).await?;
            }
            Event::OrderCanceled(canceled) => {
                db::mark_canceled(tx, &canceled.order_id, incoming.timestamp).await?;
                if let Some(delivery_id) = db::delivery_of(tx, &canceled.order_id).await? {
                    unit::change_in::<Delivery, Infallible>(tx, &delivery_id, |delivery| {
                        Ok(delivery.cancel().into())
                    })
                    .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

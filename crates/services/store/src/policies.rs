//! Whenever an order is placed, the store receives it (scenario step 3). The order service does
//! not wait for this: orders are taken while the store service is down and arrive when it is back.

use contracts::Event;
use platform::{
    Tx,
    bus::{EventHandler, Incoming},
};

use crate::db::{self, NewStoreOrder};

pub struct StorePolicies;

impl EventHandler for StorePolicies {
    fn handles(&self, event_type: &str) -> bool {
        event_type == "OrderPlaced"
    }

    async fn handle(&self, tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
        if let Event::OrderPlaced(placed) = &incoming.event {
            db::insert_store_order(
                tx,
                NewStoreOrder {
                    order_id: &placed.order_id,
                    store_id: &placed.store_id,
                    customer_id: &placed.customer_id,
                    amount: placed.amount,
                    items: serde_json::to_string(&placed.items)?,
                    delivery_address: serde_json::to_string(&placed.delivery_address)?,
                    placed_at: incoming.timestamp,
                },
            )
            .await?;
        }
        Ok(())
    }
}

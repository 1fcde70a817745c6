//! What the order service does with events: keeps its menu replica in step with the stores, and
//! projects its own orders' events into the customer's mypage.

use contracts::Event;
use platform::{
    Tx,
    bus::{EventHandler, Incoming},
};

use crate::{
    db,
    domain::OrderStatus,
    views::{self, NewEntry},
};

pub struct OrderPolicies;

impl EventHandler for OrderPolicies {
    fn handles(&self, event_type: &str) -> bool {
        matches!(event_type, "MenuPublished" | "OrderPlaced")
    }

    async fn handle(&self, tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
        match &incoming.event {
            // Whenever a store publishes its menu, the replica takes it.
            Event::MenuPublished(menu) => db::upsert_menu(tx, menu).await,
            // Whenever an order is placed, the customer's mypage shows it.
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
                    OrderStatus::Placed.as_str(),
                )
                .await
            }
            _ => Ok(()),
        }
    }
}

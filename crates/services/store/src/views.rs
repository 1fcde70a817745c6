//! Read models of the store service: the owner's list of received orders.

use contracts::{CustomerId, DeliveryAddress, FoodId, Krw, OrderId, OrderLine, StoreId};
use platform::{
    db::{Conn, Tx},
    live,
};
use serde::Serialize;

use crate::{
    db::{STORE_ORDER_COLUMNS, StoreOrderRow},
    store_order::{StoreOrder, StoreOrderStatus},
};

#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreOrderView {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub status: StoreOrderStatus,
    pub amount: Krw,
    pub items: Vec<OrderLine>,
    pub delivery_address: DeliveryAddress,
    pub placed_at: i64,
}

impl From<&StoreOrder> for StoreOrderView {
    fn from(order: &StoreOrder) -> Self {
        Self {
            order_id: order.order_id.clone(),
            customer_id: order.customer_id.clone(),
            status: order.status,
            amount: order.amount,
            items: order.items.clone(),
            delivery_address: order.delivery_address.clone(),
            placed_at: order.placed_at,
        }
    }
}

/// The live stream of a store's orders (`GET /stores/{storeId}/orders/events`): each order as it
/// arrives and each time it changes.
pub const LIVE_FEED: &str = "store-orders";

/// Shows the order, as it now is, on its store's live stream.
pub async fn show_live(tx: &mut Tx, order: &StoreOrder) -> anyhow::Result<()> {
    let view = StoreOrderView::from(order);
    live::record(tx, LIVE_FEED, order.store_id.as_str(), "order", &view).await?;
    Ok(())
}

/// A store's orders, oldest first (the order the kitchen works in), optionally of one status.
/// Which way a store's order list runs, and where a page starts: after the order it names
/// (`placedAt:orderId`, the last of the previous page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    OldestFirst,
    NewestFirst,
}

pub async fn store_orders(
    conn: &mut Conn,
    store_id: &StoreId,
    status: Option<&str>,
    listing: Listing,
    after: Option<(i64, &str)>,
    limit: i64,
) -> anyhow::Result<Vec<StoreOrderView>> {
    // Keyset paging on (placed_at, order_id): a page costs the same however deep it is, and an
    // order arriving meanwhile neither repeats nor hides one.
    let page = match listing {
        Listing::OldestFirst => {
            "FROM store_orders WHERE store_id = $1 AND ($2 = '' OR status = $2) \
             AND (placed_at > $3 OR (placed_at = $3 AND order_id > $4)) \
             ORDER BY placed_at, order_id LIMIT $5"
        }
        Listing::NewestFirst => {
            "FROM store_orders WHERE store_id = $1 AND ($2 = '' OR status = $2) \
             AND (placed_at < $3 OR (placed_at = $3 AND order_id < $4)) \
             ORDER BY placed_at DESC, order_id DESC LIMIT $5"
        }
    };
    let (at, id) = after.unwrap_or(match listing {
        Listing::OldestFirst => (i64::MIN, ""),
        Listing::NewestFirst => (i64::MAX, ""),
    });
    let rows: Vec<StoreOrderRow> = sqlx::query_as(&format!("SELECT {STORE_ORDER_COLUMNS} {page}"))
        .bind(store_id)
        .bind(status.unwrap_or(""))
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter()
        .map(|row| Ok(StoreOrderView::from(&StoreOrder::try_from(row)?)))
        .collect()
}

/// Adds (`delta` = 1) or takes back (`delta` = -1) one order in the food counts.
pub async fn count_order(
    conn: &mut Conn,
    store_id: &StoreId,
    items: &[OrderLine],
    delta: i64,
) -> anyhow::Result<()> {
    for item in items {
        sqlx::query(
            "INSERT INTO food_counts (store_id, food_id, name, orders, quantity) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (store_id, food_id) DO UPDATE SET \
             name = excluded.name, orders = food_counts.orders + excluded.orders, \
             quantity = food_counts.quantity + excluded.quantity",
        )
        .bind(store_id)
        .bind(&item.food_id)
        .bind(&item.name)
        .bind(delta)
        .bind(delta * item.quantity)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[derive(Serialize, Debug, Clone, PartialEq, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FoodCount {
    pub food_id: FoodId,
    pub name: String,
    /// Live orders (not rejected or canceled) that contain this food.
    pub orders: i64,
    /// Units of it in those orders.
    pub quantity: i64,
}

/// The seeds' count view: orders per food item, most ordered first.
pub async fn food_counts(conn: &mut Conn, store_id: &StoreId) -> anyhow::Result<Vec<FoodCount>> {
    let counts = sqlx::query_as(
        "SELECT food_id, name, orders, quantity FROM food_counts WHERE store_id = $1 \
         ORDER BY orders DESC, food_id",
    )
    .bind(store_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(counts)
}

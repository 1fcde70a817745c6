//! The order service's queries: the order aggregate and the menu replica.

use contracts::{
    CustomerId, Event, GeoPoint, Krw, MenuPublished, OrderId, OwnerId, PaymentId, StoreId,
};
use platform::{
    Aggregate, Tx,
    db::{Conn, inserted},
};

use crate::order::{Order, OrderStatus, RequestKey};

impl Aggregate for Order {
    type Id = OrderId;
    const NOT_FOUND: (&'static str, &'static str) =
        ("order-not-found", "there is no such order of yours");

    async fn load(tx: &mut Tx, id: &OrderId) -> anyhow::Result<Option<Self>> {
        find_order(tx, id).await
    }

    /// False also when the customer's `Idempotency-Key` already has an order.
    async fn insert(&self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        Ok(inserted(insert_order(tx, self).await)?)
    }

    async fn save(&mut self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        let saved = save_order(tx, self).await?;
        if saved {
            self.version += 1;
        }
        Ok(saved)
    }
}

/// Stores a copy of a store's menu unless a newer revision is already here (events of one store
/// arrive in order, but a replayed dead letter may not).
pub async fn upsert_menu(conn: &mut Conn, menu: &MenuPublished) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO menu_replica (store_id, owner_id, name, lat, lng, is_open, foods, revision) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (store_id) DO UPDATE SET owner_id = excluded.owner_id, \
         name = excluded.name, lat = excluded.lat, lng = excluded.lng, \
         is_open = excluded.is_open, foods = excluded.foods, revision = excluded.revision \
         WHERE menu_replica.revision < excluded.revision",
    )
    .bind(&menu.store_id)
    .bind(&menu.owner_id)
    .bind(&menu.name)
    .bind(menu.location.lat())
    .bind(menu.location.lng())
    .bind(i64::from(menu.open))
    .bind(serde_json::to_string(&menu.foods)?)
    .bind(menu.revision)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn find_menu(
    conn: &mut Conn,
    store_id: &StoreId,
) -> anyhow::Result<Option<MenuPublished>> {
    let row: Option<MenuRow> = sqlx::query_as(
        "SELECT store_id, owner_id, name, lat, lng, is_open, foods, revision \
         FROM menu_replica WHERE store_id = $1",
    )
    .bind(store_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(MenuPublished::try_from).transpose()
}

/// A `menu_replica` row: the place as its coordinates, open as 0 or 1, the foods as JSON.
#[derive(sqlx::FromRow)]
struct MenuRow {
    store_id: StoreId,
    owner_id: OwnerId,
    name: String,
    #[sqlx(flatten)]
    location: GeoPoint,
    #[sqlx(rename = "is_open")]
    open: i64,
    foods: String,
    revision: i64,
}

impl TryFrom<MenuRow> for MenuPublished {
    type Error = anyhow::Error;

    fn try_from(row: MenuRow) -> anyhow::Result<Self> {
        Ok(MenuPublished {
            location: row.location,
            open: row.open != 0,
            foods: serde_json::from_str(&row.foods)?,
            store_id: row.store_id,
            owner_id: row.owner_id,
            name: row.name,
            revision: row.revision,
        })
    }
}

/// Inserts a new order. A unique violation means the customer's `Idempotency-Key` already has
/// an order (see [`find_by_request`]).
pub async fn insert_order(conn: &mut Conn, order: &Order) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO orders (order_id, customer_id, store_id, store_name, status, amount, items, \
         delivery_address, payment_id, placed_at, updated_at, version, menu_revision, \
         idempotency_key, request_fingerprint) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14)",
    )
    .bind(&order.order_id)
    .bind(&order.customer_id)
    .bind(&order.store_id)
    .bind(&order.store_name)
    .bind(order.status.as_str())
    .bind(order.amount)
    .bind(json(&order.items)?)
    .bind(json(&order.delivery_address)?)
    .bind(payment_column(order))
    .bind(order.placed_at)
    .bind(order.version)
    .bind(order.menu_revision)
    .bind(order.request.as_ref().map(|r| r.key.as_str()))
    .bind(order.request.as_ref().map(|r| r.fingerprint.as_str()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The column is `''` until the charge is approved.
fn payment_column(order: &Order) -> &str {
    order.payment_id.as_ref().map_or("", PaymentId::as_str)
}

fn json(value: &impl serde::Serialize) -> sqlx::Result<String> {
    serde_json::to_string(value).map_err(|error| sqlx::Error::Encode(Box::new(error)))
}

const ORDER_COLUMNS: &str = "order_id, customer_id, store_id, store_name, status, amount, items, \
     delivery_address, payment_id, placed_at, resume_status, ready_at, cancel_refusal, version, \
     menu_revision, idempotency_key, request_fingerprint";

pub async fn find_order(conn: &mut Conn, order_id: &OrderId) -> anyhow::Result<Option<Order>> {
    let row: Option<OrderRow> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Order::try_from).transpose()
}

/// The order a customer's `Idempotency-Key` names.
pub async fn find_by_request(
    conn: &mut Conn,
    customer_id: &CustomerId,
    key: &str,
) -> anyhow::Result<Option<Order>> {
    let row: Option<OrderRow> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $1 AND idempotency_key = $2"
    ))
    .bind(customer_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Order::try_from).transpose()
}

/// An `orders` row as it is stored: statuses as their names, lines and address as JSON, the
/// payment as `''` until the charge, and the customer's key and fingerprint side by side.
#[derive(sqlx::FromRow)]
struct OrderRow {
    order_id: OrderId,
    customer_id: CustomerId,
    store_id: StoreId,
    store_name: String,
    #[sqlx(try_from = "String")]
    status: OrderStatus,
    amount: Krw,
    items: String,
    delivery_address: String,
    payment_id: String,
    placed_at: i64,
    resume_status: Option<String>,
    ready_at: Option<i64>,
    cancel_refusal: Option<String>,
    version: i64,
    menu_revision: i64,
    idempotency_key: Option<String>,
    request_fingerprint: Option<String>,
}

impl TryFrom<OrderRow> for Order {
    type Error = anyhow::Error;

    fn try_from(row: OrderRow) -> anyhow::Result<Self> {
        Ok(Order {
            status: row.status,
            resume_status: row.resume_status.map(OrderStatus::try_from).transpose()?,
            items: serde_json::from_str(&row.items)?,
            delivery_address: serde_json::from_str(&row.delivery_address)?,
            payment_id: (!row.payment_id.is_empty()).then(|| row.payment_id.into()),
            request: match (row.idempotency_key, row.request_fingerprint) {
                (Some(key), Some(fingerprint)) => Some(RequestKey { key, fingerprint }),
                _ => None,
            },
            order_id: row.order_id,
            customer_id: row.customer_id,
            store_id: row.store_id,
            store_name: row.store_name,
            amount: row.amount,
            placed_at: row.placed_at,
            ready_at: row.ready_at,
            cancel_refusal: row.cancel_refusal,
            menu_revision: row.menu_revision,
            version: row.version,
        })
    }
}

/// Saves a changed order over the version it was read at; false when another change won.
pub async fn save_order(conn: &mut Conn, order: &Order) -> anyhow::Result<bool> {
    let update = sqlx::query(
        "UPDATE orders SET status = $1, resume_status = $2, ready_at = $3, cancel_refusal = $4, \
         updated_at = $5, version = version + 1, payment_id = $6, idempotency_key = $7, \
         request_fingerprint = $8 WHERE order_id = $9 AND version = $10",
    )
    .bind(order.status.as_str())
    .bind(order.resume_status.map(|s| s.as_str()))
    .bind(order.ready_at)
    .bind(order.cancel_refusal.as_deref())
    .bind(platform::db::now_ms())
    .bind(payment_column(order))
    .bind(order.request.as_ref().map(|r| r.key.as_str()))
    .bind(order.request.as_ref().map(|r| r.fingerprint.as_str()));
    let key = order.order_id.as_str();
    Ok(platform::db::save_over_version(conn, update, key, order.version).await?)
}

/// Ids of orders in `status` recorded before `before` (epoch ms), oldest first.
pub async fn orders_in_status(
    conn: &mut Conn,
    status: OrderStatus,
    before: i64,
    limit: i64,
) -> anyhow::Result<Vec<OrderId>> {
    Ok(sqlx::query_scalar(
        "SELECT order_id FROM orders WHERE status = $1 AND placed_at < $2 \
         ORDER BY placed_at LIMIT $3",
    )
    .bind(status.as_str())
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// How many orders are in each of `statuses` since before `before` (epoch ms).
pub async fn count_in_status(
    conn: &mut Conn,
    status: OrderStatus,
    before: i64,
) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status = $1 AND placed_at < $2")
            .bind(status.as_str())
            .bind(before)
            .fetch_one(&mut *conn)
            .await?,
    )
}

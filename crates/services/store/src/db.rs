//! The store service's queries (portable SQL; see platform::db).

use contracts::{Event, FoodId, GeoPoint, OrderId, OwnerId, StoreId};
use platform::{
    Aggregate, Tx,
    db::{Conn, inserted, now_ms, save_over_version},
};
use sqlx::FromRow;

use crate::{
    store::{Food, Store},
    store_order::{StoreOrder, StoreOrderStatus},
    views,
};

impl Aggregate for Store {
    type Id = StoreId;
    const NOT_FOUND: (&'static str, &'static str) = ("store-not-found", "there is no such store");

    async fn load(tx: &mut Tx, id: &StoreId) -> anyhow::Result<Option<Self>> {
        Ok(find_store(tx, id).await?)
    }

    async fn insert(&self, tx: &mut Tx, caused: &[Event]) -> anyhow::Result<bool> {
        if !inserted(insert_store(tx, self).await)? {
            return Ok(false);
        }
        record_menus(tx, caused).await?;
        Ok(true)
    }

    /// Every change moves the revision on by one, so the revision read is the one before.
    async fn save(&mut self, tx: &mut Tx, caused: &[Event]) -> anyhow::Result<bool> {
        if !update_store(tx, self, self.revision - 1).await? {
            return Ok(false);
        }
        record_menus(tx, caused).await?;
        Ok(true)
    }
}

impl Aggregate for StoreOrder {
    type Id = OrderId;
    const NOT_FOUND: (&'static str, &'static str) =
        ("order-not-found", "this store has no such order");

    async fn load(tx: &mut Tx, id: &OrderId) -> anyhow::Result<Option<Self>> {
        find_store_order(tx, id).await
    }

    /// A received order counts in its store's food counts.
    async fn insert(&self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        if !insert_store_order(tx, self).await? {
            return Ok(false);
        }
        views::count_order(tx, &self.store_id, &self.items, 1).await?;
        views::show_live(tx, self).await?;
        Ok(true)
    }

    /// An order rejected or canceled leaves the food counts.
    async fn save(&mut self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        let Some(before) = status_at(tx, &self.order_id, self.version).await? else {
            return Ok(false);
        };
        if !save_store_order(tx, self).await? {
            return Ok(false);
        }
        self.version += 1;
        if before.counts() && !self.counts() {
            views::count_order(tx, &self.store_id, &self.items, -1).await?;
        }
        views::show_live(tx, self).await?;
        Ok(true)
    }
}

/// Keeps each menu a change published, for judging orders priced at it.
async fn record_menus(tx: &mut Tx, caused: &[Event]) -> anyhow::Result<()> {
    for event in caused {
        if let Event::MenuPublished(menu) = event {
            record_menu(tx, menu, now_ms()).await?;
        }
    }
    Ok(())
}

/// The status of an order while it is still at `version`.
async fn status_at(
    conn: &mut Conn,
    order_id: &OrderId,
    version: i64,
) -> anyhow::Result<Option<StoreOrderStatus>> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM store_orders WHERE order_id = $1 AND version = $2")
            .bind(order_id)
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
    status
        .map(|s| {
            StoreOrderStatus::parse(&s)
                .ok_or_else(|| anyhow::anyhow!("unknown store order status {s}"))
        })
        .transpose()
}

#[derive(FromRow)]
struct StoreRow {
    store_id: StoreId,
    owner_id: OwnerId,
    name: String,
    #[sqlx(flatten)]
    location: GeoPoint,
    is_open: i64,
    revision: i64,
}

impl StoreRow {
    fn into_store(self, foods: Vec<Food>) -> Store {
        Store {
            store_id: self.store_id,
            owner_id: self.owner_id,
            name: self.name,
            location: self.location,
            open: self.is_open != 0,
            foods,
            revision: self.revision,
        }
    }
}

/// A `foods` row: sold out as 0 or 1.
#[derive(FromRow)]
struct FoodRow {
    food_id: FoodId,
    name: String,
    price: contracts::Krw,
    sold_out: i64,
}

impl From<FoodRow> for Food {
    fn from(row: FoodRow) -> Self {
        Food {
            food_id: row.food_id,
            name: row.name,
            price: row.price,
            sold_out: row.sold_out != 0,
        }
    }
}

const STORE_COLUMNS: &str = "store_id, owner_id, name, lat, lng, is_open, revision";

pub async fn list_stores(conn: &mut Conn) -> sqlx::Result<Vec<Store>> {
    let rows: Vec<StoreRow> = sqlx::query_as(&format!(
        "SELECT {STORE_COLUMNS} FROM stores ORDER BY created_at, store_id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.into_store(Vec::new())).collect())
}

pub async fn find_store(conn: &mut Conn, store_id: &StoreId) -> sqlx::Result<Option<Store>> {
    let row: Option<StoreRow> = sqlx::query_as(&format!(
        "SELECT {STORE_COLUMNS} FROM stores WHERE store_id = $1"
    ))
    .bind(store_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let foods: Vec<FoodRow> = sqlx::query_as(
        "SELECT food_id, name, price, sold_out FROM foods WHERE store_id = $1 ORDER BY position",
    )
    .bind(store_id)
    .fetch_all(&mut *conn)
    .await?;
    let foods = foods.into_iter().map(Food::from).collect();
    Ok(Some(row.into_store(foods)))
}

pub async fn insert_store(conn: &mut Conn, store: &Store) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO stores (store_id, owner_id, name, lat, lng, is_open, revision, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&store.store_id)
    .bind(&store.owner_id)
    .bind(&store.name)
    .bind(store.location.lat())
    .bind(store.location.lng())
    .bind(i64::from(store.open))
    .bind(store.revision)
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .map(drop)
}

/// Saves a changed store if nobody changed it since it was read (`revision - 1`). False means a
/// concurrent change won; the caller reports a conflict.
pub async fn update_store(
    conn: &mut Conn,
    store: &Store,
    read_revision: i64,
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE stores SET name = $1, is_open = $2, revision = $3 \
         WHERE store_id = $4 AND revision = $5",
    )
    .bind(&store.name)
    .bind(i64::from(store.open))
    .bind(store.revision)
    .bind(&store.store_id)
    .bind(read_revision)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM foods WHERE store_id = $1")
        .bind(&store.store_id)
        .execute(&mut *conn)
        .await?;
    for (position, food) in store.foods.iter().enumerate() {
        sqlx::query(
            "INSERT INTO foods (store_id, food_id, position, name, price, sold_out) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&store.store_id)
        .bind(&food.food_id)
        .bind(position as i64)
        .bind(&food.name)
        .bind(food.price)
        .bind(i64::from(food.sold_out))
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Records an order the store received. False when it was already here.
pub async fn insert_store_order(conn: &mut Conn, order: &StoreOrder) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO store_orders (order_id, store_id, customer_id, status, amount, items, \
         delivery_address, placed_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(&order.order_id)
    .bind(&order.store_id)
    .bind(&order.customer_id)
    .bind(order.status.as_str())
    .bind(order.amount)
    .bind(serde_json::to_string(&order.items)?)
    .bind(serde_json::to_string(&order.delivery_address)?)
    .bind(order.placed_at)
    .bind(order.version)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn find_store_order(
    conn: &mut Conn,
    order_id: &OrderId,
) -> anyhow::Result<Option<StoreOrder>> {
    let row: Option<StoreOrderRow> = sqlx::query_as(&format!(
        "SELECT {STORE_ORDER_COLUMNS} FROM store_orders WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(StoreOrder::try_from).transpose()
}

/// Saves a changed order over the version it was read at. False when someone else changed it
/// first (a cancel racing a cook-start): the caller reloads and decides again.
pub(crate) const STORE_ORDER_COLUMNS: &str = "order_id, store_id, customer_id, status, amount, \
     items, delivery_address, placed_at, cook_minutes, ready_at, version";

/// A `store_orders` row: the status by its name, lines and address as JSON.
#[derive(FromRow)]
pub(crate) struct StoreOrderRow {
    order_id: OrderId,
    store_id: StoreId,
    customer_id: contracts::CustomerId,
    #[sqlx(try_from = "String")]
    status: StoreOrderStatus,
    amount: contracts::Krw,
    items: String,
    delivery_address: String,
    placed_at: i64,
    cook_minutes: Option<i64>,
    ready_at: Option<i64>,
    version: i64,
}

impl TryFrom<StoreOrderRow> for StoreOrder {
    type Error = anyhow::Error;

    fn try_from(row: StoreOrderRow) -> anyhow::Result<Self> {
        Ok(StoreOrder {
            status: row.status,
            items: serde_json::from_str(&row.items)?,
            delivery_address: serde_json::from_str(&row.delivery_address)?,
            order_id: row.order_id,
            store_id: row.store_id,
            customer_id: row.customer_id,
            amount: row.amount,
            placed_at: row.placed_at,
            cook_minutes: row.cook_minutes,
            ready_at: row.ready_at,
            version: row.version,
        })
    }
}

pub async fn save_store_order(conn: &mut Conn, order: &StoreOrder) -> anyhow::Result<bool> {
    let update = sqlx::query(
        "UPDATE store_orders SET status = $1, cook_minutes = $2, ready_at = $3, updated_at = $4, \
         version = version + 1 WHERE order_id = $5 AND version = $6",
    )
    .bind(order.status.as_str())
    .bind(order.cook_minutes)
    .bind(order.ready_at)
    .bind(now_ms());
    let key = order.order_id.as_str();
    Ok(save_over_version(conn, update, key, order.version).await?)
}

/// Orders nobody answered that were placed before `placed_before`.
pub async fn unanswered_orders(
    conn: &mut Conn,
    placed_before: i64,
    limit: i64,
) -> anyhow::Result<Vec<OrderId>> {
    let ids = sqlx::query_scalar(
        "SELECT order_id FROM store_orders WHERE status = $1 AND placed_at < $2 \
         ORDER BY placed_at LIMIT $3",
    )
    .bind(StoreOrderStatus::Placed.as_str())
    .bind(placed_before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids)
}

/// Keeps a published revision of a store's menu, for checking orders priced at it.
pub async fn record_menu(
    conn: &mut Conn,
    menu: &contracts::MenuPublished,
    published_at: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO menu_history (store_id, revision, published_at, menu) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (store_id, revision) DO NOTHING",
    )
    .bind(&menu.store_id)
    .bind(menu.revision)
    .bind(published_at)
    .bind(serde_json::to_string(menu)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The store's menu as it was at `at` (epoch ms): the last revision published by then.
pub async fn menu_at(
    conn: &mut Conn,
    store_id: &StoreId,
    at: i64,
) -> anyhow::Result<Option<contracts::MenuPublished>> {
    let menu: Option<String> = sqlx::query_scalar(
        "SELECT menu FROM menu_history WHERE store_id = $1 AND published_at <= $2 \
         ORDER BY revision DESC LIMIT 1",
    )
    .bind(store_id)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(menu.as_deref().map(serde_json::from_str).transpose()?)
}

/// Remembers an order canceled before the store received it; false when it was already.
pub async fn withdraw(conn: &mut Conn, order_id: &OrderId) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO withdrawn_orders (order_id, withdrawn_at) VALUES ($1, $2) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn is_withdrawn(conn: &mut Conn, order_id: &OrderId) -> anyhow::Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT withdrawn_at FROM withdrawn_orders WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(found.is_some())
}

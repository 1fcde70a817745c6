//! The store service's queries (portable SQL; see platform::db).

use contracts::GeoPoint;
use platform::db::{Conn, now_ms};
use sqlx::{FromRow, Row};

use crate::domain::{Food, Store, StoreOrderStatus};

#[derive(FromRow)]
struct StoreRow {
    store_id: String,
    owner_id: String,
    name: String,
    lat: f64,
    lng: f64,
    is_open: i64,
    revision: i64,
}

impl StoreRow {
    fn into_store(self, foods: Vec<Food>) -> Store {
        Store {
            store_id: self.store_id,
            owner_id: self.owner_id,
            name: self.name,
            location: GeoPoint {
                lat: self.lat,
                lng: self.lng,
            },
            open: self.is_open != 0,
            foods,
            revision: self.revision,
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

pub async fn find_store(conn: &mut Conn, store_id: &str) -> sqlx::Result<Option<Store>> {
    let row: Option<StoreRow> = sqlx::query_as(&format!(
        "SELECT {STORE_COLUMNS} FROM stores WHERE store_id = $1"
    ))
    .bind(store_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let foods = sqlx::query(
        "SELECT food_id, name, price, sold_out FROM foods WHERE store_id = $1 ORDER BY position",
    )
    .bind(store_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Food {
            food_id: r.try_get("food_id")?,
            name: r.try_get("name")?,
            price: r.try_get("price")?,
            sold_out: r.try_get::<i64, _>("sold_out")? != 0,
        })
    })
    .collect::<sqlx::Result<_>>()?;
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
    .bind(store.location.lat)
    .bind(store.location.lng)
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

pub struct NewStoreOrder<'a> {
    pub order_id: &'a str,
    pub store_id: &'a str,
    pub customer_id: &'a str,
    pub amount: i64,
    pub items: String,
    pub delivery_address: String,
    pub placed_at: i64,
}

/// Records an order the store received; a second copy of the same order changes nothing.
pub async fn insert_store_order(conn: &mut Conn, order: NewStoreOrder<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO store_orders (order_id, store_id, customer_id, status, amount, items, \
         delivery_address, placed_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 1) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order.order_id)
    .bind(order.store_id)
    .bind(order.customer_id)
    .bind(StoreOrderStatus::Placed.as_str())
    .bind(order.amount)
    .bind(order.items)
    .bind(order.delivery_address)
    .bind(order.placed_at)
    .execute(&mut *conn)
    .await
    .map(drop)
}

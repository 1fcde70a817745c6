//! The customer's "mypage" read model (CQRS): each order's status, store, items, amount and a
//! timeline of its steps, built only from events, so it answers while the write side is busy and
//! stays correct under redelivery (inbox) and late events (status moves only forward in time).

use contracts::OrderLine;
use platform::db::Conn;
use serde::Serialize;
use sqlx::Row;

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub status: String,
    pub at: i64,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct MypageOrder {
    pub order_id: String,
    pub store_id: String,
    pub store_name: String,
    pub status: String,
    pub amount: i64,
    pub items: Vec<OrderLine>,
    pub placed_at: i64,
    pub timeline: Vec<Step>,
}

pub struct NewEntry<'a> {
    pub order_id: &'a str,
    pub customer_id: &'a str,
    pub store_id: &'a str,
    pub store_name: &'a str,
    pub amount: i64,
    pub items: &'a [OrderLine],
    pub placed_at: i64,
}

/// Starts an order's entry (from `OrderPlaced`).
pub async fn open_entry(conn: &mut Conn, entry: NewEntry<'_>, status: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO mypage_orders (order_id, customer_id, store_id, store_name, status, amount, \
         items, placed_at, status_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(entry.order_id)
    .bind(entry.customer_id)
    .bind(entry.store_id)
    .bind(entry.store_name)
    .bind(status)
    .bind(entry.amount)
    .bind(serde_json::to_string(entry.items)?)
    .bind(entry.placed_at)
    .execute(&mut *conn)
    .await?;
    record_step(conn, entry.order_id, status, entry.placed_at).await
}

/// Adds a step to the timeline; the first record of a status wins.
pub async fn record_step(
    conn: &mut Conn,
    order_id: &str,
    status: &str,
    at: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO mypage_timeline (order_id, status, at) VALUES ($1, $2, $3) \
         ON CONFLICT (order_id, status) DO NOTHING",
    )
    .bind(order_id)
    .bind(status)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn entry(row: sqlx::any::AnyRow, timeline: Vec<Step>) -> anyhow::Result<MypageOrder> {
    Ok(MypageOrder {
        order_id: row.try_get("order_id")?,
        store_id: row.try_get("store_id")?,
        store_name: row.try_get("store_name")?,
        status: row.try_get("status")?,
        amount: row.try_get("amount")?,
        items: serde_json::from_str(row.try_get("items")?)?,
        placed_at: row.try_get("placed_at")?,
        timeline,
    })
}

const ENTRY_COLUMNS: &str = "order_id, store_id, store_name, status, amount, items, placed_at";

async fn timeline(conn: &mut Conn, order_id: &str) -> anyhow::Result<Vec<Step>> {
    let rows = sqlx::query(
        "SELECT status, at FROM mypage_timeline WHERE order_id = $1 ORDER BY at, status",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Step {
                status: r.try_get("status")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

/// One of the customer's orders; `None` for an order that is not theirs or not projected yet.
pub async fn find(
    conn: &mut Conn,
    customer_id: &str,
    order_id: &str,
) -> anyhow::Result<Option<MypageOrder>> {
    let row = sqlx::query(&format!(
        "SELECT {ENTRY_COLUMNS} FROM mypage_orders WHERE order_id = $1 AND customer_id = $2"
    ))
    .bind(order_id)
    .bind(customer_id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => {
            let steps = timeline(conn, order_id).await?;
            entry(row, steps).map(Some)
        }
        None => Ok(None),
    }
}

/// The customer's orders, newest first; `before` (a `placedAt`) pages back in time.
pub async fn list(
    conn: &mut Conn,
    customer_id: &str,
    before: Option<i64>,
    limit: i64,
) -> anyhow::Result<Vec<MypageOrder>> {
    let rows = sqlx::query(&format!(
        "SELECT {ENTRY_COLUMNS} FROM mypage_orders WHERE customer_id = $1 AND placed_at < $2 \
         ORDER BY placed_at DESC, order_id DESC LIMIT $3"
    ))
    .bind(customer_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut orders = Vec::with_capacity(rows.len());
    for row in rows {
        let order_id: String = row.try_get("order_id")?;
        let steps = timeline(conn, &order_id).await?;
        orders.push(entry(row, steps)?);
    }
    Ok(orders)
}

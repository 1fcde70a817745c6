//! The delivery service's queries. Picking and completing are conditional updates: the database
//! decides which rider wins, whatever the number of replicas.

use contracts::{DeliveryAddress, GeoPoint};
use platform::db::Conn;
use sqlx::Row;

use crate::domain::{BoundingBox, Delivery, DeliveryStatus};

const COLUMNS: &str = "delivery_id, order_id, customer_id, store_id, store_name, pickup_lat, \
    pickup_lng, dropoff_text, dropoff_lat, dropoff_lng, status, rider_id";

fn delivery(row: sqlx::any::AnyRow) -> anyhow::Result<Delivery> {
    let status: String = row.try_get("status")?;
    Ok(Delivery {
        delivery_id: row.try_get("delivery_id")?,
        order_id: row.try_get("order_id")?,
        customer_id: row.try_get("customer_id")?,
        store_id: row.try_get("store_id")?,
        store_name: row.try_get("store_name")?,
        pickup: GeoPoint {
            lat: row.try_get("pickup_lat")?,
            lng: row.try_get("pickup_lng")?,
        },
        dropoff: DeliveryAddress {
            text: row.try_get("dropoff_text")?,
            lat: row.try_get("dropoff_lat")?,
            lng: row.try_get("dropoff_lng")?,
        },
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| anyhow::anyhow!("unknown delivery status {status}"))?,
        rider_id: row.try_get("rider_id")?,
    })
}

/// Opens a delivery; a second one for the same order is ignored. True when it was opened.
pub async fn open(conn: &mut Conn, delivery: &Delivery, now: i64) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO deliveries (delivery_id, order_id, customer_id, store_id, store_name, \
         pickup_lat, pickup_lng, dropoff_text, dropoff_lat, dropoff_lng, status, opened_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(&delivery.delivery_id)
    .bind(&delivery.order_id)
    .bind(&delivery.customer_id)
    .bind(&delivery.store_id)
    .bind(&delivery.store_name)
    .bind(delivery.pickup.lat)
    .bind(delivery.pickup.lng)
    .bind(&delivery.dropoff.text)
    .bind(delivery.dropoff.lat)
    .bind(delivery.dropoff.lng)
    .bind(delivery.status.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn find(conn: &mut Conn, delivery_id: &str) -> anyhow::Result<Option<Delivery>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE delivery_id = $1"
    ))
    .bind(delivery_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(delivery)
    .transpose()
}

/// Waiting deliveries whose pickup lies in the box (the index narrows by status and latitude).
pub async fn waiting_in(
    conn: &mut Conn,
    bbox: BoundingBox,
    limit: i64,
) -> anyhow::Result<Vec<Delivery>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE status = $1 \
         AND pickup_lat BETWEEN $2 AND $3 AND pickup_lng BETWEEN $4 AND $5 \
         ORDER BY opened_at LIMIT $6"
    ))
    .bind(DeliveryStatus::Waiting.as_str())
    .bind(bbox.min_lat)
    .bind(bbox.max_lat)
    .bind(bbox.min_lng)
    .bind(bbox.max_lng)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(delivery)
    .collect()
}

/// Gives a waiting delivery to `rider_id`; `None` when it was not waiting (another rider won).
pub async fn pick(
    conn: &mut Conn,
    delivery_id: &str,
    rider_id: &str,
    now: i64,
) -> anyhow::Result<Option<Delivery>> {
    sqlx::query(&format!(
        "UPDATE deliveries SET status = $1, rider_id = $2, picked_at = $3 \
         WHERE delivery_id = $4 AND status = $5 RETURNING {COLUMNS}"
    ))
    .bind(DeliveryStatus::Picked.as_str())
    .bind(rider_id)
    .bind(now)
    .bind(delivery_id)
    .bind(DeliveryStatus::Waiting.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .map(delivery)
    .transpose()
}

/// Marks a delivery delivered by the rider who picked it; `None` when it was not theirs or not
/// on the way.
pub async fn complete(
    conn: &mut Conn,
    delivery_id: &str,
    rider_id: &str,
    now: i64,
) -> anyhow::Result<Option<Delivery>> {
    sqlx::query(&format!(
        "UPDATE deliveries SET status = $1, delivered_at = $2 \
         WHERE delivery_id = $3 AND status = $4 AND rider_id = $5 RETURNING {COLUMNS}"
    ))
    .bind(DeliveryStatus::Delivered.as_str())
    .bind(now)
    .bind(delivery_id)
    .bind(DeliveryStatus::Picked.as_str())
    .bind(rider_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(delivery)
    .transpose()
}

/// Closes the order's delivery if it is still open; returns its id when it was.
/// Remembers that `order_id` was canceled, whether or not its delivery opened yet.
pub async fn mark_canceled(conn: &mut Conn, order_id: &str, at: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO canceled_orders (order_id, canceled_at) VALUES ($1, $2) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn was_canceled(conn: &mut Conn, order_id: &str) -> anyhow::Result<bool> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT 1 FROM canceled_orders WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

pub async fn cancel(conn: &mut Conn, order_id: &str) -> anyhow::Result<Option<String>> {
    let open: Option<String> = sqlx::query_scalar(
        "SELECT delivery_id FROM deliveries WHERE order_id = $1 AND status IN ($2, $3)",
    )
    .bind(order_id)
    .bind(DeliveryStatus::Waiting.as_str())
    .bind(DeliveryStatus::Picked.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(delivery_id) = open else {
        return Ok(None);
    };
    let updated = sqlx::query(
        "UPDATE deliveries SET status = $1 WHERE delivery_id = $2 AND status IN ($3, $4)",
    )
    .bind(DeliveryStatus::Canceled.as_str())
    .bind(&delivery_id)
    .bind(DeliveryStatus::Waiting.as_str())
    .bind(DeliveryStatus::Picked.as_str())
    .execute(&mut *conn)
    .await?;
    Ok((updated.rows_affected() == 1).then_some(delivery_id))
}

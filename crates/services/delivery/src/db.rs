//! The delivery service's queries. A delivery is saved over the version it was read at, so the
//! database decides which rider wins, whatever the number of replicas.

use contracts::{
    CustomerId, DeliveryAddress, DeliveryId, Event, GeoPoint, OrderId, RiderId, StoreId,
};
use platform::{
    Aggregate, Tx,
    db::{Conn, now_ms, save_over_version},
};

use crate::{
    delivery::{BoundingBox, Delivery, DeliveryStatus},
    views,
};

const COLUMNS: &str = "delivery_id, order_id, customer_id, store_id, store_name, pickup_lat, \
    pickup_lng, dropoff_text, dropoff_lat, dropoff_lng, status, rider_id, version";

impl Aggregate for Delivery {
    type Id = DeliveryId;
    const NOT_FOUND: (&'static str, &'static str) =
        ("delivery-not-found", "there is no such delivery");

    async fn load(tx: &mut Tx, id: &DeliveryId) -> anyhow::Result<Option<Self>> {
        find(tx, id).await
    }

    async fn insert(&self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        if !open(tx, self, now_ms()).await? {
            return Ok(false);
        }
        views::show_live(tx, self, "opened").await?;
        Ok(true)
    }

    /// Stamps when it was picked or delivered, and a delivery counts for its rider.
    async fn save(&mut self, tx: &mut Tx, caused: &[Event]) -> anyhow::Result<bool> {
        let now = now_ms();
        let picked = caused.iter().any(|e| matches!(e, Event::DeliveryPicked(_)));
        let delivered = caused
            .iter()
            .any(|e| matches!(e, Event::DeliveryCompleted(_)));
        let update = sqlx::query(
            "UPDATE deliveries SET status = $1, rider_id = $2, \
             picked_at = COALESCE($3, picked_at), delivered_at = COALESCE($4, delivered_at), \
             version = version + 1 WHERE delivery_id = $5 AND version = $6",
        )
        .bind(self.status.as_str())
        .bind(self.rider_id.as_ref())
        .bind(picked.then_some(now))
        .bind(delivered.then_some(now));
        let key = self.delivery_id.as_str();
        if !save_over_version(tx, update, key, self.version).await? {
            return Ok(false);
        }
        self.version += 1;
        if delivered && let Some(rider_id) = &self.rider_id {
            views::count_delivery(tx, rider_id, now).await?;
        }
        // No longer waiting: riders near it take it off their lists.
        let closed = caused
            .iter()
            .any(|e| matches!(e, Event::DeliveryPicked(_) | Event::DeliveryCanceled(_)));
        if closed {
            views::show_live(tx, self, "closed").await?;
        }
        Ok(true)
    }
}

/// A `deliveries` row: places as their coordinates, the status by its name.
#[derive(sqlx::FromRow)]
struct DeliveryRow {
    delivery_id: DeliveryId,
    order_id: OrderId,
    customer_id: CustomerId,
    store_id: StoreId,
    store_name: String,
    pickup_lat: f64,
    pickup_lng: f64,
    dropoff_text: String,
    dropoff_lat: f64,
    dropoff_lng: f64,
    #[sqlx(try_from = "String")]
    status: DeliveryStatus,
    rider_id: Option<RiderId>,
    version: i64,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = anyhow::Error;

    fn try_from(row: DeliveryRow) -> anyhow::Result<Self> {
        Ok(Delivery {
            pickup: GeoPoint::new(row.pickup_lat, row.pickup_lng)?,
            dropoff: DeliveryAddress {
                text: row.dropoff_text,
                point: GeoPoint::new(row.dropoff_lat, row.dropoff_lng)?,
            },
            status: row.status,
            delivery_id: row.delivery_id,
            order_id: row.order_id,
            customer_id: row.customer_id,
            store_id: row.store_id,
            store_name: row.store_name,
            rider_id: row.rider_id,
            version: row.version,
        })
    }
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
    .bind(delivery.pickup.lat())
    .bind(delivery.pickup.lng())
    .bind(&delivery.dropoff.text)
    .bind(delivery.dropoff.point.lat())
    .bind(delivery.dropoff.point.lng())
    .bind(delivery.status.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn find(conn: &mut Conn, delivery_id: &DeliveryId) -> anyhow::Result<Option<Delivery>> {
    let row: Option<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE delivery_id = $1"
    ))
    .bind(delivery_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Delivery::try_from).transpose()
}

/// Waiting deliveries whose pickup lies in the box (the index narrows by status and latitude).
pub async fn waiting_in(
    conn: &mut Conn,
    bbox: BoundingBox,
    limit: i64,
) -> anyhow::Result<Vec<Delivery>> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
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
    .await?;
    rows.into_iter().map(Delivery::try_from).collect()
}

/// The delivery opened for `order_id`, if any.
pub async fn delivery_of(
    conn: &mut Conn,
    order_id: &OrderId,
) -> anyhow::Result<Option<DeliveryId>> {
    Ok(
        sqlx::query_scalar("SELECT delivery_id FROM deliveries WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Remembers that `order_id` was canceled, whether or not its delivery opened yet.
pub async fn mark_canceled(conn: &mut Conn, order_id: &OrderId, at: i64) -> anyhow::Result<()> {
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

pub async fn was_canceled(conn: &mut Conn, order_id: &OrderId) -> anyhow::Result<bool> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT 1 FROM canceled_orders WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

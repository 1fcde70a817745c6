//! Read model: deliveries completed per rider (the seeds' rider count view).

use contracts::{DeliveryId, OrderId, RiderId, StoreId};
use platform::{
    db::{Conn, Tx},
    live,
};
use serde::Serialize;

use crate::delivery::{Delivery, DeliveryStatus};

/// A delivery as riders see it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub delivery_id: DeliveryId,
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub store_name: String,
    pub pickup: contracts::GeoPoint,
    pub dropoff: contracts::DeliveryAddress,
    pub status: DeliveryStatus,
    pub rider_id: Option<RiderId>,
    /// From the rider's position to the store, in km (in searches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

pub fn view(delivery: Delivery, distance_km: Option<f64>) -> DeliveryView {
    DeliveryView {
        delivery_id: delivery.delivery_id,
        order_id: delivery.order_id,
        store_id: delivery.store_id,
        store_name: delivery.store_name,
        pickup: delivery.pickup,
        dropoff: delivery.dropoff,
        status: delivery.status,
        rider_id: delivery.rider_id,
        distance_km,
    }
}

/// The live stream of deliveries waiting for a rider (`GET /deliveries/events`): each delivery
/// as it opens (`opened`) and as a rider picks it or it is canceled (`closed`). One stream for all
/// riders; each rider is shown those near them.
pub const LIVE_FEED: &str = "deliveries";
pub const LIVE_KEY: &str = "waiting";

/// Shows the delivery, as it now is, on the stream of waiting deliveries.
pub async fn show_live(tx: &mut Tx, delivery: &Delivery, event: &str) -> anyhow::Result<()> {
    let view = view(delivery.clone(), None);
    live::record(tx, LIVE_FEED, LIVE_KEY, event, &view).await?;
    Ok(())
}

#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiderStats {
    pub rider_id: RiderId,
    pub delivered: i64,
    pub last_delivered_at: Option<i64>,
}

/// Counts one delivery, in the transaction that completes it.
pub async fn count_delivery(conn: &mut Conn, rider_id: &RiderId, at: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO rider_stats (rider_id, delivered, last_at) VALUES ($1, 1, $2) \
         ON CONFLICT (rider_id) DO UPDATE SET delivered = rider_stats.delivered + 1, \
         last_at = excluded.last_at",
    )
    .bind(rider_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn rider_stats(conn: &mut Conn, rider_id: &RiderId) -> anyhow::Result<RiderStats> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT delivered, last_at FROM rider_stats WHERE rider_id = $1")
            .bind(rider_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(RiderStats {
        rider_id: rider_id.to_owned(),
        delivered: row.map_or(0, |(delivered, _)| delivered),
        last_delivered_at: row.map(|(_, at)| at),
    })
}

//! Read model: deliveries completed per rider (the seeds' rider count view).

use platform::db::Conn;
use serde::Serialize;
use sqlx::Row;

#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiderStats {
    pub rider_id: String,
    pub delivered: i64,
    pub last_delivered_at: Option<i64>,
}

/// Counts one delivery, in the transaction that completes it.
pub async fn count_delivery(conn: &mut Conn, rider_id: &str, at: i64) -> anyhow::Result<()> {
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

pub async fn rider_stats(conn: &mut Conn, rider_id: &str) -> anyhow::Result<RiderStats> {
    let row = sqlx::query("SELECT delivered, last_at FROM rider_stats WHERE rider_id = $1")
        .bind(rider_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(row) => RiderStats {
            rider_id: rider_id.to_owned(),
            delivered: row.try_get("delivered")?,
            last_delivered_at: Some(row.try_get("last_at")?),
        },
        None => RiderStats {
            rider_id: rider_id.to_owned(),
            delivered: 0,
            last_delivered_at: None,
        },
    })
}

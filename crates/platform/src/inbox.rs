//! The idempotent-consumer half of effectively-once delivery: a consumer claims an event id in the
//! same transaction as the handler's changes, so a redelivered event finds its claim and is a no-op.

use crate::{bus::Incoming, db::Tx};

/// Records that `consumer` handles this event in `tx`. False when it already did: the caller
/// rolls back and acknowledges.
pub async fn claim(tx: &mut Tx, consumer: &str, event: &Incoming) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id, event_type, processed_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(&event.event_id)
    .bind(&event.event_type)
    .bind(crate::db::now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

//! The notification service's queries.

use contracts::{CustomerId, EventBody, OrderId};
use platform::db::{Conn, now_ms};
use serde::Serialize;

use crate::notification::Delivery;

pub async fn remember_contact(
    conn: &mut Conn,
    order_id: &OrderId,
    customer_id: &CustomerId,
    store_name: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO order_contacts (order_id, customer_id, store_name) VALUES ($1, $2, $3) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(customer_id)
    .bind(store_name)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// (customer id, store name) of an order.
pub async fn contact(
    conn: &mut Conn,
    order_id: &OrderId,
) -> anyhow::Result<Option<(CustomerId, String)>> {
    Ok(
        sqlx::query_as("SELECT customer_id, store_name FROM order_contacts WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Keeps an event for an order whose contact is not known yet (its `OrderPlaced` is still on its
/// way); the same event twice is kept once.
pub async fn park(
    conn: &mut Conn,
    event_id: &str,
    order_id: &OrderId,
    body: &EventBody,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO awaiting_contact (event_id, order_id, body, parked_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(order_id)
    .bind(serde_json::to_string(body)?)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes the events kept for `order_id`: (event id, event), oldest first.
pub async fn unpark(
    conn: &mut Conn,
    order_id: &OrderId,
) -> anyhow::Result<Vec<(String, EventBody)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_id, body FROM awaiting_contact WHERE order_id = $1 ORDER BY parked_at",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query("DELETE FROM awaiting_contact WHERE order_id = $1")
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
    rows.into_iter()
        .map(|(event_id, body)| Ok((event_id, serde_json::from_str(&body)?)))
        .collect()
}

pub struct NewNotification<'a> {
    pub notification_id: &'a str,
    pub event_id: &'a str,
    pub order_id: &'a OrderId,
    pub customer_id: &'a CustomerId,
    pub event_type: &'a str,
    pub message: &'a str,
    /// The event's own timestamp.
    pub occurred_at: i64,
}

/// Queues a message; the same event twice is one message.
pub async fn queue(conn: &mut Conn, n: NewNotification<'_>) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO notifications (notification_id, event_id, order_id, customer_id, event_type, \
         message, status, attempts, created_at, occurred_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(n.notification_id)
    .bind(n.event_id)
    .bind(n.order_id)
    .bind(n.customer_id)
    .bind(n.event_type)
    .bind(n.message)
    .bind(Delivery::Pending.as_str())
    .bind(now_ms())
    .bind(n.occurred_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub notification_id: String,
    /// The event the message tells of: the idempotency key a channel deduplicates on, since a
    /// message may reach it more than once (see [`resume_interrupted`]).
    pub event_id: String,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub event_type: String,
    pub message: String,
    #[sqlx(try_from = "String")]
    pub status: Delivery,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

pub(crate) const COLUMNS: &str = "notification_id, event_id, order_id, customer_id, event_type, message, \
    status, attempts, last_error, created_at, sent_at";

/// Sheds the oldest waiting messages beyond `max_backlog`; returns how many were dropped.
pub async fn shed(conn: &mut Conn, max_backlog: i64) -> anyhow::Result<u64> {
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE status = $1")
        .bind(Delivery::Pending.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if waiting <= max_backlog {
        return Ok(0);
    }
    let dropped = sqlx::query(
        "UPDATE notifications SET status = $1 WHERE notification_id IN \
         (SELECT notification_id FROM notifications WHERE status = $2 \
          ORDER BY created_at, notification_id LIMIT $3)",
    )
    .bind(Delivery::Dropped.as_str())
    .bind(Delivery::Pending.as_str())
    .bind(waiting - max_backlog)
    .execute(&mut *conn)
    .await?;
    Ok(dropped.rows_affected())
}

/// Takes up to `limit` waiting messages for sending, oldest first, in one conditional update
/// (a row another replica claimed meanwhile no longer matches `Pending`, so nobody sends twice).
pub async fn claim(conn: &mut Conn, limit: i64) -> anyhow::Result<Vec<Notification>> {
    let mut claimed: Vec<Notification> = sqlx::query_as(&format!(
        "UPDATE notifications SET status = $1 WHERE status = $2 AND notification_id IN \
         (SELECT notification_id FROM notifications WHERE status = $2 \
          ORDER BY created_at, notification_id LIMIT $3) RETURNING {COLUMNS}"
    ))
    .bind(Delivery::Sending.as_str())
    .bind(Delivery::Pending.as_str())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    // RETURNING gives no order; send the oldest first.
    claimed.sort_by(|a, b| {
        (a.created_at, &a.notification_id).cmp(&(b.created_at, &b.notification_id))
    });
    Ok(claimed)
}

pub async fn finish(
    conn: &mut Conn,
    id: &str,
    outcome: Delivery,
    attempts: u32,
    error: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE notifications SET status = $1, attempts = $2, last_error = $3, sent_at = $4 \
         WHERE notification_id = $5",
    )
    .bind(outcome.as_str())
    .bind(i64::from(attempts))
    .bind(error)
    .bind((outcome == Delivery::Sent).then(now_ms))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Messages a crash left mid-send go back to the queue and are sent again: at least once. A
/// channel may so see one twice; each carries its event id as the idempotency key to drop the
/// second by. (At most once would lose the message whenever the crash came before the send.)
pub async fn resume_interrupted(conn: &mut Conn) -> anyhow::Result<u64> {
    let updated =
        sqlx::query("UPDATE notifications SET status = $1, last_error = $2 WHERE status = $3")
            .bind(Delivery::Pending.as_str())
            .bind("interrupted while sending; sent again")
            .bind(Delivery::Sending.as_str())
            .execute(&mut *conn)
            .await?;
    Ok(updated.rows_affected())
}

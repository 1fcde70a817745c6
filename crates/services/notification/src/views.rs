//! The notification's read model: a customer's messages, newest first.

use contracts::CustomerId;
use platform::db::Conn;

use crate::db::{COLUMNS, Notification};

pub async fn for_customer(
    conn: &mut Conn,
    customer_id: &CustomerId,
    order_id: Option<&str>,
    limit: i64,
) -> anyhow::Result<Vec<Notification>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE customer_id = $1 AND ($2 = '' OR order_id = $2) \
         ORDER BY occurred_at DESC, notification_id DESC LIMIT $3"
    ))
    .bind(customer_id)
    .bind(order_id.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

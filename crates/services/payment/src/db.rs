//! The payment service's queries.

use contracts::http::PaymentView;
use platform::db::{Conn, now_ms};
use sqlx::Row;

use crate::domain::{parse_status, status_str};

pub async fn find_by_order(conn: &mut Conn, order_id: &str) -> anyhow::Result<Option<PaymentView>> {
    let row = sqlx::query(
        "SELECT payment_id, order_id, customer_id, amount, method, status, created_at \
         FROM payments WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        let status: String = row.try_get("status")?;
        Ok(PaymentView {
            payment_id: row.try_get("payment_id")?,
            order_id: row.try_get("order_id")?,
            customer_id: row.try_get("customer_id")?,
            amount: row.try_get("amount")?,
            method: row.try_get("method")?,
            status: parse_status(&status)
                .ok_or_else(|| anyhow::anyhow!("unknown payment status {status}"))?,
            created_at: row.try_get("created_at")?,
        })
    })
    .transpose()
}

/// Inserts a new payment; a unique violation on order_id means a concurrent twin won.
pub async fn insert(conn: &mut Conn, payment: &PaymentView) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO payments (payment_id, order_id, customer_id, amount, method, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&payment.payment_id)
    .bind(&payment.order_id)
    .bind(&payment.customer_id)
    .bind(payment.amount)
    .bind(&payment.method)
    .bind(status_str(payment.status))
    .bind(payment.created_at)
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .map(drop)
}

//! The payment service's queries.

use contracts::http::PaymentView;
use platform::db::{Conn, now_ms};
use sqlx::Row;

use crate::domain::{parse_status, status_str};

const COLUMNS: &str = "payment_id, order_id, customer_id, amount, method, status, created_at";

fn payment(row: sqlx::any::AnyRow) -> anyhow::Result<PaymentView> {
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
}

pub async fn find_by_order(conn: &mut Conn, order_id: &str) -> anyhow::Result<Option<PaymentView>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(payment)
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

/// Changes a payment's status (refund, void).
pub async fn set_status(conn: &mut Conn, payment: &PaymentView) -> sqlx::Result<()> {
    sqlx::query("UPDATE payments SET status = $1, updated_at = $2 WHERE payment_id = $3")
        .bind(status_str(payment.status))
        .bind(now_ms())
        .bind(&payment.payment_id)
        .execute(&mut *conn)
        .await
        .map(drop)
}

pub async fn insert_refund(
    conn: &mut Conn,
    refund: &contracts::PaymentRefunded,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refunds (refund_id, order_id, payment_id, amount, reason, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'Completed', $6)",
    )
    .bind(&refund.refund_id)
    .bind(&refund.order_id)
    .bind(&refund.payment_id)
    .bind(refund.amount)
    .bind(&refund.reason)
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .map(drop)
}

#[derive(serde::Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    pub refund_id: String,
    pub amount: i64,
    pub reason: String,
    pub status: String,
    pub created_at: i64,
}

pub async fn find_refund(conn: &mut Conn, order_id: &str) -> anyhow::Result<Option<RefundView>> {
    let row = sqlx::query(
        "SELECT refund_id, amount, reason, status, created_at FROM refunds WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(RefundView {
            refund_id: row.try_get("refund_id")?,
            amount: row.try_get("amount")?,
            reason: row.try_get("reason")?,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
        })
    })
    .transpose()
}

/// The newest payments, for operators.
pub async fn recent(
    conn: &mut Conn,
    customer_id: Option<&str>,
    limit: i64,
) -> anyhow::Result<Vec<PaymentView>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE ($1 = '' OR customer_id = $1) \
         ORDER BY created_at DESC, payment_id DESC LIMIT $2"
    ))
    .bind(customer_id.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(payment)
    .collect()
}

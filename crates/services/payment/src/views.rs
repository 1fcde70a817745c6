//! The payment's read models: a payment's refund, and the recent payments (all, or one customer's).

use contracts::{CustomerId, Krw, OrderId, RefundId, RefundReason, http::PaymentView};
use platform::db::Conn;

use crate::{db::COLUMNS, payment::RefundStatus};

#[derive(serde::Serialize, Debug, Clone, utoipa::ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    pub refund_id: RefundId,
    pub amount: Krw,
    #[sqlx(try_from = "String")]
    pub reason: RefundReason,
    #[sqlx(try_from = "String")]
    pub status: RefundStatus,
    pub created_at: i64,
}

pub async fn find_refund(
    conn: &mut Conn,
    order_id: &OrderId,
) -> anyhow::Result<Option<RefundView>> {
    Ok(sqlx::query_as(
        "SELECT refund_id, amount, reason, status, created_at FROM refunds WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The newest payments, for operators.
pub async fn recent(
    conn: &mut Conn,
    customer_id: Option<&CustomerId>,
    limit: i64,
) -> anyhow::Result<Vec<PaymentView>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE ($1 = '' OR customer_id = $1) \
         ORDER BY created_at DESC, payment_id DESC LIMIT $2"
    ))
    .bind(customer_id.map_or("", CustomerId::as_str))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

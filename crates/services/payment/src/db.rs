//! The payment service's queries.

use contracts::OrderId;
use contracts::{
    Event,
    http::{PaymentStatus, PaymentView},
};
use platform::{
    Aggregate, Tx,
    db::{Conn, inserted, move_status, now_ms},
};

use crate::payment::{Payment, RefundStatus, status_str};

impl Aggregate for Payment {
    /// The order id: an order has at most one payment.
    type Id = OrderId;
    const NOT_FOUND: (&'static str, &'static str) =
        ("payment-not-found", "there is no payment for this order");

    async fn load(tx: &mut Tx, order_id: &OrderId) -> anyhow::Result<Option<Self>> {
        Ok(find_by_order(tx, order_id).await?.map(Payment))
    }

    /// False when the order has a payment already (a concurrent twin of the charge won).
    async fn insert(&self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        Ok(inserted(insert(tx, &self.0).await)?)
    }

    /// Every change of a payment leaves `Approved` (a refund, a void), so the status is its
    /// version: of two changes decided on one approved payment, one is saved. A refund keeps its
    /// record.
    async fn save(&mut self, tx: &mut Tx, caused: &[Event]) -> anyhow::Result<bool> {
        let moved = (
            status_str(PaymentStatus::Approved),
            status_str(self.0.status),
        );
        let payment_id = &self.0.payment_id;
        if !move_status(
            tx,
            "payments",
            "payment_id",
            payment_id.as_str(),
            moved,
            "updated_at",
        )
        .await?
        {
            return Ok(false);
        }
        for event in caused {
            if let Event::PaymentRefunded(refund) = event {
                insert_refund(tx, refund).await?;
            }
        }
        Ok(true)
    }
}

pub(crate) const COLUMNS: &str =
    "payment_id, order_id, customer_id, amount, method, status, created_at";

pub async fn find_by_order(
    conn: &mut Conn,
    order_id: &OrderId,
) -> anyhow::Result<Option<PaymentView>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?)
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

pub async fn insert_refund(
    conn: &mut Conn,
    refund: &contracts::PaymentRefunded,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refunds (refund_id, order_id, payment_id, amount, reason, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&refund.refund_id)
    .bind(&refund.order_id)
    .bind(&refund.payment_id)
    .bind(refund.amount)
    .bind(refund.reason.as_str())
    .bind(RefundStatus::Completed.as_str())
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .map(drop)
}

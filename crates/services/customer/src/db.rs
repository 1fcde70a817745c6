//! The customer service's queries.

use contracts::{CustomerId, Event, OrderId, ReviewId};
use platform::{
    Aggregate, Tx,
    db::{Conn, move_status, now_ms},
};

use crate::{
    coupon::{Coupon, CouponStatus},
    customer::Customer,
};

impl Aggregate for Customer {
    type Id = CustomerId;
    const NOT_FOUND: (&'static str, &'static str) =
        ("customer-not-found", "there is no such customer");

    async fn load(tx: &mut Tx, customer_id: &CustomerId) -> anyhow::Result<Option<Self>> {
        find_customer(tx, customer_id).await
    }

    async fn insert(&self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO customers (customer_id, completed_orders, grade, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id) DO NOTHING",
        )
        .bind(&self.customer_id)
        .bind(self.completed_orders)
        .bind(&self.grade)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Each change counts one more completed order, so the count read is the one before: two
    /// replicas counting at once cannot both win.
    async fn save(&mut self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE customers SET completed_orders = $1, grade = $2, updated_at = $3 \
             WHERE customer_id = $4 AND completed_orders = $5",
        )
        .bind(self.completed_orders)
        .bind(&self.grade)
        .bind(now_ms())
        .bind(&self.customer_id)
        .bind(self.completed_orders - 1)
        .execute(&mut **tx)
        .await?;
        Ok(updated.rows_affected() == 1)
    }
}

impl Aggregate for Coupon {
    /// The review that earned it: one coupon per review.
    type Id = ReviewId;
    const NOT_FOUND: (&'static str, &'static str) =
        ("coupon-not-found", "there is no coupon for this review");

    async fn load(tx: &mut Tx, review_id: &ReviewId) -> anyhow::Result<Option<Self>> {
        Ok(sqlx::query_as(
            "SELECT coupon_id, customer_id, review_id, order_id, status FROM coupons \
             WHERE review_id = $1",
        )
        .bind(review_id)
        .fetch_optional(&mut **tx)
        .await?)
    }

    /// False when the review has its coupon already (or it was forestalled).
    async fn insert(&self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO coupons (coupon_id, customer_id, review_id, order_id, status, issued_at, \
             revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (review_id) DO NOTHING",
        )
        .bind(&self.coupon_id)
        .bind(&self.customer_id)
        .bind(&self.review_id)
        .bind(&self.order_id)
        .bind(self.status.as_str())
        .bind(now)
        .bind((self.status == CouponStatus::Revoked).then_some(now))
        .execute(&mut **tx)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// A coupon changes once, from active to revoked, so its status is its version.
    async fn save(&mut self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        let moved = (CouponStatus::Active.as_str(), self.status.as_str());
        Ok(move_status(
            tx,
            "coupons",
            "coupon_id",
            self.coupon_id.as_str(),
            moved,
            "revoked_at",
        )
        .await?)
    }
}

pub async fn find_customer(
    conn: &mut Conn,
    customer_id: &CustomerId,
) -> anyhow::Result<Option<Customer>> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT completed_orders, grade FROM customers WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|(completed_orders, grade)| Customer {
        customer_id: customer_id.to_owned(),
        completed_orders,
        grade,
    }))
}

/// Records a completed order once; false when it was already counted.
pub async fn count_completed(
    conn: &mut Conn,
    order_id: &OrderId,
    customer_id: &CustomerId,
) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO completed_orders (order_id, customer_id, completed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(customer_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

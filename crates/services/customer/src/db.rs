//! The customer service's queries.

use platform::db::{Conn, now_ms};
use sqlx::Row;

use crate::domain::CouponStatus;

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub customer_id: String,
    pub completed_orders: i64,
    pub grade: String,
}

/// The customer's row, created at the lowest grade on first sight.
pub async fn customer(
    conn: &mut Conn,
    customer_id: &str,
    first_grade: &str,
) -> anyhow::Result<Customer> {
    sqlx::query(
        "INSERT INTO customers (customer_id, completed_orders, grade, updated_at) \
         VALUES ($1, 0, $2, $3) ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(customer_id)
    .bind(first_grade)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query("SELECT completed_orders, grade FROM customers WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Customer {
        customer_id: customer_id.to_owned(),
        completed_orders: row.try_get("completed_orders")?,
        grade: row.try_get("grade")?,
    })
}

/// Records a completed order once; false when it was already counted.
pub async fn count_completed(
    conn: &mut Conn,
    order_id: &str,
    customer_id: &str,
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

/// Adds one completed order in the database itself (replicas count concurrently) and returns the
/// new count.
pub async fn add_completed(conn: &mut Conn, customer_id: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "UPDATE customers SET completed_orders = completed_orders + 1, updated_at = $1 \
         WHERE customer_id = $2 RETURNING completed_orders",
    )
    .bind(now_ms())
    .bind(customer_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// Sets the grade unless it already is that grade; true when it changed.
pub async fn set_grade(conn: &mut Conn, customer_id: &str, grade: &str) -> anyhow::Result<bool> {
    let updated =
        sqlx::query("UPDATE customers SET grade = $1 WHERE customer_id = $2 AND grade <> $1")
            .bind(grade)
            .bind(customer_id)
            .execute(&mut *conn)
            .await?;
    Ok(updated.rows_affected() == 1)
}

/// Marks a review's coupon as revoked before it was issued (the deletion overtook the review),
/// so the late `ReviewWritten` finds it and issues nothing.
pub async fn forestall_coupon(
    conn: &mut Conn,
    coupon_id: &str,
    customer_id: &str,
    review_id: &str,
    order_id: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO coupons (coupon_id, customer_id, review_id, order_id, status, issued_at, \
         revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (review_id) DO NOTHING",
    )
    .bind(coupon_id)
    .bind(customer_id)
    .bind(review_id)
    .bind(order_id)
    .bind(CouponStatus::Revoked.as_str())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Issues the review's coupon; false when that review already earned one.
pub async fn issue_coupon(
    conn: &mut Conn,
    coupon_id: &str,
    customer_id: &str,
    review_id: &str,
    order_id: &str,
) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO coupons (coupon_id, customer_id, review_id, order_id, status, issued_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (review_id) DO NOTHING",
    )
    .bind(coupon_id)
    .bind(customer_id)
    .bind(review_id)
    .bind(order_id)
    .bind(CouponStatus::Active.as_str())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Revokes the review's coupon if it is still active; returns its id when it was.
pub async fn revoke_coupon(conn: &mut Conn, review_id: &str) -> anyhow::Result<Option<String>> {
    let coupon: Option<String> =
        sqlx::query_scalar("SELECT coupon_id FROM coupons WHERE review_id = $1 AND status = $2")
            .bind(review_id)
            .bind(CouponStatus::Active.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    let Some(coupon_id) = coupon else {
        return Ok(None);
    };
    let updated = sqlx::query(
        "UPDATE coupons SET status = $1, revoked_at = $2 WHERE coupon_id = $3 AND status = $4",
    )
    .bind(CouponStatus::Revoked.as_str())
    .bind(now_ms())
    .bind(&coupon_id)
    .bind(CouponStatus::Active.as_str())
    .execute(&mut *conn)
    .await?;
    Ok((updated.rows_affected() == 1).then_some(coupon_id))
}

#[derive(serde::Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct CouponView {
    pub coupon_id: String,
    pub review_id: String,
    pub order_id: String,
    pub status: String,
    pub issued_at: i64,
}

pub async fn coupons(conn: &mut Conn, customer_id: &str) -> anyhow::Result<Vec<CouponView>> {
    sqlx::query(
        "SELECT coupon_id, review_id, order_id, status, issued_at FROM coupons \
         WHERE customer_id = $1 ORDER BY issued_at DESC",
    )
    .bind(customer_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| {
        Ok(CouponView {
            coupon_id: row.try_get("coupon_id")?,
            review_id: row.try_get("review_id")?,
            order_id: row.try_get("order_id")?,
            status: row.try_get("status")?,
            issued_at: row.try_get("issued_at")?,
        })
    })
    .collect()
}

//! The review service's queries.

use platform::db::{Conn, now_ms};
use serde::Serialize;
use sqlx::Row;

use crate::domain::ReviewStatus;

pub struct NewReview<'a> {
    pub review_id: &'a str,
    pub order_id: &'a str,
    pub customer_id: &'a str,
    pub store_id: &'a str,
    pub rating: i64,
    pub body: &'a str,
}

/// Stores a review; false when the order already has one (deleted or not).
pub async fn insert(conn: &mut Conn, review: NewReview<'_>) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO reviews (review_id, order_id, customer_id, store_id, rating, body, status, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(review.review_id)
    .bind(review.order_id)
    .bind(review.customer_id)
    .bind(review.store_id)
    .bind(review.rating)
    .bind(review.body)
    .bind(ReviewStatus::Active.as_str())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Marks the author's active review deleted; returns its order id when it was.
pub async fn delete(
    conn: &mut Conn,
    review_id: &str,
    customer_id: &str,
) -> anyhow::Result<Option<String>> {
    let order_id: Option<String> = sqlx::query_scalar(
        "SELECT order_id FROM reviews WHERE review_id = $1 AND customer_id = $2 AND status = $3",
    )
    .bind(review_id)
    .bind(customer_id)
    .bind(ReviewStatus::Active.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(order_id) = order_id else {
        return Ok(None);
    };
    let updated = sqlx::query(
        "UPDATE reviews SET status = $1, deleted_at = $2 WHERE review_id = $3 AND status = $4",
    )
    .bind(ReviewStatus::Deleted.as_str())
    .bind(now_ms())
    .bind(review_id)
    .bind(ReviewStatus::Active.as_str())
    .execute(&mut *conn)
    .await?;
    Ok((updated.rows_affected() == 1).then_some(order_id))
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    pub review_id: String,
    pub order_id: String,
    pub store_id: String,
    pub rating: i64,
    pub text: String,
    pub created_at: i64,
}

pub async fn store_reviews(
    conn: &mut Conn,
    store_id: &str,
    limit: i64,
) -> anyhow::Result<Vec<ReviewView>> {
    sqlx::query(
        "SELECT review_id, order_id, store_id, rating, body, created_at FROM reviews \
         WHERE store_id = $1 AND status = $2 ORDER BY created_at DESC, review_id DESC LIMIT $3",
    )
    .bind(store_id)
    .bind(ReviewStatus::Active.as_str())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| {
        Ok(ReviewView {
            review_id: row.try_get("review_id")?,
            order_id: row.try_get("order_id")?,
            store_id: row.try_get("store_id")?,
            rating: row.try_get("rating")?,
            text: row.try_get("body")?,
            created_at: row.try_get("created_at")?,
        })
    })
    .collect()
}

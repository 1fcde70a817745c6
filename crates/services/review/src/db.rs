//! The review service's queries.

use contracts::{Event, ReviewId};
use platform::{
    Aggregate, Tx,
    db::{move_status, now_ms},
};

use crate::review::{Review, ReviewStatus};

impl Aggregate for Review {
    type Id = ReviewId;
    const NOT_FOUND: (&'static str, &'static str) =
        ("review-not-found", "there is no such review of yours");

    async fn load(tx: &mut Tx, review_id: &ReviewId) -> anyhow::Result<Option<Self>> {
        Ok(sqlx::query_as(
            "SELECT review_id, order_id, customer_id, store_id, rating, body, status \
             FROM reviews WHERE review_id = $1",
        )
        .bind(review_id)
        .fetch_optional(&mut **tx)
        .await?)
    }

    /// False when the order already has a review (deleted or not).
    async fn insert(&self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO reviews (review_id, order_id, customer_id, store_id, rating, body, \
             status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(&self.review_id)
        .bind(&self.order_id)
        .bind(&self.customer_id)
        .bind(&self.store_id)
        .bind(self.rating.value())
        .bind(self.text.as_str())
        .bind(self.status.as_str())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// A review changes once, from active to deleted, so its status is its version.
    async fn save(&mut self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
        let moved = (ReviewStatus::Active.as_str(), self.status.as_str());
        Ok(move_status(
            tx,
            "reviews",
            "review_id",
            self.review_id.as_str(),
            moved,
            "deleted_at",
        )
        .await?)
    }
}

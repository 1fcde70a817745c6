//! The review service's queries.

use contracts::{Event, ReviewId};
use platform::{
    Aggregate, Tx,
    db::{move_status, now_ms},
};
use sqlx::Row;

use crate::review::{Rating, Review, ReviewStatus, Text};

impl Aggregate for Review {
    type Id = ReviewId;
    const NOT_FOUND: (&'static str, &'static str) =
        ("review-not-found", "there is no such review of yours");

    async fn load(tx: &mut Tx, review_id: &ReviewId) -> anyhow::Result<Option<Self>> {
        let row = sqlx::query(
            "SELECT review_id, order_id, customer_id, store_id, rating, body, status \
             FROM reviews WHERE review_id = $1",
        )
        .bind(review_id)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|row| {
            let status: String = row.try_get("status")?;
            Ok(Review {
                review_id: row.try_get("review_id")?,
                order_id: row.try_get("order_id")?,
                customer_id: row.try_get("customer_id")?,
                store_id: row.try_get("store_id")?,
                rating: Rating::parse(row.try_get("rating")?)?,
                text: Text::stored(row.try_get("body")?),
                status: ReviewStatus::parse(&status)
                    .ok_or_else(|| anyhow::anyhow!("unknown review status {status}"))?,
            })
        })
        .transpose()
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

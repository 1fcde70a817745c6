//! The review service's queries.

use contracts::{CustomerId, Event, OrderId, ReviewId, StoreId};
use platform::{
    Aggregate, Tx,
    db::{move_status, now_ms},
};

use crate::review::{Rating, Review, ReviewStatus, Text};

/// A `reviews` row: the status by its name.
#[derive(sqlx::FromRow)]
struct ReviewRow {
    review_id: ReviewId,
    order_id: OrderId,
    customer_id: CustomerId,
    store_id: StoreId,
    rating: i64,
    body: String,
    status: String,
}

impl TryFrom<ReviewRow> for Review {
    type Error = anyhow::Error;

    fn try_from(row: ReviewRow) -> anyhow::Result<Self> {
        Ok(Review {
            rating: Rating::parse(row.rating)?,
            text: Text::stored(row.body),
            status: ReviewStatus::parse(&row.status)
                .ok_or_else(|| anyhow::anyhow!("unknown review status {}", row.status))?,
            review_id: row.review_id,
            order_id: row.order_id,
            customer_id: row.customer_id,
            store_id: row.store_id,
        })
    }
}

impl Aggregate for Review {
    type Id = ReviewId;
    const NOT_FOUND: (&'static str, &'static str) =
        ("review-not-found", "there is no such review of yours");

    async fn load(tx: &mut Tx, review_id: &ReviewId) -> anyhow::Result<Option<Self>> {
        let row: Option<ReviewRow> = sqlx::query_as(
            "SELECT review_id, order_id, customer_id, store_id, rating, body, status \
             FROM reviews WHERE review_id = $1",
        )
        .bind(review_id)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(Review::try_from).transpose()
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

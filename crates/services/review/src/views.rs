//! The review's read model: a store's reviews, newest first.

use contracts::{OrderId, ReviewId, StoreId};
use platform::db::Conn;
use serde::Serialize;

use crate::review::ReviewStatus;

#[derive(Serialize, Debug, Clone, utoipa::ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    pub review_id: ReviewId,
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub rating: i64,
    #[sqlx(rename = "body")]
    pub text: String,
    pub created_at: i64,
}

pub async fn store_reviews(
    conn: &mut Conn,
    store_id: &StoreId,
    limit: i64,
) -> anyhow::Result<Vec<ReviewView>> {
    Ok(sqlx::query_as(
        "SELECT review_id, order_id, store_id, rating, body, created_at FROM reviews \
         WHERE store_id = $1 AND status = $2 ORDER BY created_at DESC, review_id DESC LIMIT $3",
    )
    .bind(store_id)
    .bind(ReviewStatus::Active.as_str())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

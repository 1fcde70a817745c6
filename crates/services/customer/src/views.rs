//! The customer's read model: their coupons, newest first.

use contracts::{CouponId, CustomerId, OrderId, ReviewId};
use platform::db::Conn;

use crate::coupon::CouponStatus;

#[derive(serde::Serialize, Debug, Clone, utoipa::ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct CouponView {
    pub coupon_id: CouponId,
    pub review_id: ReviewId,
    pub order_id: OrderId,
    #[sqlx(try_from = "String")]
    pub status: CouponStatus,
    pub issued_at: i64,
}

pub async fn coupons(conn: &mut Conn, customer_id: &CustomerId) -> anyhow::Result<Vec<CouponView>> {
    Ok(sqlx::query_as(
        "SELECT coupon_id, review_id, order_id, status, issued_at FROM coupons \
         WHERE customer_id = $1 ORDER BY issued_at DESC",
    )
    .bind(customer_id)
    .fetch_all(&mut *conn)
    .await?)
}

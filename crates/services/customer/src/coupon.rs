//! The coupon aggregate: the coupon one review earns its author, issued when the review is written
//! and taken back, once, when it is deleted.

use contracts::{CouponId, CouponIssued, CouponRevoked, CustomerId, OrderId, ReviewId};

/// The coupon one review earns its author.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Coupon {
    pub coupon_id: CouponId,
    pub customer_id: CustomerId,
    pub review_id: ReviewId,
    pub order_id: OrderId,
    #[sqlx(try_from = "String")]
    pub status: CouponStatus,
}

impl Coupon {
    /// A review was written: its coupon, and the event that announces it.
    pub fn issue(
        coupon_id: CouponId,
        customer_id: CustomerId,
        review_id: ReviewId,
        order_id: OrderId,
    ) -> (Self, CouponIssued) {
        let issued = CouponIssued {
            coupon_id: coupon_id.clone(),
            customer_id: customer_id.clone(),
            review_id: review_id.clone(),
            order_id: order_id.clone(),
        };
        let coupon = Self {
            coupon_id,
            customer_id,
            review_id,
            order_id,
            status: CouponStatus::Active,
        };
        (coupon, issued)
    }

    /// The review was deleted before it was seen written: a revoked coupon takes its place, so
    /// the late `ReviewWritten` issues nothing.
    pub fn forestalled(
        coupon_id: CouponId,
        customer_id: CustomerId,
        review_id: ReviewId,
        order_id: OrderId,
    ) -> Self {
        Self {
            status: CouponStatus::Revoked,
            ..Self::issue(coupon_id, customer_id, review_id, order_id).0
        }
    }

    /// The review was deleted: an active coupon is taken back, once.
    pub fn revoke(&mut self) -> Option<CouponRevoked> {
        if self.status != CouponStatus::Active {
            return None;
        }
        self.status = CouponStatus::Revoked;
        Some(CouponRevoked {
            coupon_id: self.coupon_id.clone(),
            customer_id: self.customer_id.clone(),
            review_id: self.review_id.clone(),
            order_id: self.order_id.clone(),
        })
    }
}

contracts::status! {
    pub enum CouponStatus {
        Active,
        Revoked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coupon_is_revoked_once_and_a_forestalled_one_never_active() {
        let (mut coupon, _) = Coupon::issue("k".into(), "c".into(), "rv".into(), "o".into());
        assert!(coupon.revoke().is_some());
        assert_eq!(coupon.revoke(), None);
        let mut early = Coupon::forestalled("k".into(), "c".into(), "rv".into(), "o".into());
        assert_eq!(early.status, CouponStatus::Revoked);
        assert_eq!(early.revoke(), None);
    }
}

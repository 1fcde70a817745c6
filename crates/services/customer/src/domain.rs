//! Customers' grades and coupons. Pure: which grade a number of completed orders earns, and how
//! a review's coupon is issued and taken back.

use contracts::{CouponIssued, CouponRevoked, CustomerId, GradeRaised, OrderId, ReviewId};
use platform::config::Grade;

/// A customer's count of completed orders and the grade it earns.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub customer_id: CustomerId,
    pub completed_orders: i64,
    pub grade: String,
}

impl Customer {
    /// One more order completed (`order_id`, counted once by the caller); a higher grade is
    /// announced.
    pub fn complete(&mut self, order_id: &OrderId, grades: &[Grade]) -> Option<GradeRaised> {
        self.completed_orders += 1;
        let grade = grade_for(grades, self.completed_orders);
        if grade == self.grade {
            return None;
        }
        self.grade = grade.to_owned();
        Some(GradeRaised {
            customer_id: self.customer_id.clone(),
            order_id: order_id.to_owned(),
            grade: self.grade.clone(),
            completed_orders: self.completed_orders,
        })
    }
}

/// The coupon one review earns its author.
#[derive(Debug, Clone, PartialEq)]
pub struct Coupon {
    pub coupon_id: String,
    pub customer_id: CustomerId,
    pub review_id: ReviewId,
    pub order_id: OrderId,
    pub status: CouponStatus,
}

impl Coupon {
    /// A review was written: its coupon, and the event that announces it.
    pub fn issue(
        coupon_id: String,
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
        coupon_id: String,
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

/// The highest grade whose threshold `completed` reaches (grades are sorted, the first at 0).
pub fn grade_for(grades: &[Grade], completed: i64) -> &str {
    grades
        .iter()
        .rev()
        .find(|g| completed >= g.min_completed)
        .or(grades.first())
        .map(|g| g.name.as_str())
        .unwrap_or_default()
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::VariantArray,
)]
pub enum CouponStatus {
    Active,
    Revoked,
}

impl CouponStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::config::CustomerSettings;
    use proptest::prelude::*;

    #[test]
    fn grades_rise_with_completed_orders() {
        let grades = CustomerSettings::default().grades;
        assert_eq!(grade_for(&grades, 0), "고마운분");
        assert_eq!(grade_for(&grades, 1), "귀한분");
        assert_eq!(grade_for(&grades, 4), "귀한분");
        assert_eq!(grade_for(&grades, 5), "더귀한분");
        assert_eq!(grade_for(&grades, 100), "천생연분");
    }

    #[test]
    fn a_grade_is_announced_only_when_it_rises() {
        let grades = CustomerSettings::default().grades;
        let mut customer = Customer {
            customer_id: "c".into(),
            completed_orders: 0,
            grade: grade_for(&grades, 0).into(),
        };
        let raised = customer.complete(&"o-1".into(), &grades).unwrap();
        assert_eq!(
            (raised.grade.as_str(), raised.completed_orders),
            ("귀한분", 1)
        );
        assert_eq!(customer.complete(&"o-2".into(), &grades), None);
        assert_eq!(customer.completed_orders, 2);
    }

    #[test]
    fn a_coupon_is_revoked_once_and_a_forestalled_one_never_active() {
        let (mut coupon, _) = Coupon::issue("k".into(), "c".into(), "rv".into(), "o".into());
        assert!(coupon.revoke().is_some());
        assert_eq!(coupon.revoke(), None);
        let mut early = Coupon::forestalled("k".into(), "c".into(), "rv".into(), "o".into());
        assert_eq!(early.status, CouponStatus::Revoked);
        assert_eq!(early.revoke(), None);
    }

    proptest! {
        #[test]
        fn more_orders_never_lower_the_grade(a in 0i64..50, b in 0i64..50) {
            let grades = CustomerSettings::default().grades;
            let rank = |n| grades.iter().position(|g| g.name == grade_for(&grades, n)).unwrap();
            if a <= b {
                prop_assert!(rank(a) <= rank(b));
            }
        }
    }
}

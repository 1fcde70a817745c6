//! Customers' grades and coupons. Pure: which grade a number of completed orders earns.

use platform::config::Grade;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponStatus {
    Active,
    Revoked,
}

impl CouponStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CouponStatus::Active => "Active",
            CouponStatus::Revoked => "Revoked",
        }
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

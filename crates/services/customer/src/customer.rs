//! The customer aggregate: a customer's count of completed orders and the grade it earns. Pure:
//! which grade a number of completed orders earns, and when a new one is announced.

use crate::settings::Grade;
use contracts::{CustomerId, GradeRaised, OrderId};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::CustomerSettings;
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

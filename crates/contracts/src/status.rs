//! Statuses that cross the wire: in events, in the calls between services and in the API.

use serde::Deserialize;
use strum::VariantArray;

crate::status! {
    /// Where an order stands. From `Placed` on, as the customer sees it (docs/events.md, "Sagas");
    /// before that the order is being paid for, and the customer sees no order until the charge
    /// is approved. Events carry it, so it is read as well as written.
    #[derive(Hash, Deserialize, strum::Display)]
    pub enum OrderStatus {
        Placed,
        Accepted,
        Rejected,
        Cooking,
        Cooked,
        Picked,
        Delivered,
        Completed,
        CancelRequested,
        Canceled,
        /// Recorded before the charge, so a crash between the charge and the order cannot leave
        /// a charge without an order that knows of it.
        PaymentPending,
        /// The card was declined: no order.
        PaymentDeclined,
        /// The charge's outcome is unknown (payment unavailable): no order, and the charge is
        /// voided.
        PaymentFailed,
    }
}

impl OrderStatus {
    /// Whether the customer has an order: the charge was approved.
    pub fn is_placed(self) -> bool {
        !matches!(
            self,
            OrderStatus::PaymentPending | OrderStatus::PaymentDeclined | OrderStatus::PaymentFailed
        )
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }

    /// Where the status sits in an order's life: breaks ties between steps recorded in the same
    /// millisecond (a refused cancel goes back to an earlier status, so this is not the order
    /// statuses are reached in, only a tiebreak).
    pub fn rank(self) -> usize {
        Self::VARIANTS.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// How far along the way from kitchen to door; statuses off that way (cancel, reject,
    /// complete) have none.
    pub fn stage(self) -> Option<usize> {
        [
            OrderStatus::Placed,
            OrderStatus::Accepted,
            OrderStatus::Cooking,
            OrderStatus::Cooked,
            OrderStatus::Picked,
            OrderStatus::Delivered,
        ]
        .iter()
        .position(|s| *s == self)
    }

    /// No event moves an order out of these.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Rejected
                | OrderStatus::Canceled
                | OrderStatus::Completed
                | OrderStatus::PaymentDeclined
                | OrderStatus::PaymentFailed
        )
    }
}

crate::status! {
    /// Which step of the saga gave the money back: the store turned the order down, or the order
    /// was canceled. Lower case on the wire, as consumers have always read it.
    #[derive(Deserialize, strum::Display)]
    #[serde(rename_all = "lowercase")]
    #[strum(serialize_all = "lowercase")]
    pub enum RefundReason {
        Rejected,
        Canceled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is stored by name reads back as itself, in the JSON the wire carries too; a name
    /// that is no status is refused, not read as some default.
    #[test]
    fn a_status_stored_by_its_name_reads_back_as_itself() {
        for &status in OrderStatus::VARIANTS {
            let stored = status.as_str().to_owned();
            assert_eq!(OrderStatus::try_from(stored), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::from(status.as_str())
            );
        }
        assert!(OrderStatus::try_from("Lost".to_owned()).is_err());
        assert!(OrderStatus::try_from("placed".to_owned()).is_err());
    }

    #[test]
    fn a_refund_reason_is_its_lower_case_name_on_the_wire_and_in_its_column() {
        for &reason in RefundReason::VARIANTS {
            let name: &'static str = reason.into();
            assert_eq!(name, name.to_lowercase());
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::Value::from(name)
            );
            assert_eq!(RefundReason::try_from(name.to_owned()), Ok(reason));
        }
        assert!(RefundReason::try_from("Canceled".to_owned()).is_err());
    }
}

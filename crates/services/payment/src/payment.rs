//! The payment aggregate. Charging is idempotent on the order id: the first request decides, and
//! a repeat of it gets the same answer without charging again.

use contracts::{CustomerId, Krw, OrderId, PaymentId, RefundId, RefundReason};
use contracts::{
    PaymentApproved, PaymentRefunded,
    http::{ChargeRequest, PaymentStatus, PaymentView},
};

/// The card token the demo always declines (README, "Demo accounts").
pub const DECLINED_TOKEN: &str = "tok_decline";
pub const MAX_AMOUNT: i64 = 100_000_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(String),
    #[error("order {0} was already charged with different terms")]
    IdempotencyConflict(String),
    #[error("the charge for order {0} was voided: its order was given up")]
    Voided(String),
}

/// The payment of one order: the aggregate the unit of work loads (by order id) and saves.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment(pub PaymentView);

/// A validated charge.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub amount: Krw,
    pub method: String,
    pub card_token: String,
}

impl Charge {
    pub fn parse(
        request: ChargeRequest,
        customer_id: &CustomerId,
        idempotency_key: Option<&str>,
    ) -> Result<Self, DomainError> {
        let invalid = |m: &str| Err(DomainError::Invalid(m.to_owned()));
        if request.order_id.as_str().trim().is_empty() {
            return invalid("orderId is required");
        }
        if customer_id.as_str().trim().is_empty() {
            return invalid("customerId is required");
        }
        if idempotency_key.is_some_and(|key| request.order_id != key) {
            return invalid("the Idempotency-Key header must equal orderId");
        }
        if !(1..=MAX_AMOUNT).contains(&request.amount.won()) {
            return invalid("amount must be between 1 and 100,000,000 KRW");
        }
        if request.method != "card" {
            return invalid("method must be \"card\"");
        }
        if request.card_token.trim().is_empty() || request.card_token.len() > 200 {
            return invalid("cardToken is required");
        }
        Ok(Self {
            order_id: request.order_id,
            customer_id: customer_id.to_owned(),
            amount: request.amount,
            method: request.method,
            card_token: request.card_token,
        })
    }

    /// What the card network says. The demo network approves every token but the declined one.
    pub fn authorize(&self) -> PaymentStatus {
        if self.card_token == DECLINED_TOKEN {
            PaymentStatus::Declined
        } else {
            PaymentStatus::Approved
        }
    }

    /// Decides a new payment: the record to store and, when approved, the event to publish.
    pub fn decide(
        &self,
        payment_id: PaymentId,
        now: i64,
    ) -> (PaymentView, Option<PaymentApproved>) {
        let status = self.authorize();
        let payment = PaymentView {
            payment_id,
            order_id: self.order_id.clone(),
            customer_id: self.customer_id.clone(),
            amount: self.amount,
            method: self.method.clone(),
            status,
            created_at: now,
        };
        let event = (status == PaymentStatus::Approved).then(|| PaymentApproved {
            order_id: payment.order_id.clone(),
            payment_id: payment.payment_id.clone(),
            customer_id: payment.customer_id.clone(),
            amount: payment.amount,
            method: payment.method.clone(),
        });
        (payment, event)
    }

    /// A repeated request is answered with the stored payment only if it asks for the same thing.
    pub fn replay(&self, existing: PaymentView) -> Result<PaymentView, DomainError> {
        if existing.status == PaymentStatus::Voided {
            return Err(DomainError::Voided(self.order_id.to_string()));
        }
        if existing.customer_id == self.customer_id && existing.amount == self.amount {
            Ok(existing)
        } else {
            Err(DomainError::IdempotencyConflict(self.order_id.to_string()))
        }
    }
}

/// Gives the money of an approved payment back; anything else has nothing to refund.
pub fn refund(
    payment: &mut PaymentView,
    refund_id: RefundId,
    reason: RefundReason,
) -> Option<PaymentRefunded> {
    if payment.status != PaymentStatus::Approved {
        return None;
    }
    payment.status = PaymentStatus::Refunded;
    Some(PaymentRefunded {
        order_id: payment.order_id.clone(),
        payment_id: payment.payment_id.clone(),
        refund_id,
        customer_id: payment.customer_id.clone(),
        amount: payment.amount,
        reason,
    })
}

contracts::status! {
    /// Where a refund stands. The card network answers a refund at once here, so every refund
    /// recorded is completed; the status is kept so a slower network can add its steps.
    pub enum RefundStatus {
        Completed,
    }
}

/// The order service gave up on the charge: an approved charge is voided. False when there was
/// nothing to void (declined, refunded or voided already).
pub fn void(payment: &mut PaymentView) -> bool {
    if payment.status != PaymentStatus::Approved {
        return false;
    }
    payment.status = PaymentStatus::Voided;
    true
}

/// The order service gave up on a charge not seen yet: a voided placeholder takes its place, so
/// that if it arrives late it is refused instead of charged.
pub fn voided_placeholder(
    order_id: &OrderId,
    customer_id: &CustomerId,
    payment_id: PaymentId,
    now: i64,
) -> PaymentView {
    PaymentView {
        payment_id,
        order_id: order_id.to_owned(),
        customer_id: customer_id.to_owned(),
        amount: Krw::new(0),
        method: "card".into(),
        status: PaymentStatus::Voided,
        created_at: now,
    }
}

pub fn status_str(status: PaymentStatus) -> &'static str {
    status.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str) -> ChargeRequest {
        ChargeRequest {
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            amount: Krw::new(12_000),
            method: "card".into(),
            card_token: token.into(),
        }
    }

    #[test]
    fn the_demo_decline_token_is_declined_and_publishes_nothing() {
        let charge = Charge::parse(request(DECLINED_TOKEN), &"c-1".into(), Some("o-1")).unwrap();
        let (payment, event) = charge.decide("p-1".into(), 1);
        assert_eq!(payment.status, PaymentStatus::Declined);
        assert!(event.is_none());
    }

    #[test]
    fn an_approved_charge_publishes_payment_approved() {
        let charge = Charge::parse(request("tok_visa"), &"c-1".into(), None).unwrap();
        let (payment, event) = charge.decide("p-1".into(), 1);
        assert_eq!(payment.status, PaymentStatus::Approved);
        assert_eq!(event.unwrap().amount, Krw::new(12_000));
    }

    #[test]
    fn bad_charges_are_refused() {
        let mut bad_amount = request("tok");
        bad_amount.amount = Krw::ZERO;
        let mut bad_method = request("tok");
        bad_method.method = "cash".into();
        for (req, key) in [
            (bad_amount, None),
            (bad_method, None),
            (request(" "), None),
            (request("tok"), Some("o-2")),
        ] {
            assert!(Charge::parse(req, &"c".into(), key).is_err());
        }
    }

    #[test]
    fn a_replay_must_ask_for_the_same_charge() {
        let charge = Charge::parse(request("tok"), &"c-1".into(), None).unwrap();
        let (stored, _) = charge.decide("p-1".into(), 1);
        assert_eq!(charge.replay(stored.clone()).unwrap(), stored);
        let other = Charge::parse(request("tok"), &"c-2".into(), None).unwrap();
        assert!(matches!(
            other.replay(stored),
            Err(DomainError::IdempotencyConflict(_))
        ));
    }

    #[test]
    fn only_an_approved_payment_is_refunded_and_only_once() {
        let charge = Charge::parse(request("tok"), &"c-1".into(), None).unwrap();
        let (mut payment, _) = charge.decide("p-1".into(), 1);
        let refund = refund(&mut payment, "r-1".into(), RefundReason::Canceled).unwrap();
        assert_eq!(refund.amount, Krw::new(12_000));
        assert_eq!(payment.status, PaymentStatus::Refunded);
        assert!(super::refund(&mut payment, "r-2".into(), RefundReason::Canceled).is_none());
        let (mut declined, _) = Charge::parse(request(DECLINED_TOKEN), &"c".into(), None)
            .unwrap()
            .decide("p".into(), 1);
        assert!(super::refund(&mut declined, "r".into(), RefundReason::Rejected).is_none());
    }

    #[test]
    fn a_voided_charge_is_refused_when_it_arrives_late() {
        let placeholder = voided_placeholder(&"o-1".into(), &"c-1".into(), "p-0".into(), 1);
        assert_eq!(placeholder.status, PaymentStatus::Voided);
        let charge = Charge::parse(request("tok"), &"c-1".into(), None).unwrap();
        assert!(matches!(
            charge.replay(placeholder),
            Err(DomainError::Voided(_))
        ));
        let (mut approved, _) = charge.decide("p-1".into(), 1);
        assert!(void(&mut approved));
        assert_eq!(approved.status, PaymentStatus::Voided);
        assert!(!void(&mut approved), "voided once");
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            PaymentStatus::Approved,
            PaymentStatus::Declined,
            PaymentStatus::Voided,
            PaymentStatus::Refunded,
        ] {
            let stored = status_str(s).to_owned();
            assert_eq!(PaymentStatus::try_from(stored), Ok(s));
        }
    }
}

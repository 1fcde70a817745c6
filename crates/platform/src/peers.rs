//! Typed clients of the internal endpoints one service calls on another (`contracts::http`). Each
//! call's method, path, body and idempotency key are written here once; the caller gets the
//! contract's type back, or a `CallError` to map with `CallError::fallback`.

use contracts::{
    OrderId,
    http::{ChargeRequest, OrderSummary, PaymentView},
};
use http::Method;

use crate::client::{CallError, ResilientClient};

/// The payment service, as the order service calls it.
#[derive(Clone)]
pub struct Payments(ResilientClient);

impl Payments {
    pub fn new(client: ResilientClient) -> Self {
        Self(client)
    }

    /// Charges an order. The order id is the idempotency key, so a charge retried after a lost
    /// answer is the same charge, never a second one.
    pub async fn charge(&self, charge: &ChargeRequest) -> Result<PaymentView, CallError> {
        let key = charge.order_id.as_str();
        self.0
            .json(Method::POST, "/internal/payments", Some(charge), Some(key))
            .await
    }
}

/// The order service, as the review service calls it.
#[derive(Clone)]
pub struct Orders(ResilientClient);

impl Orders {
    pub fn new(client: ResilientClient) -> Self {
        Self(client)
    }

    /// Whose an order is and where it stands.
    pub async fn summary(&self, order_id: &OrderId) -> Result<OrderSummary, CallError> {
        let path = format!("/internal/orders/{order_id}");
        self.0.json(Method::GET, &path, None::<&()>, None).await
    }
}

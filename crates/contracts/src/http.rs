//! Bodies of the synchronous calls between services.

use serde::{Deserialize, Serialize};

use crate::{CustomerId, Krw, OrderId, OrderStatus, PaymentId, StoreId};

/// Header that makes a state-changing call safe to repeat: the order id for payments.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// order → payment: charge the customer for an order. Repeating it with the same order id returns
/// the first outcome and never charges twice.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeRequest {
    pub order_id: OrderId,
    /// Who pays: the order's customer (the order service has checked the caller).
    pub customer_id: CustomerId,
    /// KRW
    pub amount: Krw,
    pub method: String,
    pub card_token: String,
}

#[derive(
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
)]
pub enum PaymentStatus {
    Approved,
    Declined,
    Voided,
    Refunded,
}

crate::stored_by_name!(PaymentStatus);

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub payment_id: PaymentId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub amount: Krw,
    pub method: String,
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "String"))]
    pub status: PaymentStatus,
    pub created_at: i64,
}

/// review → order: the facts of an order another service may check (`GET /internal/orders/{id}`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub store_id: StoreId,
    pub status: OrderStatus,
}

//! HTTP commands and queries of the payment service.

use axum::{
    Router,
    extract::{FromRef, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use contracts::{
    CustomerId, OrderId,
    http::{ChargeRequest, IDEMPOTENCY_KEY, PaymentStatus, PaymentView},
};
use platform::{
    ApiError, ApiResult, AuthKeys, Db, Identity, Role, ServiceName, UnitOfWork,
    auth::ServiceCaller,
    http::{Json, Limit, Paged, Path},
};

use crate::{
    commands, db,
    payment::{Charge, DomainError},
    views,
};

/// What handlers share; `FromRef` lets extractors take one part (the auth keys) of it.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub auth: AuthKeys,
    pub work: UnitOfWork,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/payments", get(list_payments))
        .route("/payments/{order_id}", get(get_payment))
        .route("/internal/payments", post(charge))
        .with_state(state)
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(detail) => ApiError::unprocessable("invalid-charge", detail),
            error @ DomainError::IdempotencyConflict(_) => {
                ApiError::conflict("idempotency-conflict", error.to_string())
            }
            error @ DomainError::Voided(_) => {
                ApiError::conflict("payment-voided", error.to_string())
            }
        }
    }
}

/// The answer for a decided payment: 201 with the payment, or 402 when the card was declined.
fn outcome(payment: PaymentView) -> ApiResult<(StatusCode, Json<PaymentView>)> {
    match payment.status {
        PaymentStatus::Declined => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "card-declined",
            "the card was declined; use another card",
        )),
        _ => Ok((StatusCode::CREATED, Json(payment))),
    }
}

/// Charges a customer for an order. Idempotent on the order id. Only the order service may ask:
/// it has checked the customer and priced the order.
async fn charge(
    State(state): State<AppState>,
    caller: ServiceCaller,
    headers: HeaderMap,
    Json(body): Json<ChargeRequest>,
) -> ApiResult<(StatusCode, Json<PaymentView>)> {
    caller.require(&[ServiceName::Order])?;
    let key = headers.get(IDEMPOTENCY_KEY).and_then(|v| v.to_str().ok());
    let customer_id = body.customer_id.clone();
    let charge = Charge::parse(body, &customer_id, key)?;
    let payment = commands::charge(&state, charge).await?;
    outcome(payment)
}

#[utoipa::path(
    get,
    path = "/payments/{orderId}",
    tag = "payment",
    responses(
        (status = 200, description = "the payment of an order, with its refund", body = PaymentDetail),
        (status = 404, description = "there is no payment of yours for this order (`code`: payment-not-found)")
    )
)]
async fn get_payment(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<OrderId>,
) -> ApiResult<Json<PaymentDetail>> {
    caller.require_any(&[Role::Customer, Role::Admin])?;
    let mut conn = state.db.reader().acquire().await?;
    let payment = db::find_by_order(&mut conn, &order_id)
        .await?
        .filter(|p| caller.role == Role::Admin || p.customer_id == caller.customer_id())
        .ok_or_else(|| ApiError::not_found("payment-not-found", "no payment for that order"))?;
    let refund = views::find_refund(&mut conn, &order_id).await?;
    Ok(Json(PaymentDetail { payment, refund }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PaymentDetail {
    #[serde(flatten)]
    payment: PaymentView,
    refund: Option<views::RefundView>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    customer_id: Option<CustomerId>,
}

/// Recent payments: admins see everyone's (optionally one customer's), customers their own.
#[utoipa::path(
    get,
    path = "/payments",
    tag = "payment",
    params(ListQuery, Limit<50, 500>),
    responses(
        (status = 200, description = "the customer's payments, newest first", body = Vec<PaymentView>),
        (status = 400, description = "a query parameter is malformed (`code`: invalid-limit, invalid-query)")
    )
)]
async fn list_payments(
    State(state): State<AppState>,
    caller: Identity,
    Paged { limit, query }: Paged<50, 500, ListQuery>,
) -> ApiResult<Json<Vec<PaymentView>>> {
    caller.require_any(&[Role::Customer, Role::Admin])?;
    let customer = match caller.role {
        Role::Admin => query.customer_id,
        _ => Some(caller.customer_id()),
    };
    let mut conn = state.db.reader().acquire().await?;
    Ok(Json(
        views::recent(&mut conn, customer.as_ref(), limit).await?,
    ))
}

/// The routes this service answers through the gateway, described for the merged OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_payments, get_payment))]
struct ApiDoc;

/// This service's part of the public API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

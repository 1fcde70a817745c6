//! What a customer may ask of the order service: place an order, cancel it, confirm its receipt.
//! Each command checks who asks, runs the order's decision (`order.rs`) through the unit of work,
//! and returns the order as it now is; `api.rs` turns that into the answer.

use std::time::Duration;

use axum::http::StatusCode;
use contracts::{CustomerId, OrderId, http::ChargeRequest};
use platform::{
    ApiError, ApiResult, Decision, Identity, Role, ServiceName, WorkError, client::CallError,
    db::now_ms, unit::Exists,
};

use crate::{
    api::{AppState, order_not_found},
    db,
    order::{Order, OrderError, OrderStatus, PlaceOrder, RequestKey, price},
};

/// How long a repeated request waits for the first one (same `Idempotency-Key`) to finish.
const SAME_REQUEST_WAIT: Duration = Duration::from_secs(5);

/// Scenario step 2: a customer places an order. It is priced from the menu replica and recorded
/// `PaymentPending` before the card is charged, so a crash between the charge and the order
/// leaves an order that knows of the charge; the charge's outcome then places it, or ends it
/// with no order. A repeated `Idempotency-Key` gets the first request's outcome.
pub async fn place(
    state: &AppState,
    customer: CustomerId,
    request: PlaceOrder,
    request_key: Option<RequestKey>,
) -> ApiResult<Order> {
    if let Some(key) = &request_key
        && let Some(existing) = find_by_request(state, &customer, &key.key).await?
    {
        return same_request(state, existing, key).await;
    }
    let menu = {
        let mut conn = state.db.reader().acquire().await?;
        db::find_menu(&mut conn, &request.store_id)
            .await?
            .ok_or_else(|| ApiError::not_found("store-not-found", "there is no such store"))?
    };
    let priced = price(&menu, &request.items)?;
    let order = Order::pending(
        OrderId::generate(),
        customer.clone(),
        &menu,
        priced,
        request.delivery_address,
        request_key.clone(),
        now_ms(),
    );
    match state.work.create(&order, []).await {
        Ok(()) => {}
        Err(WorkError::Refused(Exists)) => {
            // A concurrent twin with the same key was first.
            let key = request_key
                .as_ref()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("order id collided")))?;
            let existing = find_by_request(state, &customer, &key.key)
                .await?
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("order of a request vanished"))
                })?;
            return same_request(state, existing, key).await;
        }
        Err(error) => return Err(error.into()),
    }

    let charge = ChargeRequest {
        order_id: order.order_id.clone(),
        customer_id: order.customer_id.clone(),
        amount: order.amount,
        method: "card".into(),
        card_token: request.card_token,
    };
    let outcome = state.payments.charge(&charge).await;
    // Only this request moves a `PaymentPending` order (or the payment deadline, long after):
    // should the deadline have moved it meanwhile, the domain refuses and says so.
    let order_id = order.order_id.clone();
    match outcome {
        Ok(payment) => {
            let order = state
                .work
                .change::<Order, _>(&order_id, |order| {
                    order
                        .paid(payment.payment_id.clone())
                        .map(Decision::publish)
                })
                .await?;
            tracing::info!(order_id = %order.order_id, amount = order.amount.won(), "order placed");
            Ok(order)
        }
        Err(CallError::Rejected { status, .. }) if status == StatusCode::PAYMENT_REQUIRED => {
            state
                .work
                .change::<Order, _>(&order_id, |order| {
                    order.declined().map(|()| Decision::quiet())
                })
                .await?;
            Err(declined())
        }
        Err(error) => {
            // Only a definite refusal means no charge exists; after anything else it may, or
            // may still land: have it voided (or refused when it arrives late), durably, with
            // the order's end. Should this fail too, the order stays PaymentPending and the
            // payment deadline settles it.
            state
                .work
                .change::<Order, _>(&order_id, |order| {
                    order.payment_failed().map(Decision::publish)
                })
                .await?;
            Err(payment_failure(error))
        }
    }
}

async fn find_by_request(
    state: &AppState,
    customer_id: &CustomerId,
    key: &str,
) -> ApiResult<Option<Order>> {
    let mut conn = state.db.reader().acquire().await?;
    Ok(db::find_by_request(&mut conn, customer_id, key).await?)
}

/// Answers a repeated request with what the first one got, waiting a little while the first
/// one is still being paid for.
async fn same_request(state: &AppState, mut order: Order, key: &RequestKey) -> ApiResult<Order> {
    if order.request.as_ref().map(|r| &r.fingerprint) != Some(&key.fingerprint) {
        return Err(ApiError::conflict(
            "idempotency-key-reused",
            "this Idempotency-Key was used for a different order; use a new key for a new order",
        ));
    }
    let deadline = tokio::time::Instant::now() + SAME_REQUEST_WAIT;
    while order.status == OrderStatus::PaymentPending && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut conn = state.db.reader().acquire().await?;
        order = db::find_order(&mut conn, &order.order_id)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("order vanished")))?;
    }
    match order.status {
        OrderStatus::PaymentPending => Err(ApiError::conflict(
            "request-in-progress",
            "the first request with this Idempotency-Key is still being paid for; retry shortly",
        )),
        OrderStatus::PaymentDeclined => Err(declined()),
        OrderStatus::PaymentFailed => Err(payment_failure(CallError::Unavailable {
            peer: ServiceName::Payment.to_string(),
            reason: "the first request with this key could not reach payment".into(),
        })),
        _ => Ok(order),
    }
}

/// Scenario step 6: the customer asks to cancel; the store decides (until cooking starts).
pub async fn cancel(state: &AppState, caller: &Identity, order_id: &OrderId) -> ApiResult<Order> {
    change_own(state, caller, order_id, Order::request_cancel).await
}

/// Scenario step 11: the customer got the food.
pub async fn confirm_receipt(
    state: &AppState,
    caller: &Identity,
    order_id: &OrderId,
) -> ApiResult<Order> {
    change_own(state, caller, order_id, Order::confirm_receipt).await
}

/// Changes one of the caller's orders through the unit of work: someone else's order, or one not
/// placed yet, is no order at all.
async fn change_own<E: Into<contracts::Event>>(
    state: &AppState,
    caller: &Identity,
    order_id: &OrderId,
    decide: impl Fn(&mut Order) -> Result<Option<E>, OrderError> + Send + Sync,
) -> ApiResult<Order> {
    caller.require(Role::Customer)?;
    Ok(state
        .work
        .change::<Order, ApiError>(order_id, |order| {
            if order.customer_id != caller.customer_id() || !order.status.is_placed() {
                return Err(order_not_found());
            }
            Ok(decide(order)?.into())
        })
        .await?)
}

fn declined() -> ApiError {
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        "payment-declined",
        "the card was declined; no order was placed",
    )
}

/// The fallback of the payment call: a declined card is the customer's to fix (402); an
/// unavailable payment service means "try again later" (503), and no order is placed.
fn payment_failure(error: CallError) -> ApiError {
    error.fallback(
        "payment-unavailable",
        "payment is temporarily unavailable; no order was placed, please try again later",
        |status, problem| match status {
            StatusCode::PAYMENT_REQUIRED => declined(),
            _ => ApiError::unprocessable(
                "payment-refused",
                problem
                    .map(|p| p.detail)
                    .unwrap_or_else(|| "the payment was refused".into()),
            ),
        },
    )
}

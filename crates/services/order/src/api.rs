//! HTTP commands and queries of the order service.

use axum::{
    Router,
    extract::{FromRef, State},
    http::{Method, StatusCode},
    routing::{get, post},
};
use contracts::http::{ChargeRequest, PaymentView};
use platform::{
    ApiError, ApiResult, AuthKeys, Db, Identity, Role,
    client::{CallError, ResilientClient},
    db::now_ms,
    http::{Json, Path, Query},
    outbox::{self, OutboxSignal},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    db,
    domain::{Order, OrderError, PlaceOrder, parse_address, price},
    views::{self, MypageOrder},
};

/// What handlers share; `FromRef` lets extractors take one part (the auth keys) of it.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub auth: AuthKeys,
    pub outbox: OutboxSignal,
    pub payment: ResilientClient,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orders", post(place_order))
        .route("/orders/{order_id}", get(get_order))
        .route("/orders/{order_id}/cancel", post(cancel_order))
        .route("/orders/{order_id}/confirm-receipt", post(confirm_receipt))
        .route("/mypage/orders", get(mypage_list))
        .route("/mypage/orders/{order_id}", get(mypage_order))
        .with_state(state)
}

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> Self {
        let detail = error.to_string();
        match error {
            OrderError::Invalid(_) => ApiError::unprocessable("invalid-order", detail),
            OrderError::StoreClosed => ApiError::conflict("store-closed", detail),
            OrderError::UnknownFood(_) => ApiError::unprocessable("unknown-food", detail),
            OrderError::SoldOut(_) => ApiError::conflict("sold-out", detail),
            OrderError::CancelTooLate => ApiError::conflict("cancel-too-late", detail),
            OrderError::InvalidTransition { .. } => {
                ApiError::conflict("invalid-transition", detail)
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlaceOrderBody {
    store_id: String,
    items: Vec<ItemBody>,
    delivery_address: AddressBody,
    payment: PaymentBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ItemBody {
    food_id: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    text: String,
    lat: f64,
    lng: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PaymentBody {
    method: String,
    card_token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Placed {
    order_id: String,
    status: &'static str,
    amount: i64,
}

/// Scenario steps 1–2: price the order from the menu replica, charge the customer synchronously,
/// and only then store the order with its `OrderPlaced` event. No payment, no order.
async fn place_order(
    State(state): State<AppState>,
    caller: Identity,
    Json(body): Json<PlaceOrderBody>,
) -> ApiResult<(StatusCode, Json<Placed>)> {
    caller.require(Role::Customer)?;
    let address = parse_address(
        &body.delivery_address.text,
        body.delivery_address.lat,
        body.delivery_address.lng,
    )?;
    let request = PlaceOrder::parse(
        body.store_id,
        body.items
            .into_iter()
            .map(|i| (i.food_id, i.quantity))
            .collect(),
        address,
        &body.payment.method,
        body.payment.card_token,
    )?;
    let menu = {
        let mut conn = state.db.pool().acquire().await?;
        db::find_menu(&mut conn, &request.store_id)
            .await?
            .ok_or_else(|| ApiError::not_found("store-not-found", "there is no such store"))?
    };
    let priced = price(&menu, &request.items)?;
    let order_id = Uuid::now_v7().to_string();
    let charge = ChargeRequest {
        order_id: order_id.clone(),
        amount: priced.amount,
        method: "card".into(),
        card_token: request.card_token.clone(),
    };
    let payment: PaymentView = match state
        .payment
        .json(
            Method::POST,
            "/payments",
            Some(&charge),
            Some(&caller.token),
            Some(&order_id),
        )
        .await
    {
        Ok(payment) => payment,
        Err(error) => {
            // Only a definite refusal means no charge exists; after anything else it may.
            if !matches!(error, CallError::Rejected { .. }) {
                // We give up on this charge, but it may still land: have it voided (or refused
                // when it arrives late) so nobody is charged for an order that does not exist.
                void_charge(&state, &order_id, &caller.subject_id).await?;
            }
            return Err(payment_failure(error));
        }
    };
    let (order, placed) = Order::place(
        order_id,
        caller.subject_id.clone(),
        &menu,
        priced,
        request.delivery_address,
        payment.payment_id,
        now_ms(),
    );
    if let Err(error) = store_placed_order(&state, &order, placed).await {
        // Charged but not stored: give the money back rather than keep it for nothing.
        if let Err(void_error) = void_charge(&state, &order.order_id, &order.customer_id).await {
            tracing::error!(order_id = %order.order_id, error = %void_error,
                "charged order could not be stored nor its charge voided");
        }
        return Err(error);
    }
    tracing::info!(order_id = %order.order_id, amount = order.amount, "order placed");
    Ok((
        StatusCode::CREATED,
        Json(Placed {
            order_id: order.order_id,
            status: order.status.as_str(),
            amount: order.amount,
        }),
    ))
}

async fn store_placed_order(
    state: &AppState,
    order: &Order,
    placed: contracts::OrderPlaced,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    db::insert_order(&mut tx, order).await?;
    outbox::enqueue(&mut tx, [placed]).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

/// The compensation of the synchronous charge, written durably: the payment service voids it.
async fn void_charge(state: &AppState, order_id: &str, customer_id: &str) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    outbox::enqueue(
        &mut tx,
        [contracts::PaymentVoidRequested {
            order_id: order_id.to_owned(),
            customer_id: customer_id.to_owned(),
        }],
    )
    .await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(())
}

/// The fallback of the payment call: a declined card is the customer's to fix (402); an
/// unavailable payment service means "try again later" (503), and no order is placed.
fn payment_failure(error: CallError) -> ApiError {
    match error {
        CallError::Rejected { status, .. } if status == StatusCode::PAYMENT_REQUIRED => {
            ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment-declined",
                "the card was declined; no order was placed",
            )
        }
        CallError::Rejected { problem, .. } => ApiError::unprocessable(
            "payment-refused",
            problem
                .map(|p| p.detail)
                .unwrap_or_else(|| "the payment was refused".into()),
        ),
        CallError::Unavailable { reason, .. } => {
            tracing::warn!(%reason, "payment unavailable; order not placed");
            ApiError::unavailable(
                "payment-unavailable",
                "payment is temporarily unavailable; no order was placed, please try again later",
            )
        }
        error @ CallError::Contract { .. } => ApiError::internal(error),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderView {
    order_id: String,
    customer_id: String,
    store_id: String,
    store_name: String,
    status: &'static str,
    amount: i64,
    items: Vec<contracts::OrderLine>,
    delivery_address: contracts::DeliveryAddress,
    payment_id: String,
    placed_at: i64,
    ready_at: Option<i64>,
    cancel_refusal: Option<String>,
}

fn order_not_found() -> ApiError {
    ApiError::not_found("order-not-found", "there is no such order of yours")
}

async fn get_order(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    caller.require_any(&[Role::Customer, Role::Admin])?;
    let mut conn = state.db.pool().acquire().await?;
    let order = db::find_order(&mut conn, &order_id)
        .await?
        // Someone else's order looks like no order at all: ids are not a way to probe.
        .filter(|o| caller.role == Role::Admin || o.customer_id == caller.subject_id)
        .ok_or_else(order_not_found)?;
    Ok(Json(OrderView {
        order_id: order.order_id,
        customer_id: order.customer_id,
        store_id: order.store_id,
        store_name: order.store_name,
        status: order.status.as_str(),
        amount: order.amount,
        items: order.items,
        delivery_address: order.delivery_address,
        payment_id: order.payment_id,
        placed_at: order.placed_at,
        ready_at: order.ready_at,
        cancel_refusal: order.cancel_refusal,
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusView {
    order_id: String,
    status: &'static str,
}

/// Loads one of the caller's orders, lets the domain decide, saves it over the version read and
/// writes what it caused; a concurrent change (a store event) is retried on fresh state.
async fn customer_command<E: Into<contracts::Event>>(
    state: &AppState,
    caller: &Identity,
    order_id: &str,
    decide: impl Fn(&mut Order) -> Result<Option<E>, OrderError>,
) -> ApiResult<Order> {
    caller.require(Role::Customer)?;
    for _ in 0..3 {
        let mut tx = state.db.begin().await?;
        let mut order = db::find_order(&mut tx, order_id)
            .await?
            .filter(|o| o.customer_id == caller.subject_id)
            .ok_or_else(order_not_found)?;
        let Some(event) = decide(&mut order)? else {
            return Ok(order);
        };
        if !db::save_order(&mut tx, &order).await? {
            continue;
        }
        outbox::enqueue(&mut tx, [event]).await?;
        tx.commit().await?;
        state.outbox.wake();
        return Ok(order);
    }
    Err(ApiError::conflict(
        "concurrent-change",
        "the order is changing right now; try again",
    ))
}

/// Scenario step 6: the customer asks to cancel; the store decides (until cooking starts).
async fn cancel_order(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<String>,
) -> ApiResult<(StatusCode, Json<StatusView>)> {
    let order = customer_command(&state, &caller, &order_id, Order::request_cancel).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StatusView {
            order_id: order.order_id,
            status: order.status.as_str(),
        }),
    ))
}

/// Scenario step 11: the customer got the food.
async fn confirm_receipt(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<String>,
) -> ApiResult<Json<StatusView>> {
    let order = customer_command(&state, &caller, &order_id, Order::confirm_receipt).await?;
    Ok(Json(StatusView {
        order_id: order.order_id,
        status: order.status.as_str(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<i64>,
    before: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    orders: Vec<MypageOrder>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    next_before: Option<i64>,
}

async fn mypage_list(
    State(state): State<AppState>,
    caller: Identity,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page>> {
    caller.require(Role::Customer)?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid-limit",
            "limit must be 1 to 100",
        ));
    }
    let mut conn = state.db.pool().acquire().await?;
    let orders = views::list(&mut conn, &caller.subject_id, query.before, limit).await?;
    let next_before = (orders.len() as i64 == limit)
        .then(|| orders.last().map(|o| o.placed_at))
        .flatten();
    Ok(Json(Page {
        orders,
        next_before,
    }))
}

async fn mypage_order(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<String>,
) -> ApiResult<Json<MypageOrder>> {
    caller.require(Role::Customer)?;
    let mut conn = state.db.pool().acquire().await?;
    views::find(&mut conn, &caller.subject_id, &order_id)
        .await?
        .map(Json)
        .ok_or_else(order_not_found)
}

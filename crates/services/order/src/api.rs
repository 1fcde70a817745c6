//! HTTP commands and queries of the order service.

use contracts::{CustomerId, Krw, OrderId, PaymentId, StoreId};

use axum::{
    Router,
    extract::{FromRef, State},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{KeepAliveStream, Sse},
    },
    routing::{get, post},
};
use contracts::http::{IDEMPOTENCY_KEY, OrderSummary};
use platform::{
    ApiError, ApiResult, AuthKeys, Db, Identity, Role, ServiceName, UnitOfWork,
    auth::ServiceCaller,
    http::{Json, Limit, Paged, Path},
    live::{Events, LastEventId, Live, Shown, Start},
    peers::Payments,
};
use serde::{Deserialize, Serialize};

use crate::{
    commands, db,
    order::{Order, OrderError, OrderStatus, PlaceOrder, RequestKey, parse_address},
    views::{self, MypageOrder},
};

/// What handlers share; `FromRef` lets extractors take one part (the auth keys) of it.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub auth: AuthKeys,
    pub work: UnitOfWork,
    pub payments: Payments,
    /// Each stage's deadline, for the stuck-saga list.
    pub stuck: std::sync::Arc<Vec<(OrderStatus, u64)>>,
    pub live: Live,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orders", post(place_order))
        .route("/orders/{order_id}", get(get_order))
        .route("/orders/{order_id}/events", get(order_events))
        .route("/orders/{order_id}/cancel", post(cancel_order))
        .route("/orders/{order_id}/confirm-receipt", post(confirm_receipt))
        .route("/mypage/orders", get(mypage_list))
        .route("/mypage/orders/{order_id}", get(mypage_order))
        .route("/internal/orders/{order_id}", get(order_summary))
        .route("/admin/sagas/stuck", get(stuck_sagas))
        .with_state(state)
}

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> Self {
        let detail = error.to_string();
        match error {
            OrderError::Invalid(_) => ApiError::unprocessable("invalid-order", detail),
            OrderError::StoreClosed => ApiError::conflict("store-closed", detail),
            // Like a sold-out food: the order does not fit the store's menu as it is now.
            OrderError::UnknownFood(_) => ApiError::conflict("unknown-food", detail),
            OrderError::SoldOut(_) => ApiError::conflict("sold-out", detail),
            OrderError::CancelTooLate => ApiError::conflict("cancel-too-late", detail),
            OrderError::InvalidTransition { .. } => {
                ApiError::conflict("invalid-transition", detail)
            }
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlaceOrderBody {
    #[schema(value_type = String, pattern = "\\S")]
    store_id: StoreId,
    #[schema(min_items = 1, max_items = 30)]
    items: Vec<ItemBody>,
    delivery_address: AddressBody,
    payment: PaymentBody,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ItemBody {
    #[schema(pattern = "\\S")]
    food_id: String,
    #[schema(minimum = 1, maximum = 99)]
    #[serde(deserialize_with = "platform::http::whole_number")]
    quantity: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    text: String,
    #[schema(minimum = -90, maximum = 90)]
    lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    lng: f64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PaymentBody {
    #[schema(pattern = "^card$")]
    method: String,
    #[schema(max_length = 200, pattern = "\\S")]
    card_token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Placed {
    order_id: OrderId,
    status: OrderStatus,
    amount: Krw,
}

/// Scenario steps 1–2: price the order from the menu replica, record it as `PaymentPending`,
/// charge the customer synchronously, and only then place it with its `OrderPlaced` event. No
/// payment, no order; and no charge without an order that knows of it, whenever a crash comes.
///
/// With an `Idempotency-Key`, the same key and request give the same order (and one charge),
/// however often and however concurrently they are sent; another request with the key is 409.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "order",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", description = "the same key and body give the same order and one charge, however often sent")),
    request_body = PlaceOrderBody,
    responses(
        (status = 201, description = "paid and placed", body = Placed, links(
            ("GetOrder" = (operation_id = "get_order", parameters(("orderId" = "$response.body#/orderId")))),
            ("CancelOrder" = (operation_id = "cancel_order", parameters(("orderId" = "$response.body#/orderId")))),
            ("ConfirmReceipt" = (operation_id = "confirm_receipt", parameters(("orderId" = "$response.body#/orderId")))),
            ("GetMypageOrder" = (operation_id = "mypage_order", parameters(("orderId" = "$response.body#/orderId")))),
            ("GetPayment" = (operation_id = "get_payment", parameters(("orderId" = "$response.body#/orderId"))))
        )),
        (status = 402, description = "the card was declined; no order was placed (`code`: payment-declined)"),
        (status = 404, description = "there is no such store (`code`: store-not-found)"),
        (status = 409, description = "the order cannot be taken as asked: the store's menu as it is now cannot fill it, or the key was used (`code`: store-closed, sold-out, unknown-food, idempotency-key-reused, request-in-progress)"),
        (status = 422, description = "the order is not valid (`code`: invalid-order, payment-refused, invalid-body)"),
        (status = 503, description = "payment is unavailable; no order was placed (`code`: payment-unavailable)")
    )
)]
async fn place_order(
    State(state): State<AppState>,
    caller: Identity,
    headers: HeaderMap,
    Json(body): Json<PlaceOrderBody>,
) -> ApiResult<Response> {
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
    let request_key = match headers.get(IDEMPOTENCY_KEY) {
        Some(value) => Some(RequestKey::parse(
            value.to_str().unwrap_or_default(),
            &request,
        )?),
        None => None,
    };
    let order = commands::place(&state, caller.customer_id(), request, request_key).await?;
    Ok(placed_answer(&order))
}

fn placed_answer(order: &Order) -> Response {
    (
        StatusCode::CREATED,
        Json(Placed {
            order_id: order.order_id.clone(),
            status: OrderStatus::Placed,
            amount: order.amount,
        }),
    )
        .into_response()
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct OrderView {
    order_id: OrderId,
    customer_id: CustomerId,
    store_id: StoreId,
    store_name: String,
    status: OrderStatus,
    amount: Krw,
    items: Vec<contracts::OrderLine>,
    delivery_address: contracts::DeliveryAddress,
    /// Set once the charge is approved, which it is for every order a customer sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_id: Option<PaymentId>,
    placed_at: i64,
    ready_at: Option<i64>,
    cancel_refusal: Option<String>,
}

pub(crate) fn order_not_found() -> ApiError {
    platform::unit::not_found::<Order>()
}

/// The order as its customer (or an admin) may see it. Someone else's order looks like no order
/// at all: ids are not a way to probe. Nor is there an order until its charge was approved.
async fn visible_order(
    state: &AppState,
    caller: &Identity,
    order_id: &OrderId,
) -> ApiResult<Order> {
    caller.require_any(&[Role::Customer, Role::Admin])?;
    let mut conn = state.db.reader().acquire().await?;
    db::find_order(&mut conn, order_id)
        .await?
        .filter(|o| caller.role == Role::Admin || o.customer_id == caller.customer_id())
        .filter(|o| o.status.is_placed())
        .ok_or_else(order_not_found)
}

#[utoipa::path(
    get,
    path = "/orders/{orderId}",
    tag = "order",
    responses(
        (status = 200, description = "the order", body = OrderView),
        (status = 404, description = "there is no such order of yours (`code`: order-not-found)")
    )
)]
async fn get_order(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<OrderId>,
) -> ApiResult<Json<OrderView>> {
    let order = visible_order(&state, &caller, &order_id).await?;
    Ok(Json(OrderView {
        order_id: order.order_id,
        customer_id: order.customer_id,
        store_id: order.store_id,
        store_name: order.store_name,
        status: order.status,
        amount: order.amount,
        items: order.items,
        delivery_address: order.delivery_address,
        payment_id: order.payment_id,
        placed_at: order.placed_at,
        ready_at: order.ready_at,
        cancel_refusal: order.cancel_refusal,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct StatusView {
    order_id: OrderId,
    status: OrderStatus,
}

/// Scenario step 6: the customer asks to cancel; the store decides (until cooking starts).
#[utoipa::path(
    post,
    path = "/orders/{orderId}/cancel",
    tag = "order",
    responses(
        (status = 202, description = "asked: the store decides", body = StatusView),
        (status = 404, description = "there is no such order of yours (`code`: order-not-found)"),
        (status = 409, description = "cooking started, or the order is past canceling (`code`: cancel-too-late, invalid-transition, concurrent-change)")
    )
)]
async fn cancel_order(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<OrderId>,
) -> ApiResult<(StatusCode, Json<StatusView>)> {
    let order = commands::cancel(&state, &caller, &order_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StatusView {
            order_id: order.order_id,
            status: order.status,
        }),
    ))
}

/// Scenario step 11: the customer got the food.
#[utoipa::path(
    post,
    path = "/orders/{orderId}/confirm-receipt",
    tag = "order",
    responses(
        (status = 200, description = "completed", body = StatusView),
        (status = 404, description = "there is no such order of yours (`code`: order-not-found)"),
        (status = 409, description = "the order was not delivered yet (`code`: invalid-transition, concurrent-change)")
    )
)]
async fn confirm_receipt(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<OrderId>,
) -> ApiResult<Json<StatusView>> {
    let order = commands::confirm_receipt(&state, &caller, &order_id).await?;
    Ok(Json(StatusView {
        order_id: order.order_id,
        status: order.status,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    before: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Page {
    orders: Vec<MypageOrder>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    next_before: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/mypage/orders",
    tag = "order",
    params(PageQuery, Limit<20, 100>),
    responses(
        (status = 200, description = "the customer's orders, newest first", body = Page, links(
            ("GetMypageOrder" = (operation_id = "mypage_order", parameters(("orderId" = "$response.body#/orders/0/orderId"))))
        )),
        (status = 400, description = "a query parameter is malformed (`code`: invalid-limit, invalid-query)")
    )
)]
async fn mypage_list(
    State(state): State<AppState>,
    caller: Identity,
    Paged { limit, query }: Paged<20, 100, PageQuery>,
) -> ApiResult<Json<Page>> {
    caller.require(Role::Customer)?;
    let mut conn = state.db.reader().acquire().await?;
    let orders = views::list(&mut conn, &caller.customer_id(), query.before, limit).await?;
    let next_before = (orders.len() as i64 == limit)
        .then(|| orders.last().map(|o| o.placed_at))
        .flatten();
    Ok(Json(Page {
        orders,
        next_before,
    }))
}

#[utoipa::path(
    get,
    path = "/mypage/orders/{orderId}",
    tag = "order",
    responses(
        (status = 200, description = "the order with its timeline", body = MypageOrder),
        (status = 404, description = "there is no such order of yours (`code`: order-not-found)")
    )
)]
async fn mypage_order(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<OrderId>,
) -> ApiResult<Json<MypageOrder>> {
    caller.require(Role::Customer)?;
    let mut conn = state.db.reader().acquire().await?;
    views::find(&mut conn, &caller.customer_id(), &order_id)
        .await?
        .map(Json)
        .ok_or_else(order_not_found)
}

/// The order as it moves, live (Server-Sent Events): its mypage entry each time a step is added,
/// from the first step, or after `Last-Event-ID` when the client comes back.
#[utoipa::path(
    get,
    path = "/orders/{orderId}/events",
    tag = "order",
    params(LastEventId),
    responses(
        (status = 200, description = "a stream of `order` events, each the order with its timeline and when it changed; a `reset` event when the changes since `Last-Event-ID` are no longer kept (read the order again); a comment line every 15 s", content_type = "text/event-stream", body = views::MypageChange),
        (status = 400, description = "an unusable `Last-Event-ID` (`code`: invalid-last-event-id)"),
        (status = 404, description = "there is no such order of yours (`code`: order-not-found)")
    )
)]
async fn order_events(
    State(state): State<AppState>,
    caller: Identity,
    Path(order_id): Path<OrderId>,
    resume: LastEventId,
) -> ApiResult<Sse<KeepAliveStream<Events>>> {
    // Authorized like `GET /orders/{orderId}`.
    visible_order(&state, &caller, &order_id).await?;
    state
        .live
        .stream(
            views::LIVE_FEED,
            order_id.into_string(),
            resume,
            Start::Beginning,
            |_| Shown::AsIs,
        )
        .await
}

/// For the review service: who ordered and where the order stands. Only services call it.
async fn order_summary(
    State(state): State<AppState>,
    caller: ServiceCaller,
    Path(order_id): Path<OrderId>,
) -> ApiResult<Json<OrderSummary>> {
    caller.require(&[ServiceName::Review])?;
    let mut conn = state.db.reader().acquire().await?;
    let order = db::find_order(&mut conn, &order_id)
        .await?
        .filter(|o| o.status.is_placed())
        .ok_or_else(|| ApiError::not_found("order-not-found", "there is no such order"))?;
    Ok(Json(OrderSummary {
        order_id: order.order_id,
        customer_id: order.customer_id,
        store_id: order.store_id,
        status: order.status,
    }))
}

/// For operators: the orders stuck past their stage's deadline, per stage.
#[utoipa::path(
    get,
    path = "/admin/sagas/stuck",
    tag = "order",
    responses(
        (status = 200, description = "orders past their stage's deadline, per stage", body = Vec<crate::jobs::StuckStage>)
    )
)]
async fn stuck_sagas(
    State(state): State<AppState>,
    caller: Identity,
) -> ApiResult<Json<Vec<crate::jobs::StuckStage>>> {
    caller.require(Role::Admin)?;
    let mut conn = state.db.reader().acquire().await?;
    Ok(Json(crate::jobs::stuck(&mut conn, &state.stuck).await?))
}

/// The routes this service answers through the gateway, described for the merged OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    place_order,
    get_order,
    order_events,
    cancel_order,
    confirm_receipt,
    mypage_list,
    mypage_order,
    stuck_sagas
))]
struct ApiDoc;

/// This service's part of the public API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

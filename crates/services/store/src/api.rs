//! HTTP commands and queries of the store service.

use axum::{
    Router,
    extract::{FromRef, State},
    http::StatusCode,
    response::sse::{KeepAliveStream, Sse},
    routing::{get, post, put},
};
use contracts::{FoodId, Krw, OrderId, OwnerId, StoreId};
use platform::{
    ApiError, ApiResult, AuthKeys, Db, Identity, Role, UnitOfWork,
    http::{Json, Limit, Paged, Path},
    live::{Events, LastEventId, Live, Shown, Start},
};
use serde::{Deserialize, Serialize};

use crate::{
    commands, db,
    store::{DomainError, FoodDraft, Store, parse_location},
    store_order::{CookMinutes, Reason, StoreOrder, StoreOrderError, StoreOrderStatus},
    views::{self, FoodCount, StoreOrderView},
};

/// What handlers share; `FromRef` lets extractors take one part (the auth keys) of it.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub auth: AuthKeys,
    pub work: UnitOfWork,
    pub live: Live,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/stores", get(list_stores).post(register_store))
        .route("/stores/{store_id}", get(get_store))
        .route("/stores/{store_id}/menu", put(replace_menu))
        .route("/stores/{store_id}/open", post(open_store))
        .route("/stores/{store_id}/pause", post(pause_store))
        .route("/stores/{store_id}/orders", get(list_orders))
        .route("/stores/{store_id}/orders/events", get(order_events))
        .route("/stores/{store_id}/orders/{order_id}", get(get_order))
        .route("/stores/{store_id}/orders/{order_id}/accept", post(accept))
        .route("/stores/{store_id}/orders/{order_id}/reject", post(reject))
        .route(
            "/stores/{store_id}/orders/{order_id}/cook-start",
            post(cook_start),
        )
        .route(
            "/stores/{store_id}/orders/{order_id}/cook-finish",
            post(cook_finish),
        )
        .route("/stores/{store_id}/food-counts", get(food_counts))
        .with_state(state)
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(detail) => ApiError::unprocessable("invalid-store", detail),
        }
    }
}

impl From<StoreOrderError> for ApiError {
    fn from(error: StoreOrderError) -> Self {
        match error {
            rule @ StoreOrderError::InvalidTransition { .. } => {
                ApiError::conflict("invalid-transition", rule.to_string())
            }
            StoreOrderError::Invalid(detail) => ApiError::unprocessable("invalid-request", detail),
        }
    }
}

pub(crate) fn order_not_found() -> ApiError {
    platform::unit::not_found::<StoreOrder>()
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct StoreSummary {
    store_id: StoreId,
    owner_id: OwnerId,
    name: String,
    lat: f64,
    lng: f64,
    open: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct FoodView {
    food_id: FoodId,
    name: String,
    price: Krw,
    sold_out: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct StoreDetail {
    #[serde(flatten)]
    summary: StoreSummary,
    foods: Vec<FoodView>,
    revision: i64,
}

fn summary(store: &Store) -> StoreSummary {
    StoreSummary {
        store_id: store.store_id.clone(),
        owner_id: store.owner_id.clone(),
        name: store.name.clone(),
        lat: store.location.lat(),
        lng: store.location.lng(),
        open: store.open,
    }
}

fn detail(store: Store) -> StoreDetail {
    StoreDetail {
        summary: summary(&store),
        revision: store.revision,
        foods: store
            .foods
            .into_iter()
            .map(|f| FoodView {
                food_id: f.food_id,
                name: f.name,
                price: f.price,
                sold_out: f.sold_out,
            })
            .collect(),
    }
}

#[utoipa::path(
    get,
    path = "/stores",
    tag = "store",
    responses(
        (status = 200, description = "every store", body = Vec<StoreSummary>, links(
            ("GetStore" = (operation_id = "get_store", parameters(("storeId" = "$response.body#/0/storeId")))),
            ("StoreReviews" = (operation_id = "store_reviews", parameters(("storeId" = "$response.body#/0/storeId"))))
        ))
    )
)]
async fn list_stores(
    State(state): State<AppState>,
    _caller: Identity,
) -> ApiResult<Json<Vec<StoreSummary>>> {
    let mut conn = state.db.reader().acquire().await?;
    let stores = db::list_stores(&mut conn).await?;
    Ok(Json(stores.iter().map(summary).collect()))
}

#[utoipa::path(
    get,
    path = "/stores/{storeId}",
    tag = "store",
    responses(
        (status = 200, description = "the store and its menu", body = StoreDetail),
        (status = 404, description = "there is no such store (`code`: store-not-found)")
    )
)]
async fn get_store(
    State(state): State<AppState>,
    _caller: Identity,
    Path(store_id): Path<StoreId>,
) -> ApiResult<Json<StoreDetail>> {
    let mut conn = state.db.reader().acquire().await?;
    let store = db::find_store(&mut conn, &store_id)
        .await?
        .ok_or_else(store_not_found)?;
    Ok(Json(detail(store)))
}

fn store_not_found() -> ApiError {
    ApiError::not_found("store-not-found", "there is no such store")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterStore {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    name: String,
    #[schema(value_type = String, pattern = "\\S")]
    owner_id: OwnerId,
    #[schema(minimum = -90, maximum = 90)]
    lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    lng: f64,
}

/// Admins register stores for owners (owners then manage their menus).
#[utoipa::path(
    post,
    path = "/stores",
    tag = "store",
    request_body = RegisterStore,
    responses(
        (status = 201, description = "the store, registered for its owner", body = StoreDetail, links(
            ("GetStore" = (operation_id = "get_store", parameters(("storeId" = "$response.body#/storeId")))),
            ("ReplaceMenu" = (operation_id = "replace_menu", parameters(("storeId" = "$response.body#/storeId")))),
            ("OpenStore" = (operation_id = "open_store", parameters(("storeId" = "$response.body#/storeId")))),
            ("PauseStore" = (operation_id = "pause_store", parameters(("storeId" = "$response.body#/storeId")))),
            ("ListOrders" = (operation_id = "list_orders", parameters(("storeId" = "$response.body#/storeId")))),
            ("FoodCounts" = (operation_id = "food_counts", parameters(("storeId" = "$response.body#/storeId"))))
        )),
        (status = 422, description = "the store is not valid (`code`: invalid-store, invalid-body)")
    )
)]
async fn register_store(
    State(state): State<AppState>,
    caller: Identity,
    Json(body): Json<RegisterStore>,
) -> ApiResult<(StatusCode, Json<StoreDetail>)> {
    let location = parse_location(body.lat, body.lng)?;
    let store = commands::register(&state, &caller, body.owner_id, &body.name, location).await?;
    Ok((StatusCode::CREATED, Json(detail(store))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MenuBody {
    #[schema(max_items = 200)]
    foods: Vec<FoodBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FoodBody {
    #[schema(min_length = 1, max_length = 64, pattern = "\\S")]
    food_id: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    name: String,
    #[schema(minimum = 1, maximum = 10000000)]
    #[serde(deserialize_with = "platform::http::whole_number")]
    price: i64,
    #[serde(default)]
    sold_out: bool,
}

/// Loads a store the caller owns: 404 when it does not exist, 403 when it is someone else's.
pub(crate) async fn owned_store(
    conn: &mut platform::db::Conn,
    caller: &Identity,
    store_id: &StoreId,
) -> ApiResult<Store> {
    caller.require(Role::Owner)?;
    let store = db::find_store(conn, store_id)
        .await?
        .ok_or_else(store_not_found)?;
    if store.owner_id != caller.owner_id() {
        return Err(ApiError::forbidden("this store belongs to another owner"));
    }
    Ok(store)
}

#[utoipa::path(
    put,
    path = "/stores/{storeId}/menu",
    tag = "store",
    request_body = MenuBody,
    responses(
        (status = 200, description = "the store with its new menu", body = StoreDetail),
        (status = 404, description = "there is no such store (`code`: store-not-found)"),
        (status = 409, description = "the store changed meanwhile (`code`: concurrent-change)"),
        (status = 422, description = "the menu is not valid (`code`: invalid-store, invalid-body)")
    )
)]
async fn replace_menu(
    State(state): State<AppState>,
    caller: Identity,
    Path(store_id): Path<StoreId>,
    Json(body): Json<MenuBody>,
) -> ApiResult<Json<StoreDetail>> {
    let drafts: Vec<FoodDraft> = body
        .foods
        .into_iter()
        .map(|f| FoodDraft {
            food_id: f.food_id,
            name: f.name,
            price: f.price,
            sold_out: f.sold_out,
        })
        .collect();
    let store = commands::replace_menu(&state, &caller, &store_id, drafts).await?;
    Ok(Json(detail(store)))
}

async fn set_open(
    state: AppState,
    caller: Identity,
    store_id: StoreId,
    open: bool,
) -> ApiResult<Json<StoreDetail>> {
    let store = commands::set_open(&state, &caller, &store_id, open).await?;
    Ok(Json(detail(store)))
}

#[utoipa::path(
    post,
    path = "/stores/{storeId}/open",
    tag = "store",
    responses(
        (status = 200, description = "the store, open", body = StoreDetail),
        (status = 404, description = "there is no such store (`code`: store-not-found)")
    )
)]
async fn open_store(
    State(state): State<AppState>,
    caller: Identity,
    Path(store_id): Path<StoreId>,
) -> ApiResult<Json<StoreDetail>> {
    set_open(state, caller, store_id, true).await
}

#[utoipa::path(
    post,
    path = "/stores/{storeId}/pause",
    tag = "store",
    responses(
        (status = 200, description = "the store, paused", body = StoreDetail),
        (status = 404, description = "there is no such store (`code`: store-not-found)")
    )
)]
async fn pause_store(
    State(state): State<AppState>,
    caller: Identity,
    Path(store_id): Path<StoreId>,
) -> ApiResult<Json<StoreDetail>> {
    set_open(state, caller, store_id, false).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OrdersQuery {
    #[param(
        pattern = "^(Placed|Accepted|Cooking|Cooked|Picked|Delivered|Completed|Rejected|Canceled)$"
    )]
    status: Option<String>,
    /// `oldest` first (the default: the kitchen's order) or `newest` first.
    #[param(pattern = "^(oldest|newest)$")]
    sort: Option<String>,
    /// The next page starts after this order: `placedAt:orderId` of the last one of the page
    /// before.
    #[param(pattern = "^-?[0-9]{1,18}:[!-~]{1,64}$")]
    after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/stores/{storeId}/orders",
    tag = "store",
    params(OrdersQuery, Limit<100, 500>),
    responses(
        (status = 200, description = "the store's orders, oldest first unless `sort=newest`; a page of `limit`, after the order `after` names", body = Vec<StoreOrderView>, links(
            ("GetOrder" = (operation_id = "get_store_order", parameters(("storeId" = "$request.path.storeId"), ("orderId" = "$response.body#/0/orderId")))),
            ("Accept" = (operation_id = "accept", parameters(("storeId" = "$request.path.storeId"), ("orderId" = "$response.body#/0/orderId")))),
            ("Reject" = (operation_id = "reject", parameters(("storeId" = "$request.path.storeId"), ("orderId" = "$response.body#/0/orderId")))),
            ("CookStart" = (operation_id = "cook_start", parameters(("storeId" = "$request.path.storeId"), ("orderId" = "$response.body#/0/orderId")))),
            ("CookFinish" = (operation_id = "cook_finish", parameters(("storeId" = "$request.path.storeId"), ("orderId" = "$response.body#/0/orderId"))))
        )),
        (status = 400, description = "a query parameter is malformed (`code`: invalid-status, invalid-limit, invalid-sort, invalid-cursor, invalid-query)"),
        (status = 404, description = "there is no such store (`code`: store-not-found)")
    )
)]
async fn list_orders(
    State(state): State<AppState>,
    caller: Identity,
    Path(store_id): Path<StoreId>,
    Paged { limit, query }: Paged<100, 500, OrdersQuery>,
) -> ApiResult<Json<Vec<StoreOrderView>>> {
    let mut conn = state.db.reader().acquire().await?;
    owned_store(&mut conn, &caller, &store_id).await?;
    if let Some(status) = &query.status
        && StoreOrderStatus::parse(status).is_none()
    {
        return Err(ApiError::bad_request(
            "invalid-status",
            format!("unknown order status {status:?}"),
        ));
    }
    let listing = match query.sort.as_deref() {
        None | Some("oldest") => views::Listing::OldestFirst,
        Some("newest") => views::Listing::NewestFirst,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid-sort",
                format!("sort is oldest or newest, not {other:?}"),
            ));
        }
    };
    let after = match query.after.as_deref() {
        None => None,
        Some(cursor) => Some(
            cursor
                .split_once(':')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)))
                .filter(|(_, id)| (1..=64).contains(&id.len()))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid-cursor",
                        "after is placedAt:orderId of the last order of the page before",
                    )
                })?,
        ),
    };
    let orders = views::store_orders(
        &mut conn,
        &store_id,
        query.status.as_deref(),
        listing,
        after,
        limit,
    )
    .await?;
    Ok(Json(orders))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct StoreOrderState {
    order_id: OrderId,
    status: StoreOrderStatus,
    cook_minutes: Option<i64>,
    ready_at: Option<i64>,
}

fn order_state(order: StoreOrder) -> StoreOrderState {
    StoreOrderState {
        order_id: order.order_id,
        status: order.status,
        cook_minutes: order.cook_minutes,
        ready_at: order.ready_at,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AcceptBody {
    #[schema(minimum = 1, maximum = 180)]
    #[serde(deserialize_with = "platform::http::whole_number")]
    cook_minutes: i64,
}

#[utoipa::path(
    post,
    path = "/stores/{storeId}/orders/{orderId}/accept",
    tag = "store",
    request_body = AcceptBody,
    responses(
        (status = 200, description = "accepted", body = StoreOrderState, links(
            ("CookStart" = (operation_id = "cook_start", parameters(("storeId" = "$request.path.storeId"), ("orderId" = "$request.path.orderId")))),
            ("GetOrder" = (operation_id = "get_store_order", parameters(("storeId" = "$request.path.storeId"), ("orderId" = "$request.path.orderId"))))
        )),
        (status = 404, description = "the store or its order does not exist (`code`: order-not-found, store-not-found)"),
        (status = 409, description = "the order is not in a state that allows this (`code`: invalid-transition, concurrent-change)"),
        (status = 422, description = "cook minutes out of range (`code`: invalid-request, invalid-body)")
    )
)]
async fn accept(
    State(state): State<AppState>,
    caller: Identity,
    Path((store_id, order_id)): Path<(StoreId, OrderId)>,
    Json(body): Json<AcceptBody>,
) -> ApiResult<Json<StoreOrderState>> {
    let minutes = CookMinutes::parse(body.cook_minutes).map_err(ApiError::from)?;
    let order = commands::accept(&state, &caller, &store_id, &order_id, minutes).await?;
    Ok(Json(order_state(order)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/stores/{storeId}/orders/{orderId}/reject",
    tag = "store",
    request_body = RejectBody,
    responses(
        (status = 200, description = "rejected (the customer is refunded)", body = StoreOrderState),
        (status = 404, description = "the store or its order does not exist (`code`: order-not-found, store-not-found)"),
        (status = 409, description = "the order is not in a state that allows this (`code`: invalid-transition, concurrent-change)"),
        (status = 422, description = "the reason is missing or too long (`code`: invalid-request, invalid-body)")
    )
)]
async fn reject(
    State(state): State<AppState>,
    caller: Identity,
    Path((store_id, order_id)): Path<(StoreId, OrderId)>,
    Json(body): Json<RejectBody>,
) -> ApiResult<Json<StoreOrderState>> {
    let reason = Reason::parse(&body.reason).map_err(ApiError::from)?;
    let order = commands::reject(&state, &caller, &store_id, &order_id, reason).await?;
    Ok(Json(order_state(order)))
}

#[utoipa::path(
    post,
    path = "/stores/{storeId}/orders/{orderId}/cook-start",
    tag = "store",
    responses(
        (status = 200, description = "cooking", body = StoreOrderState, links(
            ("CookFinish" = (operation_id = "cook_finish", parameters(("storeId" = "$request.path.storeId"), ("orderId" = "$request.path.orderId"))))
        )),
        (status = 404, description = "the store or its order does not exist (`code`: order-not-found, store-not-found)"),
        (status = 409, description = "the order is not in a state that allows this (`code`: invalid-transition, concurrent-change)")
    )
)]
async fn cook_start(
    State(state): State<AppState>,
    caller: Identity,
    Path((store_id, order_id)): Path<(StoreId, OrderId)>,
) -> ApiResult<Json<StoreOrderState>> {
    let order = commands::start_cooking(&state, &caller, &store_id, &order_id).await?;
    Ok(Json(order_state(order)))
}

#[utoipa::path(
    post,
    path = "/stores/{storeId}/orders/{orderId}/cook-finish",
    tag = "store",
    responses(
        (status = 200, description = "cooked: a delivery opens for riders nearby", body = StoreOrderState),
        (status = 404, description = "the store or its order does not exist (`code`: order-not-found, store-not-found)"),
        (status = 409, description = "the order is not in a state that allows this (`code`: invalid-transition, concurrent-change)")
    )
)]
async fn cook_finish(
    State(state): State<AppState>,
    caller: Identity,
    Path((store_id, order_id)): Path<(StoreId, OrderId)>,
) -> ApiResult<Json<StoreOrderState>> {
    let order = commands::finish_cooking(&state, &caller, &store_id, &order_id).await?;
    Ok(Json(order_state(order)))
}

#[utoipa::path(
    get,
    path = "/stores/{storeId}/food-counts",
    tag = "store",
    responses(
        (status = 200, description = "live orders and units per food, most ordered first", body = Vec<FoodCount>),
        (status = 404, description = "there is no such store (`code`: store-not-found)")
    )
)]
async fn food_counts(
    State(state): State<AppState>,
    caller: Identity,
    Path(store_id): Path<StoreId>,
) -> ApiResult<Json<Vec<FoodCount>>> {
    let mut conn = state.db.reader().acquire().await?;
    owned_store(&mut conn, &caller, &store_id).await?;
    Ok(Json(views::food_counts(&mut conn, &store_id).await?))
}

#[utoipa::path(
    get,
    path = "/stores/{storeId}/orders/{orderId}",
    operation_id = "get_store_order",
    tag = "store",
    responses(
        (status = 200, description = "one of the store's orders", body = StoreOrderView),
        (status = 404, description = "the store or its order does not exist (`code`: order-not-found, store-not-found)")
    )
)]
async fn get_order(
    State(state): State<AppState>,
    caller: Identity,
    Path((store_id, order_id)): Path<(StoreId, OrderId)>,
) -> ApiResult<Json<StoreOrderView>> {
    let mut conn = state.db.reader().acquire().await?;
    owned_store(&mut conn, &caller, &store_id).await?;
    let order = db::find_store_order(&mut conn, &order_id)
        .await?
        .filter(|o| o.store_id == store_id)
        .ok_or_else(order_not_found)?;
    Ok(Json(StoreOrderView::from(&order)))
}

/// The store's orders as they arrive and change, live (Server-Sent Events), from the next change
/// on, or after `Last-Event-ID` when the owner's client comes back. Read the list first
/// (`GET /stores/{storeId}/orders`), then follow this.
#[utoipa::path(
    get,
    path = "/stores/{storeId}/orders/events",
    operation_id = "store_order_events",
    tag = "store",
    params(LastEventId),
    responses(
        (status = 200, description = "a stream of `order` events, each an order of the store as it now is; a `reset` event when the changes since `Last-Event-ID` are no longer kept (read the list again); a comment line every 15 s", content_type = "text/event-stream", body = StoreOrderView),
        (status = 400, description = "an unusable `Last-Event-ID` (`code`: invalid-last-event-id)"),
        (status = 404, description = "there is no such store (`code`: store-not-found)")
    )
)]
async fn order_events(
    State(state): State<AppState>,
    caller: Identity,
    Path(store_id): Path<StoreId>,
    resume: LastEventId,
) -> ApiResult<Sse<KeepAliveStream<Events>>> {
    let mut conn = state.db.reader().acquire().await?;
    // Authorized like `GET /stores/{storeId}/orders`.
    owned_store(&mut conn, &caller, &store_id).await?;
    drop(conn);
    state
        .live
        .stream(
            views::LIVE_FEED,
            store_id.into_string(),
            resume,
            Start::Now,
            |_| Shown::AsIs,
        )
        .await
}

/// The routes this service answers through the gateway, described for the merged OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_stores,
    register_store,
    get_store,
    replace_menu,
    open_store,
    pause_store,
    list_orders,
    order_events,
    get_order,
    accept,
    reject,
    cook_start,
    cook_finish,
    food_counts
))]
struct ApiDoc;

/// This service's part of the public API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

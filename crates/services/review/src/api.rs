//! HTTP commands and queries of the review service.

use axum::{
    Router,
    extract::{FromRef, State},
    http::StatusCode,
    routing::{delete, get, post},
};
use contracts::{OrderId, ReviewId, StoreId};
use platform::{
    ApiError, ApiResult, AuthKeys, Db, Identity, Role, UnitOfWork,
    http::{Json, Limit, Paged, Path},
    peers::Orders,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    commands,
    review::{Rating, ReviewError, Text},
    views::{self, ReviewView},
};

/// What handlers share; `FromRef` lets extractors take one part (the auth keys) of it.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub auth: AuthKeys,
    pub work: UnitOfWork,
    pub orders: Orders,
    pub max_text_chars: usize,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/reviews", post(write_review))
        .route("/reviews/{review_id}", delete(delete_review))
        .route("/stores/{store_id}/reviews", get(store_reviews))
        .with_state(state)
}

impl From<ReviewError> for ApiError {
    fn from(error: ReviewError) -> Self {
        match error {
            ReviewError::Invalid(detail) => ApiError::unprocessable("invalid-review", detail),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WriteBody {
    #[schema(value_type = String, format = Uuid)]
    order_id: OrderId,
    #[schema(minimum = 1, maximum = 5)]
    #[serde(deserialize_with = "platform::http::whole_number")]
    rating: i64,
    #[serde(default)]
    text: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Written {
    review_id: ReviewId,
    order_id: OrderId,
    store_id: StoreId,
    rating: i64,
}

/// A review of a completed order of one's own, once. The order is looked up synchronously in the
/// order service (timeout, breaker); when it cannot answer, nothing is stored and the customer is
/// asked to retry later.
#[utoipa::path(
    post,
    path = "/reviews",
    tag = "review",
    request_body = WriteBody,
    responses(
        (status = 201, description = "written: a coupon follows", body = Written, links(
            ("DeleteReview" = (operation_id = "delete_review", parameters(("reviewId" = "$response.body#/reviewId"))))
        )),
        (status = 404, description = "there is no such order of yours (`code`: order-not-found)"),
        (status = 409, description = "the order has a review, or is not completed (`code`: already-reviewed, order-not-completed)"),
        (status = 422, description = "the rating or text is not valid (`code`: invalid-review, invalid-body)"),
        (status = 503, description = "orders cannot be checked right now; nothing was stored (`code`: order-lookup-unavailable)")
    )
)]
async fn write_review(
    State(state): State<AppState>,
    caller: Identity,
    Json(body): Json<WriteBody>,
) -> ApiResult<(StatusCode, Json<Written>)> {
    caller.require(Role::Customer)?;
    let rating = Rating::parse(body.rating)?;
    let text = Text::parse(&body.text, state.max_text_chars)?;
    // Parsed as an id, so nothing a client sends can change which URL the lookup calls.
    let order_id = Uuid::parse_str(body.order_id.as_str().trim()).map_err(|_| {
        ApiError::unprocessable("invalid-review", "orderId must be an order id (a UUID)")
    })?;
    let review = commands::write(&state, &caller, order_id, rating, text).await?;
    Ok((
        StatusCode::CREATED,
        Json(Written {
            review_id: review.review_id,
            order_id: review.order_id,
            store_id: review.store_id,
            rating: review.rating.value(),
        }),
    ))
}

/// The author removes a review; its coupon is taken back. To anyone else it is not there.
#[utoipa::path(
    delete,
    path = "/reviews/{reviewId}",
    tag = "review",
    responses(
        (status = 204, description = "deleted: its coupon is taken back"),
        (status = 404, description = "there is no such review of yours (`code`: review-not-found)")
    )
)]
async fn delete_review(
    State(state): State<AppState>,
    caller: Identity,
    Path(review_id): Path<ReviewId>,
) -> ApiResult<StatusCode> {
    commands::delete(&state, &caller, &review_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/stores/{storeId}/reviews",
    tag = "review",
    params(Limit<50, 200>),
    responses(
        (status = 200, description = "the store's reviews, newest first", body = Vec<ReviewView>),
        (status = 400, description = "a query parameter is malformed (`code`: invalid-limit, invalid-query)")
    )
)]
async fn store_reviews(
    State(state): State<AppState>,
    _caller: Identity,
    Path(store_id): Path<StoreId>,
    Paged { limit, .. }: Paged<50, 200>,
) -> ApiResult<Json<Vec<ReviewView>>> {
    let mut conn = state.db.reader().acquire().await?;
    Ok(Json(
        views::store_reviews(&mut conn, &store_id, limit).await?,
    ))
}

/// The routes this service answers through the gateway, described for the merged OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(write_review, delete_review, store_reviews))]
struct ApiDoc;

/// This service's part of the public API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

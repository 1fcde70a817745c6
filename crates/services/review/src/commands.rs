//! What a customer may ask of the review service: review a completed order of theirs (a coupon
//! follows), and delete that review (the coupon is taken back). Each command checks who asks,
//! runs the review's decision (`review.rs`) through the unit of work, and returns it.

use axum::http::StatusCode;
use contracts::{OrderId, OrderStatus, ReviewId};
use platform::{ApiError, ApiResult, Decision, Identity, Role, WorkError, unit::Exists};
use uuid::Uuid;

use crate::{
    api::AppState,
    review::{Rating, Review, Text},
};

/// Scenario step 12: the customer reviews a completed order of theirs. The order service is asked
/// whose order it is and whether it is completed; nothing is stored when it cannot answer.
pub async fn write(
    state: &AppState,
    caller: &Identity,
    order_id: Uuid,
    rating: Rating,
    text: Text,
) -> ApiResult<Review> {
    caller.require(Role::Customer)?;
    let order_id = OrderId::from(order_id.hyphenated().to_string());
    let order = state.orders.summary(&order_id).await.map_err(|error| {
        error.fallback(
            "order-lookup-unavailable",
            "orders cannot be checked right now; nothing was stored, please try again later",
            |status, _| match status {
                StatusCode::NOT_FOUND => {
                    ApiError::not_found("order-not-found", "there is no such order of yours")
                }
                // The peer refused the lookup itself: a client error of this request, not an
                // outage.
                _ => {
                    tracing::warn!(%status, "order lookup refused");
                    ApiError::unprocessable("invalid-review", "the order cannot be checked")
                }
            },
        )
    })?;
    if order.customer_id != caller.customer_id() {
        return Err(ApiError::not_found(
            "order-not-found",
            "there is no such order of yours",
        ));
    }
    if order.status != OrderStatus::Completed {
        return Err(ApiError::conflict(
            "order-not-completed",
            format!(
                "only completed orders can be reviewed; this one is {}",
                order.status
            ),
        ));
    }
    let (review, written) = Review::write(
        ReviewId::generate(),
        order.order_id,
        caller.customer_id(),
        order.store_id,
        rating,
        text,
    );
    match state.work.create(&review, [written.into()]).await {
        Ok(()) => {}
        Err(WorkError::Refused(Exists)) => {
            return Err(ApiError::conflict(
                "already-reviewed",
                "this order already has a review",
            ));
        }
        Err(error) => return Err(error.into()),
    }
    Ok(review)
}

/// The author removes a review; its coupon is taken back. To anyone else it is not there.
pub async fn delete(state: &AppState, caller: &Identity, review_id: &ReviewId) -> ApiResult<()> {
    caller.require(Role::Customer)?;
    state
        .work
        .change::<Review, ApiError>(review_id, |review| {
            review
                .delete(&caller.customer_id())
                .map(Decision::publish)
                .ok_or_else(platform::unit::not_found::<Review>)
        })
        .await?;
    Ok(())
}

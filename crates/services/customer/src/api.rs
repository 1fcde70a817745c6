//! The customer's own profile.

use axum::{
    Router,
    extract::{FromRef, State},
    routing::get,
};
use contracts::CustomerId;
use platform::{ApiResult, AuthKeys, Db, Identity, Role, http::Json};

use serde::Serialize;

use crate::{
    coupon::CouponStatus,
    customer::{Customer, grade_for},
    db,
    settings::Grade,
    views::{self, CouponView},
};

/// What handlers share; `FromRef` lets extractors take one part (the auth keys) of it.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub auth: AuthKeys,
    pub grades: std::sync::Arc<Vec<Grade>>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/customers/me", get(me))
        .with_state(state)
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Profile {
    customer_id: CustomerId,
    name: String,
    grade: String,
    completed_orders: i64,
    /// Coupons that can still be used.
    coupon_count: usize,
    coupons: Vec<CouponView>,
}

#[utoipa::path(
    get,
    path = "/customers/me",
    tag = "customer",
    responses(
        (status = 200, description = "the customer's grade, count and coupons", body = Profile)
    )
)]
async fn me(State(state): State<AppState>, caller: Identity) -> ApiResult<Json<Profile>> {
    caller.require(Role::Customer)?;
    let mut conn = state.db.reader().acquire().await?;
    // A customer with no completed order yet has no row: the first grade, nothing counted.
    let customer = db::find_customer(&mut conn, &caller.customer_id())
        .await?
        .unwrap_or_else(|| Customer {
            customer_id: caller.customer_id(),
            completed_orders: 0,
            grade: grade_for(&state.grades, 0).to_owned(),
        });
    let coupons = views::coupons(&mut conn, &caller.customer_id()).await?;
    Ok(Json(Profile {
        customer_id: customer.customer_id,
        name: caller.name.clone(),
        grade: customer.grade,
        completed_orders: customer.completed_orders,
        coupon_count: coupons
            .iter()
            .filter(|c| c.status == CouponStatus::Active)
            .count(),
        coupons,
    }))
}

/// The routes this service answers through the gateway, described for the merged OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(me))]
struct ApiDoc;

/// This service's part of the public API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

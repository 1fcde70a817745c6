//! HTTP commands and queries of the delivery service (the rider app's side).

use axum::{
    Router,
    extract::{FromRef, State},
    routing::{get, post},
};
use platform::{
    ApiError, ApiResult, AuthKeys, Db, Decision, Identity, Role, UnitOfWork,
    http::{Json, Path, Query},
};
use serde::{Deserialize, Serialize};

use crate::{
    db,
    domain::{Delivery, DeliveryError, DeliveryStatus, Refusal, Search, distance_km},
    views::{self, RiderStats},
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
        .route("/deliveries/available", get(available))
        .route("/deliveries/{delivery_id}", get(get_delivery))
        .route("/deliveries/{delivery_id}/pick", post(pick))
        .route("/deliveries/{delivery_id}/complete", post(complete))
        .route("/riders/{rider_id}/stats", get(stats))
        .with_state(state)
}

impl From<DeliveryError> for ApiError {
    fn from(error: DeliveryError) -> Self {
        match error {
            DeliveryError::Invalid(detail) => ApiError::bad_request("invalid-search", detail),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryView {
    delivery_id: String,
    order_id: String,
    store_id: String,
    store_name: String,
    pickup: contracts::GeoPoint,
    dropoff: contracts::DeliveryAddress,
    status: &'static str,
    rider_id: Option<String>,
    /// From the rider's position to the store, in km (in searches).
    #[serde(skip_serializing_if = "Option::is_none")]
    distance_km: Option<f64>,
}

fn view(delivery: Delivery, distance_km: Option<f64>) -> DeliveryView {
    DeliveryView {
        delivery_id: delivery.delivery_id,
        order_id: delivery.order_id,
        store_id: delivery.store_id,
        store_name: delivery.store_name,
        pickup: delivery.pickup,
        dropoff: delivery.dropoff,
        status: delivery.status.as_str(),
        rider_id: delivery.rider_id,
        distance_km,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NearQuery {
    lat: f64,
    lng: f64,
    radius_km: Option<f64>,
}

/// Scenario step 7: cooked orders waiting within the radius, nearest first.
async fn available(
    State(state): State<AppState>,
    caller: Identity,
    Query(query): Query<NearQuery>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    caller.require(Role::Rider)?;
    let search = Search::parse(query.lat, query.lng, query.radius_km)?;
    let mut conn = state.db.reader().acquire().await?;
    let candidates = db::waiting_in(&mut conn, search.bounding_box(), 500).await?;
    let mut near: Vec<(f64, Delivery)> = candidates
        .into_iter()
        .map(|d| (distance_km(search.center, d.pickup), d))
        .filter(|(distance, _)| *distance <= search.radius_km)
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Json(
        near.into_iter()
            .map(|(distance, d)| view(d, Some((distance * 1000.0).round() / 1000.0)))
            .collect(),
    ))
}

fn not_found() -> ApiError {
    ApiError::not_found("delivery-not-found", "there is no such delivery")
}

async fn get_delivery(
    State(state): State<AppState>,
    caller: Identity,
    Path(delivery_id): Path<String>,
) -> ApiResult<Json<DeliveryView>> {
    caller.require_any(&[Role::Rider, Role::Admin])?;
    let mut conn = state.db.reader().acquire().await?;
    let delivery = db::find(&mut conn, &delivery_id)
        .await?
        // A rider sees deliveries still up for grabs and their own, not other riders' customers.
        .filter(|d| {
            caller.role == Role::Admin
                || d.status == DeliveryStatus::Waiting
                || d.rider_id.as_deref() == Some(caller.subject_id.as_str())
        })
        .ok_or_else(not_found)?;
    Ok(Json(view(delivery, None)))
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::AlreadyPicked => {
                ApiError::conflict("already-picked", "another rider already took this delivery")
            }
            Refusal::NotAvailable => {
                ApiError::conflict("not-available", "this delivery is no longer available")
            }
            Refusal::NotYours => {
                ApiError::forbidden("only the rider who picked this delivery completes it")
            }
            Refusal::NotInTransit(status) => ApiError::conflict(
                "invalid-transition",
                format!("the delivery is {}", status.as_str()),
            ),
        }
    }
}

/// Scenario step 8: exactly one rider wins a delivery; the others get 409.
async fn pick(
    State(state): State<AppState>,
    caller: Identity,
    Path(delivery_id): Path<String>,
) -> ApiResult<Json<DeliveryView>> {
    caller.require(Role::Rider)?;
    let delivery = state
        .work
        .change::<Delivery, Refusal>(&delivery_id, |delivery| {
            delivery.pick(&caller.subject_id).map(Decision::publish)
        })
        .await?;
    Ok(Json(view(delivery, None)))
}

/// Only the rider who picked the delivery completes it; the rider's count rises with it.
async fn complete(
    State(state): State<AppState>,
    caller: Identity,
    Path(delivery_id): Path<String>,
) -> ApiResult<Json<DeliveryView>> {
    caller.require(Role::Rider)?;
    let delivery = state
        .work
        .change::<Delivery, Refusal>(&delivery_id, |delivery| {
            delivery.complete(&caller.subject_id).map(Decision::publish)
        })
        .await?;
    Ok(Json(view(delivery, None)))
}

async fn stats(
    State(state): State<AppState>,
    caller: Identity,
    Path(rider_id): Path<String>,
) -> ApiResult<Json<RiderStats>> {
    caller.require_any(&[Role::Rider, Role::Admin])?;
    if caller.role == Role::Rider && caller.subject_id != rider_id {
        return Err(ApiError::forbidden("riders see only their own stats"));
    }
    let mut conn = state.db.reader().acquire().await?;
    Ok(Json(views::rider_stats(&mut conn, &rider_id).await?))
}

//! HTTP commands and queries of the delivery service (the rider app's side).

use axum::{
    Router,
    extract::{FromRef, State},
    response::sse::{KeepAliveStream, Sse},
    routing::{get, post},
};
use contracts::{DeliveryId, RiderId};
use platform::{
    ApiError, ApiResult, AuthKeys, Db, Identity, Role, UnitOfWork,
    http::{Json, Path, Query},
    live::{Events, LastEventId, Live, Shown, Start},
};
use serde::Deserialize;

use crate::{
    commands, db,
    delivery::{Delivery, DeliveryError, DeliveryStatus, Refusal, Search},
    views::{self, DeliveryView, RiderStats, view},
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
        .route("/deliveries/available", get(available))
        .route("/deliveries/events", get(delivery_events))
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NearQuery {
    #[param(minimum = -90, maximum = 90)]
    lat: f64,
    #[param(minimum = -180, maximum = 180)]
    lng: f64,
    #[param(exclusive_minimum = 0, maximum = 20)]
    radius_km: Option<f64>,
}

/// Scenario step 7: cooked orders waiting within the radius, nearest first.
#[utoipa::path(
    get,
    path = "/deliveries/available",
    tag = "delivery",
    params(NearQuery),
    responses(
        (status = 200, description = "waiting deliveries near the rider, nearest first", body = Vec<DeliveryView>, links(
            ("GetDelivery" = (operation_id = "get_delivery", parameters(("deliveryId" = "$response.body#/0/deliveryId")))),
            ("Pick" = (operation_id = "pick", parameters(("deliveryId" = "$response.body#/0/deliveryId"))))
        )),
        (status = 400, description = "the position or radius is out of range (`code`: invalid-search, invalid-query)")
    )
)]
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
        .filter_map(|d| search.reach(d.pickup).map(|km| (km, d)))
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Json(
        near.into_iter().map(|(km, d)| view(d, Some(km))).collect(),
    ))
}

/// Deliveries opening and closing near the rider, live (Server-Sent Events), from the next change
/// on, or after `Last-Event-ID` when the rider's client comes back. Read the waiting ones first
/// (`GET /deliveries/available`), then follow this.
#[utoipa::path(
    get,
    path = "/deliveries/events",
    tag = "delivery",
    params(NearQuery, LastEventId),
    responses(
        (status = 200, description = "a stream of `opened` events (a delivery now waits within the radius, with `distanceKm` from the rider) and `closed` events (a rider picked it or it was canceled); a `reset` event when the changes since `Last-Event-ID` are no longer kept (read the list again); a comment line every 15 s", content_type = "text/event-stream", body = DeliveryView),
        (status = 400, description = "the position or radius is out of range, or an unusable `Last-Event-ID` (`code`: invalid-search, invalid-query, invalid-last-event-id)")
    )
)]
async fn delivery_events(
    State(state): State<AppState>,
    caller: Identity,
    Query(query): Query<NearQuery>,
    resume: LastEventId,
) -> ApiResult<Sse<KeepAliveStream<Events>>> {
    // Authorized like `GET /deliveries/available`.
    caller.require(Role::Rider)?;
    let search = Search::parse(query.lat, query.lng, query.radius_km)?;
    let show = move |change: &platform::live::Change| {
        let Some(mut view) = change
            .data
            .as_deref()
            .and_then(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        else {
            return Shown::Hidden;
        };
        let pickup = serde_json::from_value::<contracts::GeoPoint>(view["pickup"].clone());
        match pickup.ok().and_then(|pickup| search.reach(pickup)) {
            Some(km) => {
                view["distanceKm"] = serde_json::json!(km);
                Shown::Rewritten(view.to_string())
            }
            None => Shown::Hidden,
        }
    };
    state
        .live
        .stream(
            views::LIVE_FEED,
            views::LIVE_KEY.to_owned(),
            resume,
            Start::Now,
            show,
        )
        .await
}

fn not_found() -> ApiError {
    ApiError::not_found("delivery-not-found", "there is no such delivery")
}

#[utoipa::path(
    get,
    path = "/deliveries/{deliveryId}",
    tag = "delivery",
    responses(
        (status = 200, description = "the delivery", body = DeliveryView),
        (status = 404, description = "there is no such delivery (`code`: delivery-not-found)")
    )
)]
async fn get_delivery(
    State(state): State<AppState>,
    caller: Identity,
    Path(delivery_id): Path<DeliveryId>,
) -> ApiResult<Json<DeliveryView>> {
    caller.require_any(&[Role::Rider, Role::Admin])?;
    let mut conn = state.db.reader().acquire().await?;
    let delivery = db::find(&mut conn, &delivery_id)
        .await?
        // A rider sees deliveries still up for grabs and their own, not other riders' customers.
        .filter(|d| {
            caller.role == Role::Admin
                || d.status == DeliveryStatus::Waiting
                || d.rider_id.as_ref() == Some(&caller.rider_id())
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
#[utoipa::path(
    post,
    path = "/deliveries/{deliveryId}/pick",
    tag = "delivery",
    responses(
        (status = 200, description = "picked by the caller", body = DeliveryView, links(
            ("Complete" = (operation_id = "complete", parameters(("deliveryId" = "$request.path.deliveryId"))))
        )),
        (status = 404, description = "there is no such delivery (`code`: delivery-not-found)"),
        (status = 409, description = "another rider won it, or it closed (`code`: already-picked, not-available, concurrent-change)")
    )
)]
async fn pick(
    State(state): State<AppState>,
    caller: Identity,
    Path(delivery_id): Path<DeliveryId>,
) -> ApiResult<Json<DeliveryView>> {
    let delivery = commands::pick(&state, &caller, &delivery_id).await?;
    Ok(Json(view(delivery, None)))
}
/// Only the rider who picked the delivery completes it; the rider's count rises with it.
#[utoipa::path(
    post,
    path = "/deliveries/{deliveryId}/complete",
    tag = "delivery",
    responses(
        (status = 200, description = "delivered", body = DeliveryView),
        (status = 403, description = "only the rider who picked it completes it (`code`: forbidden)"),
        (status = 404, description = "there is no such delivery (`code`: delivery-not-found)"),
        (status = 409, description = "the delivery is not on the way (`code`: invalid-transition, concurrent-change)")
    )
)]
async fn complete(
    State(state): State<AppState>,
    caller: Identity,
    Path(delivery_id): Path<DeliveryId>,
) -> ApiResult<Json<DeliveryView>> {
    let delivery = commands::complete(&state, &caller, &delivery_id).await?;
    Ok(Json(view(delivery, None)))
}

#[utoipa::path(
    get,
    path = "/riders/{riderId}/stats",
    tag = "delivery",
    responses(
        (status = 200, description = "the rider's deliveries", body = RiderStats),
        (status = 403, description = "riders see only their own stats (`code`: forbidden)")
    )
)]
async fn stats(
    State(state): State<AppState>,
    caller: Identity,
    Path(rider_id): Path<RiderId>,
) -> ApiResult<Json<RiderStats>> {
    caller.require_any(&[Role::Rider, Role::Admin])?;
    if caller.role == Role::Rider && caller.rider_id() != rider_id {
        return Err(ApiError::forbidden("riders see only their own stats"));
    }
    let mut conn = state.db.reader().acquire().await?;
    Ok(Json(views::rider_stats(&mut conn, &rider_id).await?))
}

/// The routes this service answers through the gateway, described for the merged OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(available, delivery_events, get_delivery, pick, complete, stats))]
struct ApiDoc;

/// This service's part of the public API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

//! The customer's messages.

use axum::{
    Router,
    extract::{FromRef, State},
    routing::get,
};
use platform::{
    ApiResult, AuthKeys, Db, Identity, Role,
    http::{Json, Limit, Paged},
};
use serde::Deserialize;

use crate::{db::Notification, views};

/// What handlers share; `FromRef` lets extractors take one part (the auth keys) of it.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub auth: AuthKeys,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/notifications", get(list))
        .with_state(state)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    order_id: Option<String>,
}

/// The caller's messages, newest first, with whether each was sent.
#[utoipa::path(
    get,
    path = "/notifications",
    tag = "notification",
    params(ListQuery, Limit<100, 500>),
    responses(
        (status = 200, description = "the customer's messages, newest event first", body = Vec<crate::db::Notification>),
        (status = 400, description = "a query parameter is malformed (`code`: invalid-limit, invalid-query)")
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Identity,
    Paged { limit, query }: Paged<100, 500, ListQuery>,
) -> ApiResult<Json<Vec<Notification>>> {
    caller.require(Role::Customer)?;
    let mut conn = state.db.reader().acquire().await?;
    Ok(Json(
        views::for_customer(
            &mut conn,
            &caller.customer_id(),
            query.order_id.as_deref(),
            limit,
        )
        .await?,
    ))
}

/// The routes this service answers through the gateway, described for the merged OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
struct ApiDoc;

/// This service's part of the public API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

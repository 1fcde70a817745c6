//! What a rider may ask of the delivery service: pick a delivery (exactly one rider wins it) and
//! complete it. Each command runs the delivery's decision (`delivery.rs`) through the unit of work
//! and returns the delivery as it now is; `api.rs` turns that into the answer.

use contracts::{DeliveryId, Event, RiderId};
use platform::{ApiResult, Decision, Identity, Role};

use crate::{
    api::AppState,
    delivery::{Delivery, Refusal},
};

/// Scenario step 8: a rider near the store takes the delivery.
pub async fn pick(
    state: &AppState,
    caller: &Identity,
    delivery_id: &DeliveryId,
) -> ApiResult<Delivery> {
    rider_moves(state, caller, delivery_id, Delivery::pick).await
}

/// Scenario step 9: the rider who picked it delivered it.
pub async fn complete(
    state: &AppState,
    caller: &Identity,
    delivery_id: &DeliveryId,
) -> ApiResult<Delivery> {
    rider_moves(state, caller, delivery_id, Delivery::complete).await
}

/// A rider's move on a delivery, decided by the domain and saved through the unit of work.
async fn rider_moves<E: Into<Event>>(
    state: &AppState,
    caller: &Identity,
    delivery_id: &DeliveryId,
    step: impl Fn(&mut Delivery, &RiderId) -> Result<E, Refusal> + Send + Sync,
) -> ApiResult<Delivery> {
    caller.require(Role::Rider)?;
    let delivery = state
        .work
        .change::<Delivery, Refusal>(delivery_id, |delivery| {
            step(delivery, &caller.rider_id()).map(Decision::publish)
        })
        .await?;
    Ok(delivery)
}

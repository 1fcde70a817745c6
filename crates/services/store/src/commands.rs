//! What an owner (or an admin) may ask of the store service: register a store, change its menu,
//! open or pause it, and drive its orders (accept, reject, start and finish cooking). Each command
//! checks who asks, runs the aggregate's decision (`store.rs`, `store_order.rs`) through the unit
//! of work, and returns the aggregate as it now is; `api.rs` turns that into the answer.

use contracts::{Event, FoodId, GeoPoint, MenuPublished, OrderId, OwnerId, StoreId};
use platform::{ApiError, ApiResult, Decision, Identity, Role};

use crate::{
    api::{AppState, order_not_found, owned_store},
    store::{FoodDraft, Store},
    store_order::{CookMinutes, Reason, StoreOrder, StoreOrderError},
};

/// An admin registers a store for its owner: open, with an empty menu.
pub async fn register(
    state: &AppState,
    caller: &Identity,
    owner_id: OwnerId,
    name: &str,
    location: GeoPoint,
) -> ApiResult<Store> {
    caller.require(Role::Admin)?;
    let (store, published) = Store::register(StoreId::generate(), owner_id, name, location)?;
    state.work.create(&store, [published.into()]).await?;
    Ok(store)
}

/// The owner replaces the whole menu; the order service's replica gets it.
pub async fn replace_menu(
    state: &AppState,
    caller: &Identity,
    store_id: &StoreId,
    drafts: Vec<FoodDraft>,
) -> ApiResult<Store> {
    change_own(state, caller, store_id, |store| {
        let published = store.replace_menu(drafts.clone(), FoodId::generate)?;
        Ok(Some(published))
    })
    .await
}

/// The owner opens the store, or pauses it (a paused store takes no orders).
pub async fn set_open(
    state: &AppState,
    caller: &Identity,
    store_id: &StoreId,
    open: bool,
) -> ApiResult<Store> {
    change_own(state, caller, store_id, |store| Ok(store.set_open(open))).await
}

/// Scenario step 4: the owner accepts an order and promises when it will be ready.
pub async fn accept(
    state: &AppState,
    caller: &Identity,
    store_id: &StoreId,
    order_id: &OrderId,
    minutes: CookMinutes,
) -> ApiResult<StoreOrder> {
    let now = platform::db::now_ms();
    change_order(state, caller, store_id, order_id, |order, _| {
        order.accept(minutes, now).map(Into::into)
    })
    .await
}

/// The owner turns an order down; the customer is refunded.
pub async fn reject(
    state: &AppState,
    caller: &Identity,
    store_id: &StoreId,
    order_id: &OrderId,
    reason: Reason,
) -> ApiResult<StoreOrder> {
    change_order(state, caller, store_id, order_id, |order, _| {
        order.reject(reason.clone(), false).map(Into::into)
    })
    .await
}

/// Scenario step 5: cooking starts; from here on the order can no longer be canceled.
pub async fn start_cooking(
    state: &AppState,
    caller: &Identity,
    store_id: &StoreId,
    order_id: &OrderId,
) -> ApiResult<StoreOrder> {
    change_order(state, caller, store_id, order_id, |order, _| {
        order.start_cooking().map(Into::into)
    })
    .await
}

/// Scenario step 7: the food is ready; a delivery opens for riders nearby.
pub async fn finish_cooking(
    state: &AppState,
    caller: &Identity,
    store_id: &StoreId,
    order_id: &OrderId,
) -> ApiResult<StoreOrder> {
    change_order(state, caller, store_id, order_id, |order, store| {
        order.finish_cooking(store).map(Into::into)
    })
    .await
}

/// Changes a store the caller owns through the unit of work: 404 when it does not exist, 403
/// when it is someone else's.
async fn change_own(
    state: &AppState,
    caller: &Identity,
    store_id: &StoreId,
    mut decide: impl FnMut(&mut Store) -> Result<Option<MenuPublished>, ApiError> + Send,
) -> ApiResult<Store> {
    caller.require(Role::Owner)?;
    let store = state
        .work
        .change::<Store, ApiError>(store_id, |store| {
            if store.owner_id != caller.owner_id() {
                return Err(ApiError::forbidden("this store belongs to another owner"));
            }
            Ok(decide(store)?.into())
        })
        .await?;
    Ok(store)
}

/// Runs an owner's command on one of their store's orders through the unit of work; a lost race
/// with the cancel policy is decided again on fresh state, so the owner gets the real answer
/// (409 once the order was canceled).
async fn change_order(
    state: &AppState,
    caller: &Identity,
    store_id: &StoreId,
    order_id: &OrderId,
    decide: impl Fn(&mut StoreOrder, &Store) -> Result<Event, StoreOrderError> + Send + Sync,
) -> ApiResult<StoreOrder> {
    let store = {
        let mut conn = state.db.reader().acquire().await?;
        owned_store(&mut conn, caller, store_id).await?
    };
    let order = state
        .work
        .change::<StoreOrder, ApiError>(order_id, |order| {
            if order.store_id != *store_id {
                return Err(order_not_found());
            }
            Ok(Decision::publish(decide(order, &store)?))
        })
        .await?;
    Ok(order)
}

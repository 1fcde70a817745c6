//! Changing a store order, shared by the owner's HTTP commands, the cancel-request policy and the
//! acceptance deadline: load, let the domain decide, save over the version read (so a cancel and
//! a cook-start racing on one order cannot both win), keep the food counts, write the event.

use contracts::Event;
use platform::{Tx, outbox};

use crate::{
    db,
    domain::{StoreOrder, StoreOrderError},
    views,
};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("no such order at this store")]
    NotFound,
    #[error("the order changed meanwhile")]
    Conflict,
    #[error(transparent)]
    Rule(#[from] StoreOrderError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Applies `decide` to the order in `tx`. `store_id`, when given, must be the order's store.
/// `decide` returns the event its change publishes, or `None` when there is nothing to change.
pub async fn change_order<F>(
    tx: &mut Tx,
    store_id: Option<&str>,
    order_id: &str,
    decide: F,
) -> Result<StoreOrder, CommandError>
where
    F: FnOnce(&mut StoreOrder) -> Result<Option<Event>, StoreOrderError>,
{
    let mut order = db::find_store_order(tx, order_id)
        .await?
        .filter(|o| store_id.is_none_or(|s| s == o.store_id))
        .ok_or(CommandError::NotFound)?;
    let counted = order.counts();
    let Some(event) = decide(&mut order)? else {
        return Ok(order);
    };
    if !db::save_store_order(tx, &order).await? {
        return Err(CommandError::Conflict);
    }
    order.version += 1;
    if counted && !order.counts() {
        views::count_order(tx, &order.store_id, &order.items, -1).await?;
    }
    outbox::enqueue(tx, [event])
        .await
        .map_err(anyhow::Error::from)?;
    Ok(order)
}

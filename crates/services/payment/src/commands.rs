//! What the order service may ask of the payment service: charge a customer for an order, once
//! per order. The refunds and voids are policies (`policies.rs`), reactions to the saga's events.

use contracts::{Event, OrderId, PaymentId, http::PaymentView};
use platform::{ApiError, ApiResult, WorkError, db::now_ms, unit::Exists};

use crate::{
    api::AppState,
    db,
    payment::{Charge, Payment},
};

/// Scenario step 2: charges the card, or answers a repeated charge of the same order with the
/// first one's payment (a different charge under the same order id is a conflict).
pub async fn charge(state: &AppState, charge: Charge) -> ApiResult<PaymentView> {
    if let Some(existing) = find_by_order(state, &charge.order_id).await? {
        return Ok(charge.replay(existing)?);
    }
    let (payment, approved) = charge.decide(PaymentId::generate(), now_ms());
    match state
        .work
        .create(&Payment(payment.clone()), approved.map(Event::from))
        .await
    {
        Ok(()) => {}
        Err(WorkError::Refused(Exists)) => {
            // A concurrent twin of this request committed first: answer what it decided.
            let existing = find_by_order(state, &charge.order_id)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("payment vanished")))?;
            return Ok(charge.replay(existing)?);
        }
        Err(error) => return Err(error.into()),
    }
    tracing::info!(order_id = %payment.order_id, status = ?payment.status, "payment decided");
    Ok(payment)
}

async fn find_by_order(state: &AppState, order_id: &OrderId) -> ApiResult<Option<PaymentView>> {
    let mut conn = state.db.reader().acquire().await?;
    Ok(db::find_by_order(&mut conn, order_id).await?)
}

//! The payment service's compensations:
//! - whenever an order is rejected or canceled, its payment is refunded (one refund record per
//!   order: refunding twice is impossible);
//! - whenever the order service gives up on a charge, the charge is voided (or refused if it
//!   arrives later).

use contracts::{Event, EventType};
use platform::{
    Tx,
    bus::{EventHandler, Incoming},
    db::now_ms,
    outbox,
};
use uuid::Uuid;

use crate::{db, domain};

pub struct PaymentPolicies;

impl EventHandler for PaymentPolicies {
    fn subscriptions(&self) -> &'static [EventType] {
        &[
            EventType::OrderRejected,
            EventType::OrderCanceled,
            EventType::PaymentVoidRequested,
        ]
    }

    async fn handle(&self, tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
        match &incoming.event {
            Event::OrderRejected(rejected) => refund(tx, &rejected.order_id, "rejected").await,
            Event::OrderCanceled(canceled) => refund(tx, &canceled.order_id, "canceled").await,
            Event::PaymentVoidRequested(request) => {
                let existing = db::find_by_order(tx, &request.order_id).await?;
                let had_payment = existing.is_some();
                if let Some(voided) = domain::void(
                    existing,
                    &request.order_id,
                    &request.customer_id,
                    Uuid::now_v7().to_string(),
                    now_ms(),
                ) {
                    if had_payment {
                        db::set_status(tx, &voided).await?;
                    } else {
                        db::insert(tx, &voided).await?;
                    }
                    tracing::info!(order_id = %request.order_id, had_payment, "charge voided");
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

async fn refund(tx: &mut Tx, order_id: &str, reason: &str) -> anyhow::Result<()> {
    let Some(mut payment) = db::find_by_order(tx, order_id).await? else {
        tracing::warn!(order_id, "refund asked for an order without a payment");
        return Ok(());
    };
    if let Some(refunded) = domain::refund(&mut payment, Uuid::now_v7().to_string(), reason) {
        db::set_status(tx, &payment).await?;
        db::insert_refund(tx, &refunded).await?;
        outbox::enqueue(tx, [refunded]).await?;
    }
    Ok(())
}

//! The payment service's compensations:
//! - whenever an order is rejected or canceled, its payment is refunded (one refund record per
//!   order: refunding twice is impossible);
//! - whenever the order service gives up on a charge, the charge is voided (or refused if it
//!   arrives later).

use std::convert::Infallible;

use contracts::{Event, EventType, OrderId, PaymentId, RefundId, RefundReason};
use platform::{
    Decision, Tx, WorkError,
    bus::{EventHandler, Incoming},
    db::now_ms,
    unit,
};

use crate::payment::{self, Payment};

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
            Event::OrderRejected(rejected) => {
                refund(tx, &rejected.order_id, RefundReason::Rejected).await
            }
            Event::OrderCanceled(canceled) => {
                refund(tx, &canceled.order_id, RefundReason::Canceled).await
            }
            Event::PaymentVoidRequested(request) => {
                let voided = unit::change_in::<Payment, Infallible>(tx, &request.order_id, |p| {
                    Ok(if payment::void(&mut p.0) {
                        Decision::quiet()
                    } else {
                        Decision::Unchanged
                    })
                })
                .await;
                match voided {
                    Ok(_) => {}
                    // The charge has not arrived (or never will): a voided placeholder refuses it.
                    Err(WorkError::NotFound(_)) => {
                        let placeholder = payment::voided_placeholder(
                            &request.order_id,
                            &request.customer_id,
                            PaymentId::generate(),
                            now_ms(),
                        );
                        unit::create_in(tx, &Payment(placeholder), []).await?;
                    }
                    Err(error) => return Err(error.into()),
                }
                tracing::info!(order_id = %request.order_id, "charge voided");
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

async fn refund(tx: &mut Tx, order_id: &OrderId, reason: RefundReason) -> anyhow::Result<()> {
    let refunded = unit::change_in::<Payment, Infallible>(tx, order_id, |payment| {
        Ok(payment::refund(&mut payment.0, RefundId::generate(), reason).into())
    })
    .await;
    match refunded {
        Ok(_) => Ok(()),
        Err(WorkError::NotFound(_)) => {
            tracing::warn!(%order_id, "refund asked for an order without a payment");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

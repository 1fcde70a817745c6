//! The customer's policies:
//! - whenever an order is completed, the customer's count rises, and maybe their grade;
//! - whenever a review is written, its customer gets one coupon;
//! - whenever a review is deleted, that coupon is taken back (never twice, never below zero).

use std::convert::Infallible;

use contracts::{CouponId, Event, EventType};
use platform::{
    Decision, Tx, WorkError,
    bus::{EventHandler, Incoming},
    unit,
};

use crate::{
    coupon::Coupon,
    customer::{Customer, grade_for},
    db,
    settings::Grade,
};

pub struct CustomerPolicies {
    pub grades: Vec<Grade>,
}

impl EventHandler for CustomerPolicies {
    fn subscriptions(&self) -> &'static [EventType] {
        &[
            EventType::OrderCompleted,
            EventType::ReviewWritten,
            EventType::ReviewDeleted,
        ]
    }

    async fn handle(&self, tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
        match &incoming.event {
            Event::OrderCompleted(completed) => {
                let customer_id = &completed.customer_id;
                if !db::count_completed(tx, &completed.order_id, customer_id).await? {
                    return Ok(());
                }
                let first_sight = Customer {
                    customer_id: customer_id.clone(),
                    completed_orders: 0,
                    grade: grade_for(&self.grades, 0).to_owned(),
                };
                unit::create_in(tx, &first_sight, []).await?;
                unit::change_in::<Customer, Infallible>(tx, customer_id, |customer| {
                    Ok(Decision::changed(
                        customer.complete(&completed.order_id, &self.grades),
                    ))
                })
                .await?;
            }
            Event::ReviewWritten(review) => {
                let (coupon, issued) = Coupon::issue(
                    CouponId::generate(),
                    review.customer_id.clone(),
                    review.review_id.clone(),
                    review.order_id.clone(),
                );
                // False when the review earned it before, or its deletion was read first.
                unit::create_in(tx, &coupon, [issued.into()]).await?;
            }
            Event::ReviewDeleted(review) => {
                let revoked = unit::change_in::<Coupon, Infallible>(tx, &review.review_id, |c| {
                    Ok(c.revoke().into())
                })
                .await;
                match revoked {
                    Ok(_) => {}
                    Err(WorkError::NotFound(_)) => {
                        let forestalled = Coupon::forestalled(
                            CouponId::generate(),
                            review.customer_id.clone(),
                            review.review_id.clone(),
                            review.order_id.clone(),
                        );
                        unit::create_in(tx, &forestalled, []).await?;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

//! The customer's policies:
//! - whenever an order is completed, the customer's count rises, and maybe their grade;
//! - whenever a review is written, its customer gets one coupon;
//! - whenever a review is deleted, that coupon is taken back (never twice, never below zero).

use contracts::{CouponIssued, CouponRevoked, Event, EventType, GradeRaised};
use platform::{
    Tx,
    bus::{EventHandler, Incoming},
    config::Grade,
    outbox,
};
use uuid::Uuid;

use crate::{db, domain::grade_for};

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
        let first_grade = grade_for(&self.grades, 0);
        match &incoming.event {
            Event::OrderCompleted(completed) => {
                let customer_id = &completed.customer_id;
                db::customer(tx, customer_id, first_grade).await?;
                if !db::count_completed(tx, &completed.order_id, customer_id).await? {
                    return Ok(());
                }
                let completed_orders = db::add_completed(tx, customer_id).await?;
                let grade = grade_for(&self.grades, completed_orders);
                if db::set_grade(tx, customer_id, grade).await? {
                    outbox::enqueue(
                        tx,
                        [GradeRaised {
                            customer_id: customer_id.clone(),
                            order_id: completed.order_id.clone(),
                            grade: grade.to_owned(),
                            completed_orders,
                        }],
                    )
                    .await?;
                }
            }
            Event::ReviewWritten(review) => {
                db::customer(tx, &review.customer_id, first_grade).await?;
                let coupon_id = Uuid::now_v7().to_string();
                if db::issue_coupon(
                    tx,
                    &coupon_id,
                    &review.customer_id,
                    &review.review_id,
                    &review.order_id,
                )
                .await?
                {
                    outbox::enqueue(
                        tx,
                        [CouponIssued {
                            coupon_id,
                            customer_id: review.customer_id.clone(),
                            review_id: review.review_id.clone(),
                            order_id: review.order_id.clone(),
                        }],
                    )
                    .await?;
                }
            }
            Event::ReviewDeleted(review) => {
                db::forestall_coupon(
                    tx,
                    &Uuid::now_v7().to_string(),
                    &review.customer_id,
                    &review.review_id,
                    &review.order_id,
                )
                .await?;
                if let Some(coupon_id) = db::revoke_coupon(tx, &review.review_id).await? {
                    outbox::enqueue(
                        tx,
                        [CouponRevoked {
                            coupon_id,
                            customer_id: review.customer_id.clone(),
                            review_id: review.review_id.clone(),
                            order_id: review.order_id.clone(),
                        }],
                    )
                    .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

//! The customer service alone, with a real broker and database: completed orders raise a
//! customer's grade, and a review's coupon is issued and taken back with it.

use std::time::Duration;

use contracts::{Event, EventType, Krw, OrderCompleted, Producer, ReviewDeleted, ReviewWritten};
use platform::{Role, ServiceName};
use testkit::{ServiceUnderTest, eventually};

/// How long an event may take to be handled and published.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_order_raises_the_grade_and_a_review_earns_a_coupon_once() {
    let service =
        ServiceUnderTest::alone(ServiceName::Customer, &customer::MIGRATIONS, customer::run).await;
    let mut published = service.log_of(Producer::Customer);
    let order_id = uuid::Uuid::now_v7().to_string();
    let completed = OrderCompleted {
        order_id: order_id.as_str().into(),
        customer_id: "customer-1".into(),
        store_id: "store-1".into(),
        amount: Krw::new(7000),
    };
    // Delivered twice (a redelivery, the same event): counted once.
    let event_id = service.publish(completed.clone()).await;
    service.publish_with_id(&event_id, completed).await;
    let Event::GradeRaised(raised) = published.next(EventType::GradeRaised, WAIT).await else {
        unreachable!()
    };
    assert_eq!(
        (raised.grade.as_str(), raised.completed_orders),
        ("귀한분", 1)
    );

    let written = ReviewWritten {
        review_id: "review-1".into(),
        order_id: order_id.as_str().into(),
        customer_id: "customer-1".into(),
        store_id: "store-1".into(),
        rating: 5,
    };
    service.publish(written).await;
    let Event::CouponIssued(issued) = published.next(EventType::CouponIssued, WAIT).await else {
        unreachable!()
    };
    assert_eq!(issued.review_id, "review-1");
    let profile = |expected_coupons: usize| {
        let service = &service;
        async move {
            let me = service
                .get("/customers/me", ("customer-1", Role::Customer))
                .await;
            (me["couponCount"] == expected_coupons).then_some(me)
        }
    };
    let me = eventually(30, "the coupon to show", || profile(1)).await;
    assert_eq!(me["grade"], "귀한분");
    assert_eq!(me["completedOrders"], 1);

    service
        .publish(ReviewDeleted {
            review_id: "review-1".into(),
            order_id: order_id.as_str().into(),
            customer_id: "customer-1".into(),
        })
        .await;
    let Event::CouponRevoked(revoked) = published.next(EventType::CouponRevoked, WAIT).await else {
        unreachable!()
    };
    assert_eq!(revoked.coupon_id, issued.coupon_id);
    eventually(30, "the coupon to be taken back", || profile(0)).await;
    service.stop().await;
}

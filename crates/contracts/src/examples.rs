//! One example of every event, as a real record would carry it. The AsyncAPI document shows them
//! next to each message, and its tests check each against its schema, so an example is also the
//! proof that the schema describes what serde writes. Every id is different, so which field the
//! record key is can be read off an example (`Event::key` gives the value, not the field).

use crate::*;

/// The order of every example, for a test that adds events of its own to the same order.
pub const ORDER: &str = "0192f1a0-7b3c-7d41-9a52-3e6f8c1d2a01";
/// The customer of every example.
pub const CUSTOMER: &str = "4f1c2b8e-5d3a-5e7f-9b1c-0a2d4e6f8a02";
/// The store of every example.
pub const STORE: &str = "0192c3d4-1e2f-7a3b-8c4d-5e6f7a8b9c03";
const OWNER: &str = "7a2b3c4d-5e6f-5a1b-8c2d-3e4f5a6b7c04";
const PAYMENT: &str = "0192f1a0-7a11-7b22-8c33-4d5e6f7a8b05";
const REFUND: &str = "0192f1b9-0c1d-7e2f-9a3b-4c5d6e7f8a06";
const DELIVERY: &str = "0192f1c8-2d3e-7f4a-8b5c-6d7e8f9a0b07";
const RIDER: &str = "9b8c7d6e-5f4a-5b3c-9d2e-1f0a9b8c7d08";
const REVIEW: &str = "0192f2e0-3a4b-7c5d-8e6f-7a8b9c0d1e09";
const COUPON: &str = "0192f2e1-4b5c-7d6e-9f7a-8b9c0d1e2f10";

fn store_location() -> GeoPoint {
    GeoPoint::known(37.4979, 127.0276)
}

fn delivery_address() -> DeliveryAddress {
    DeliveryAddress {
        text: "서울 강남구 테헤란로 1".into(),
        point: GeoPoint::known(37.5006, 127.0364),
    }
}

/// One of every event type, in the catalogue's order.
pub fn examples() -> Vec<Event> {
    vec![
        MenuPublished {
            store_id: STORE.into(),
            owner_id: OWNER.into(),
            name: "김밥천국 강남점".into(),
            location: store_location(),
            open: true,
            foods: vec![MenuItem {
                food_id: "kimbap".into(),
                name: "김밥".into(),
                price: Krw::new(3500),
                sold_out: false,
            }],
            revision: 3,
        }
        .into(),
        OrderAccepted {
            order_id: ORDER.into(),
            store_id: STORE.into(),
            cook_minutes: 15,
            ready_at: 1_700_000_900_000,
        }
        .into(),
        OrderRejected {
            order_id: ORDER.into(),
            store_id: STORE.into(),
            reason: "out of rice".into(),
            automatic: false,
        }
        .into(),
        CookStarted {
            order_id: ORDER.into(),
            store_id: STORE.into(),
        }
        .into(),
        CookFinished {
            order_id: ORDER.into(),
            store_id: STORE.into(),
            store_name: "김밥천국 강남점".into(),
            store_location: store_location(),
            customer_id: CUSTOMER.into(),
            delivery_address: delivery_address(),
        }
        .into(),
        StoreOrderCanceled {
            order_id: ORDER.into(),
            store_id: STORE.into(),
        }
        .into(),
        CancelRefused {
            order_id: ORDER.into(),
            store_id: STORE.into(),
            reason: "cooking has started".into(),
            current_status: OrderStatus::Cooking,
        }
        .into(),
        OrderPlaced {
            order_id: ORDER.into(),
            customer_id: CUSTOMER.into(),
            store_id: STORE.into(),
            store_name: "김밥천국 강남점".into(),
            items: vec![OrderLine {
                food_id: "kimbap".into(),
                name: "김밥".into(),
                quantity: 2,
                unit_price: Krw::new(3500),
            }],
            amount: Krw::new(7000),
            delivery_address: delivery_address(),
            payment_id: PAYMENT.into(),
            menu_revision: 3,
            priced_at: 1_700_000_000_000,
        }
        .into(),
        OrderCancelRequested {
            order_id: ORDER.into(),
            store_id: STORE.into(),
            customer_id: CUSTOMER.into(),
        }
        .into(),
        OrderCanceled {
            order_id: ORDER.into(),
            customer_id: CUSTOMER.into(),
            store_id: STORE.into(),
            amount: Krw::new(7000),
            reason: Some("the store never received the order".into()),
        }
        .into(),
        PaymentVoidRequested {
            order_id: ORDER.into(),
            customer_id: CUSTOMER.into(),
        }
        .into(),
        OrderCompleted {
            order_id: ORDER.into(),
            customer_id: CUSTOMER.into(),
            store_id: STORE.into(),
            amount: Krw::new(7000),
        }
        .into(),
        PaymentApproved {
            order_id: ORDER.into(),
            payment_id: PAYMENT.into(),
            customer_id: CUSTOMER.into(),
            amount: Krw::new(7000),
            method: "card".into(),
        }
        .into(),
        PaymentRefunded {
            order_id: ORDER.into(),
            payment_id: PAYMENT.into(),
            refund_id: REFUND.into(),
            customer_id: CUSTOMER.into(),
            amount: Krw::new(7000),
            reason: RefundReason::Canceled,
        }
        .into(),
        DeliveryPicked {
            order_id: ORDER.into(),
            delivery_id: DELIVERY.into(),
            rider_id: RIDER.into(),
        }
        .into(),
        DeliveryCompleted {
            order_id: ORDER.into(),
            delivery_id: DELIVERY.into(),
            rider_id: RIDER.into(),
        }
        .into(),
        DeliveryCanceled {
            order_id: ORDER.into(),
            delivery_id: DELIVERY.into(),
        }
        .into(),
        ReviewWritten {
            review_id: REVIEW.into(),
            order_id: ORDER.into(),
            customer_id: CUSTOMER.into(),
            store_id: STORE.into(),
            rating: 5,
        }
        .into(),
        ReviewDeleted {
            review_id: REVIEW.into(),
            order_id: ORDER.into(),
            customer_id: CUSTOMER.into(),
        }
        .into(),
        CouponIssued {
            coupon_id: COUPON.into(),
            customer_id: CUSTOMER.into(),
            review_id: REVIEW.into(),
            order_id: ORDER.into(),
        }
        .into(),
        CouponRevoked {
            coupon_id: COUPON.into(),
            customer_id: CUSTOMER.into(),
            review_id: REVIEW.into(),
            order_id: ORDER.into(),
        }
        .into(),
        GradeRaised {
            customer_id: CUSTOMER.into(),
            order_id: ORDER.into(),
            grade: "귀한분".into(),
            completed_orders: 1,
        }
        .into(),
    ]
}

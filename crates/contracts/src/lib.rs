//! Wire contracts between baedal services (docs/events.md, and `/asyncapi.json`).
//!
//! Everything here crosses a process boundary: the domain events on the Kafka topic and the
//! request/response bodies of the few synchronous calls between services. Services depend on this
//! crate, never on each other, so a Java or Python service can join by reading this file, the
//! AsyncAPI document the gateway builds from these types (`/asyncapi.json`), or `docs/events.md`,
//! which a test holds to that document. No logic lives here.

use serde::{Deserialize, Serialize};

pub mod examples;
#[doc(hidden)]
pub use strum;
pub mod http;
mod status;
mod types;

pub use examples::examples;
pub use status::{OrderStatus, RefundReason};
pub use types::{
    CouponId, CustomerId, DeliveryId, FoodId, GeoPoint, Krw, NegativeAmount, OffTheMap, OrderId,
    OwnerId, PaymentId, RefundId, ReviewId, RiderId, StoreId,
};

/// The prefix of the event topics: each producing context publishes to `<prefix>.<context>`
/// (`baedal.order`, `baedal.store`, ...); configurable per deployment.
pub const DEFAULT_TOPIC_PREFIX: &str = "baedal";
/// Where poison events go, with the error that made them poison.
pub const DEFAULT_DLQ_TOPIC: &str = "baedal.dlq";

/// Kafka record headers every event carries.
/// `TryFrom<String>` for status enums from their `strum` names, so a status column decodes
/// straight into its enum: `#[sqlx(try_from = "String")] status: ReviewStatus`.
#[macro_export]
macro_rules! stored_by_name {
    ($($status:ty),+ $(,)?) => {$(
        impl ::std::convert::TryFrom<String> for $status {
            type Error = $crate::strum::ParseError;

            fn try_from(name: String) -> Result<Self, Self::Error> {
                name.parse()
            }
        }
    )+};
}

/// Declares a service's status enum the one way every service does: copied and compared, shown in
/// its API (`Serialize`, `ToSchema`), named by `strum` (the variant's name unless a
/// `#[strum(...)]` says otherwise) with `as_str`, and stored by that name (`stored_by_name!`).
/// The crate that uses it depends on `serde`, `utoipa` and `strum`, as every service does.
#[macro_export]
macro_rules! status {
    ($(#[$attr:meta])* $vis:vis enum $name:ident $variants:tt) => {
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            ::serde::Serialize,
            ::utoipa::ToSchema,
            ::strum::IntoStaticStr,
            ::strum::EnumString,
            ::strum::VariantArray,
        )]
        $(#[$attr])*
        $vis enum $name $variants

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        $crate::stored_by_name!($name);
    };
}

pub mod headers {
    pub const TYPE: &str = "type";
    pub const EVENT_ID: &str = "event-id";
    pub const SOURCE: &str = "source";
    pub const TRACEPARENT: &str = "traceparent";
    /// Only on the dead-letter topic: why the event could not be handled, and by whom.
    pub const ERROR: &str = "error";
    pub const FAILED_CONSUMER: &str = "failed-consumer";
}

/// One line of a store's menu as published to other services.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MenuItem {
    pub food_id: FoodId,
    pub name: String,
    /// KRW
    pub price: Krw,
    pub sold_out: bool,
}

/// One line of an order, priced by the order service from its menu replica.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub food_id: FoodId,
    pub name: String,
    pub quantity: i64,
    /// KRW, per unit, as it was when the order was placed
    pub unit_price: Krw,
}

/// Where to deliver: the address as the customer wrote it, and its point on the map.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAddress {
    pub text: String,
    /// On the wire as `lat` and `lng` beside `text`.
    #[serde(flatten)]
    pub point: GeoPoint,
}

/// A store's public card and whole menu. Published on every change (creation, menu replaced,
/// opened or paused) so the order service can price orders without calling the store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MenuPublished {
    pub store_id: StoreId,
    pub owner_id: OwnerId,
    pub name: String,
    pub location: GeoPoint,
    pub open: bool,
    pub foods: Vec<MenuItem>,
    /// Increases with every publication of this store, so a replica ignores stale copies.
    pub revision: i64,
}

/// A paid order, ready for the store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub store_id: StoreId,
    pub store_name: String,
    pub items: Vec<OrderLine>,
    /// KRW, what the customer paid
    pub amount: Krw,
    pub delivery_address: DeliveryAddress,
    pub payment_id: PaymentId,
    /// The revision of the store's menu the order was priced at (0 from producers that do not
    /// know it); the store rejects an order priced at a menu that had already changed.
    #[serde(default)]
    pub menu_revision: i64,
    /// When the order was priced (epoch ms; 0 when unknown): the moment the menu check looks at.
    #[serde(default)]
    pub priced_at: i64,
}

/// The payment service charged the customer for an order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentApproved {
    pub order_id: OrderId,
    pub payment_id: PaymentId,
    pub customer_id: CustomerId,
    pub amount: Krw,
    pub method: String,
}

/// The store accepted an order and says when the food will be ready.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderAccepted {
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub cook_minutes: i64,
    /// Epoch ms when the food should be ready: acceptance time plus cook minutes.
    pub ready_at: i64,
}

/// The store turned an order down (or let its acceptance deadline pass): the payment is refunded.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderRejected {
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub reason: String,
    /// True when the store did not answer in time and the saga's deadline rejected it.
    pub automatic: bool,
}

/// Cooking started: from here on the order can no longer be canceled.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CookStarted {
    pub order_id: OrderId,
    pub store_id: StoreId,
}

/// The food is ready: a delivery opens from the store to the customer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CookFinished {
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub store_name: String,
    pub store_location: GeoPoint,
    pub customer_id: CustomerId,
    pub delivery_address: DeliveryAddress,
}

/// The customer asked to cancel; the store, which knows whether cooking started, decides.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCancelRequested {
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub customer_id: CustomerId,
}

/// The store confirmed a cancellation: it will not cook the order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreOrderCanceled {
    pub order_id: OrderId,
    pub store_id: StoreId,
}

/// The store refused a cancellation, because cooking had started (or the order was settled).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelRefused {
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub reason: String,
    /// Where the order stands at the store, as the customer sees it (`Cooking`, `Cooked`, ...).
    pub current_status: OrderStatus,
}

/// An order is canceled for good: the payment is refunded and any delivery closed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCanceled {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub store_id: StoreId,
    pub amount: Krw,
    /// Why, when it was not the customer's request: the store never received the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The order service gave up on a charge (no answer in time): if the payment service did charge,
/// it voids the charge, and it refuses the charge if it arrives later.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentVoidRequested {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
}

/// Money went back to the customer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRefunded {
    pub order_id: OrderId,
    pub payment_id: PaymentId,
    pub refund_id: RefundId,
    pub customer_id: CustomerId,
    pub amount: Krw,
    pub reason: RefundReason,
}

/// A rider delivered the order. (Published by the delivery service.)
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCompleted {
    pub order_id: OrderId,
    pub delivery_id: DeliveryId,
    pub rider_id: RiderId,
}

/// The customer confirmed receipt: the order is complete (grades and reviews start from here).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCompleted {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub store_id: StoreId,
    pub amount: Krw,
}

/// A rider took a delivery: exactly one rider wins it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPicked {
    pub order_id: OrderId,
    pub delivery_id: DeliveryId,
    pub rider_id: RiderId,
}

/// A delivery closed because its order was canceled.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCanceled {
    pub order_id: OrderId,
    pub delivery_id: DeliveryId,
}

/// A customer reviewed a completed order: the customer service issues a coupon for it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewWritten {
    pub review_id: ReviewId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub store_id: StoreId,
    pub rating: i64,
}

/// A review was removed: its coupon is taken back (the compensation of `ReviewWritten`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewDeleted {
    pub review_id: ReviewId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
}

/// The customer service gave the customer a coupon for a review (one per review).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CouponIssued {
    pub coupon_id: CouponId,
    pub customer_id: CustomerId,
    pub review_id: ReviewId,
    pub order_id: OrderId,
}

/// The customer service took back a review's coupon because the review was deleted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CouponRevoked {
    pub coupon_id: CouponId,
    pub customer_id: CustomerId,
    pub review_id: ReviewId,
    pub order_id: OrderId,
}

/// A completed order lifted the customer to a new grade.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GradeRaised {
    pub customer_id: CustomerId,
    /// The order whose completion raised it.
    pub order_id: OrderId,
    pub grade: String,
    pub completed_orders: i64,
}

/// A JSON schema, or a reference to one by name.
pub type Schema = utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>;

/// An event type this build does not know: a newer producer's, which consumers skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventType(pub String);

impl std::fmt::Display for UnknownEventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown event type `{}`", self.0)
    }
}

impl std::error::Error for UnknownEventType {}

/// The bounded context that publishes an event. Each has a topic of its own, so a consumer fetches
/// only the producers it listens to (see `EventType::producer`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum Producer {
    Order,
    Payment,
    Store,
    Delivery,
    Review,
    Customer,
}

impl Producer {
    pub const ALL: &'static [Producer] = <Producer as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The topic this context publishes to, under `prefix`.
    pub fn topic(self, prefix: &str) -> String {
        format!("{prefix}.{}", self.as_str())
    }
}

macro_rules! catalogue {
    ($($producer:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        catalogue!(@flat [$($($name),*),*] [$($producer: [$($name),*]),*]);
    };
    (@flat [$($name:ident),*] [$($producer:ident: [$($named:ident),*]),*]) => {
        /// Every domain event on the topic. Serialized with its name in `eventType`, next to the
        /// event's own fields.
        #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
        #[serde(tag = "eventType")]
        pub enum Event {
            $($name($name),)*
        }

        impl Event {
            /// The value of `eventType` and of the `type` header.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Event::$name(_) => stringify!($name),)*
                }
            }

            /// Every event type name, for consumers that check the `type` header before decoding.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// What kind of event this is.
            pub fn kind(&self) -> EventType {
                match self {
                    $(Event::$name(_) => EventType::$name,)*
                }
            }
        }

        /// The kind of an event without its fields: what a policy or projection subscribes to, so
        /// "who reacts to `OrderCanceled`" is a search for `EventType::OrderCanceled`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $($name,)*
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$name),*];

            /// The value of `eventType` and of the `type` header.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$name => stringify!($name),)*
                }
            }

            /// The context that publishes this type, and so the topic it is on.
            pub fn producer(self) -> Producer {
                match self {
                    $($(EventType::$named => Producer::$producer,)*)*
                }
            }

            /// The JSON schema of this type's own fields (the envelope's are not in it), with the
            /// schemas it refers to by name: what the AsyncAPI document is built from, so its
            /// payloads change with these structs.
            pub fn schema(self) -> (Schema, Vec<(String, Schema)>) {
                match self {
                    $(EventType::$name => {
                        let mut referred = Vec::new();
                        <$name as utoipa::ToSchema>::schemas(&mut referred);
                        (<$name as utoipa::PartialSchema>::schema(), referred)
                    })*
                }
            }
        }

        impl std::str::FromStr for EventType {
            type Err = UnknownEventType;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($name) => Ok(EventType::$name),)*
                    other => Err(UnknownEventType(other.to_owned())),
                }
            }
        }

        impl std::fmt::Display for EventType {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $(impl From<$name> for Event {
            fn from(event: $name) -> Self {
                Event::$name(event)
            }
        })*
    };
}

catalogue!(
    Store: [
        MenuPublished,
        OrderAccepted,
        OrderRejected,
        CookStarted,
        CookFinished,
        StoreOrderCanceled,
        CancelRefused,
    ],
    Order: [
        OrderPlaced,
        OrderCancelRequested,
        OrderCanceled,
        PaymentVoidRequested,
        OrderCompleted,
    ],
    Payment: [PaymentApproved, PaymentRefunded],
    Delivery: [DeliveryPicked, DeliveryCompleted, DeliveryCanceled],
    Review: [ReviewWritten, ReviewDeleted],
    Customer: [CouponIssued, CouponRevoked, GradeRaised],
);

impl Event {
    /// The record key: the order id, so all events of one order stay in one partition, in order.
    /// Store-level events are keyed by store for the same reason.
    pub fn key(&self) -> &str {
        match self {
            Event::MenuPublished(e) => e.store_id.as_str(),
            _ => self.order_id().map_or("", OrderId::as_str),
        }
    }

    /// The order the event is about; every event but a store's menu is about one.
    pub fn order_id(&self) -> Option<&OrderId> {
        match self {
            Event::MenuPublished(_) => None,
            Event::OrderPlaced(e) => Some(&e.order_id),
            Event::PaymentApproved(e) => Some(&e.order_id),
            Event::OrderAccepted(e) => Some(&e.order_id),
            Event::OrderRejected(e) => Some(&e.order_id),
            Event::CookStarted(e) => Some(&e.order_id),
            Event::CookFinished(e) => Some(&e.order_id),
            Event::OrderCancelRequested(e) => Some(&e.order_id),
            Event::StoreOrderCanceled(e) => Some(&e.order_id),
            Event::CancelRefused(e) => Some(&e.order_id),
            Event::OrderCanceled(e) => Some(&e.order_id),
            Event::PaymentVoidRequested(e) => Some(&e.order_id),
            Event::PaymentRefunded(e) => Some(&e.order_id),
            Event::DeliveryCompleted(e) => Some(&e.order_id),
            Event::OrderCompleted(e) => Some(&e.order_id),
            Event::DeliveryPicked(e) => Some(&e.order_id),
            Event::DeliveryCanceled(e) => Some(&e.order_id),
            Event::ReviewWritten(e) => Some(&e.order_id),
            Event::ReviewDeleted(e) => Some(&e.order_id),
            Event::CouponIssued(e) => Some(&e.order_id),
            Event::CouponRevoked(e) => Some(&e.order_id),
            Event::GradeRaised(e) => Some(&e.order_id),
        }
    }
}

/// The JSON value of a record: `eventType`, `timestamp` (epoch ms) and the event's fields, the
/// shape the seeds' Spring Cloud Stream services use.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    pub timestamp: i64,
    #[serde(flatten)]
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed() -> Event {
        examples()
            .into_iter()
            .find(|e| e.kind() == EventType::OrderPlaced)
            .unwrap()
    }

    #[test]
    fn body_is_flat_camel_case_with_event_type_and_timestamp() {
        let body = EventBody {
            timestamp: 1_700_000_000_000,
            event: placed(),
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["eventType"], "OrderPlaced");
        assert_eq!(json["timestamp"], 1_700_000_000_000_i64);
        assert_eq!(json["orderId"], "0192f1a0-7b3c-7d41-9a52-3e6f8c1d2a01");
        assert_eq!(json["items"][0]["unitPrice"], 3500);
        assert_eq!(json["deliveryAddress"]["lat"], 37.5006);
        let back: EventBody = serde_json::from_value(json).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn key_is_the_order_id() {
        let Event::OrderPlaced(order) = placed() else {
            unreachable!()
        };
        assert_eq!(placed().key(), order.order_id.as_str());
        assert_eq!(placed().event_type(), "OrderPlaced");
        assert!(Event::TYPES.contains(&"OrderPlaced"));
    }

    #[test]
    fn every_event_has_its_type_and_every_type_its_name() {
        let kinds: Vec<EventType> = examples().iter().map(Event::kind).collect();
        // One example of each type, in the catalogue's order: the AsyncAPI document lists them so.
        assert_eq!(kinds, EventType::ALL, "add an example of every new event");
        for (event, kind) in examples().iter().zip(&kinds) {
            assert_eq!(kind.as_str(), event.event_type());
            assert_eq!(event.event_type().parse::<EventType>(), Ok(*kind));
        }
        assert_eq!(
            EventType::ALL
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>(),
            Event::TYPES
        );
        assert_eq!(
            "OrderTeleported".parse::<EventType>(),
            Err(UnknownEventType("OrderTeleported".into()))
        );
    }

    #[test]
    fn examples_round_trip_and_their_key_is_one_field() {
        for event in examples() {
            let body = EventBody {
                timestamp: 1_700_000_000_000,
                event,
            };
            let json = serde_json::to_value(&body).unwrap();
            assert_eq!(
                serde_json::from_value::<EventBody>(json.clone()).unwrap(),
                body
            );
            // The AsyncAPI document names the key's field by finding its value.
            let holding_key = json
                .as_object()
                .unwrap()
                .values()
                .filter(|v| v.as_str() == Some(body.event.key()))
                .count();
            assert_eq!(holding_key, 1, "{}", body.event.event_type());
        }
    }

    #[test]
    fn a_body_written_by_another_language_decodes() {
        // Field order and extra fields must not matter: a Spring service adds its own.
        let json = r#"{"orderId":"o-9","paymentId":"p","customerId":"c","amount":1,
            "method":"card","eventType":"PaymentApproved","timestamp":5,"extra":true}"#;
        let body: EventBody = serde_json::from_str(json).unwrap();
        assert_eq!(body.event.key(), "o-9");
        assert_eq!(body.timestamp, 5);
    }
}

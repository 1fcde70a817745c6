//! The order aggregate and the pricing of a new order. Pure: parsing turns a customer's request
//! into values that cannot be wrong, pricing uses the order service's menu replica, and placing an
//! order returns the `OrderPlaced` event for the caller to store with it.

pub use contracts::OrderStatus;
use contracts::{
    CustomerId, DeliveryAddress, Event, FoodId, GeoPoint, Krw, MenuItem, MenuPublished,
    OrderCancelRequested, OrderCanceled, OrderCompleted, OrderId, OrderLine, OrderPlaced,
    PaymentId, PaymentVoidRequested, StoreId,
};

pub const MAX_LINES: usize = 30;
pub const MAX_QUANTITY: i64 = 99;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("{0}")]
    Invalid(String),
    #[error("the store is not taking orders right now")]
    StoreClosed,
    #[error("food {0} is not on this store's menu")]
    UnknownFood(FoodId),
    #[error("{0} is sold out")]
    SoldOut(String),
    #[error("cooking has already started; the order can no longer be canceled")]
    CancelTooLate,
    #[error("cannot {action} an order that is {}", from.as_str())]
    InvalidTransition {
        action: &'static str,
        from: OrderStatus,
    },
}

fn invalid(message: impl Into<String>) -> OrderError {
    OrderError::Invalid(message.into())
}

/// How many of one food: 1 to 99 on a line; lines of one food add up (up to 30 × 99).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity(i64);

impl Quantity {
    pub fn parse(raw: i64) -> Result<Self, OrderError> {
        if (1..=MAX_QUANTITY).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(invalid(format!("quantity must be 1 to {MAX_QUANTITY}")))
        }
    }
}

/// Where to deliver: a non-empty address text and a point on the map.
pub fn parse_address(text: &str, lat: f64, lng: f64) -> Result<DeliveryAddress, OrderError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 200 {
        return Err(invalid("deliveryAddress.text must be 1 to 200 characters"));
    }
    let point = GeoPoint::new(lat, lng).map_err(|e| invalid(format!("deliveryAddress {e}")))?;
    Ok(DeliveryAddress {
        text: text.to_owned(),
        point,
    })
}

/// A customer's order request, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceOrder {
    pub store_id: StoreId,
    /// Distinct foods, in the customer's order; repeated foods are merged.
    pub items: Vec<(FoodId, Quantity)>,
    pub delivery_address: DeliveryAddress,
    pub card_token: String,
}

impl PlaceOrder {
    pub fn parse(
        store_id: StoreId,
        items: Vec<(String, i64)>,
        delivery_address: DeliveryAddress,
        payment_method: &str,
        card_token: String,
    ) -> Result<Self, OrderError> {
        if store_id.as_str().trim().is_empty() {
            return Err(invalid("storeId is required"));
        }
        if items.is_empty() || items.len() > MAX_LINES {
            return Err(invalid(format!("an order has 1 to {MAX_LINES} items")));
        }
        if payment_method != "card" {
            return Err(invalid("payment.method must be \"card\""));
        }
        if card_token.trim().is_empty() || card_token.len() > 200 {
            return Err(invalid("payment.cardToken is required"));
        }
        let mut merged: Vec<(FoodId, i64)> = Vec::new();
        for (index, (food_id, quantity)) in items.into_iter().enumerate() {
            if food_id.trim().is_empty() {
                return Err(invalid(format!("items[{index}].foodId is required")));
            }
            Quantity::parse(quantity).map_err(|e| invalid(format!("items[{index}].{e}")))?;
            let food_id = FoodId::from(food_id);
            match merged.iter_mut().find(|(id, _)| *id == food_id) {
                Some((_, total)) => *total += quantity,
                None => merged.push((food_id, quantity)),
            }
        }
        // Lines of one food add up: each line is 1 to 99, so the sum is within 30 × 99.
        let items = merged
            .into_iter()
            .map(|(id, q)| (id, Quantity(q)))
            .collect();
        Ok(Self {
            store_id,
            items,
            delivery_address,
            card_token,
        })
    }
}

/// The priced lines and the total the customer pays.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    pub lines: Vec<OrderLine>,
    pub amount: Krw,
}

/// Prices an order from the store's menu as the replica has it now.
pub fn price(menu: &MenuPublished, items: &[(FoodId, Quantity)]) -> Result<Priced, OrderError> {
    if !menu.open {
        return Err(OrderError::StoreClosed);
    }
    let mut lines = Vec::with_capacity(items.len());
    let mut amount = Krw::ZERO;
    for (food_id, quantity) in items {
        let food: &MenuItem = menu
            .foods
            .iter()
            .find(|f| &f.food_id == food_id)
            .ok_or_else(|| OrderError::UnknownFood(food_id.clone()))?;
        if food.sold_out {
            return Err(OrderError::SoldOut(food.name.clone()));
        }
        // Bounded by MAX_LINES × MAX_QUANTITY × the store's MAX_PRICE: far from overflow, but
        // checked all the same since the replica comes off the wire.
        amount = food
            .price
            .checked_mul(quantity.0)
            .and_then(|line| amount.checked_add(line))
            .ok_or_else(|| invalid("order total is out of range"))?;
        lines.push(OrderLine {
            food_id: food.food_id.clone(),
            name: food.name.clone(),
            quantity: quantity.0,
            unit_price: food.price,
        });
    }
    Ok(Priced { lines, amount })
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub store_id: StoreId,
    pub store_name: String,
    pub status: OrderStatus,
    pub amount: Krw,
    pub items: Vec<OrderLine>,
    pub delivery_address: DeliveryAddress,
    /// None until the charge is approved.
    pub payment_id: Option<PaymentId>,
    pub placed_at: i64,
    /// The revision of the store's menu the order was priced at; the store checks it.
    pub menu_revision: i64,
    /// While a cancel request is open: the status the order goes back to if the store refuses.
    pub resume_status: Option<OrderStatus>,
    pub ready_at: Option<i64>,
    pub cancel_refusal: Option<String>,
    /// The request this order answers, when the customer sent an `Idempotency-Key`.
    pub request: Option<RequestKey>,
    pub version: i64,
}

/// A customer's `Idempotency-Key` and what the request asked for: the same key with the same
/// request is the same order; with another request it is a mistake.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestKey {
    pub key: String,
    pub fingerprint: String,
}

impl RequestKey {
    /// 1 to 200 visible ASCII characters, as clients generate them (usually a UUID).
    pub fn parse(key: &str, request: &PlaceOrder) -> Result<Self, OrderError> {
        if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "Idempotency-Key must be 1 to 200 visible ASCII characters",
            ));
        }
        // The card token is left out: it is a credential, and the rest says what was ordered.
        let items: Vec<(&str, i64)> = request
            .items
            .iter()
            .map(|(food, quantity)| (food.as_str(), quantity.0))
            .collect();
        let fingerprint = serde_json::json!({
            "storeId": request.store_id,
            "items": items,
            "deliveryAddress": request.delivery_address,
        })
        .to_string();
        Ok(Self {
            key: key.to_owned(),
            fingerprint,
        })
    }
}

impl Order {
    /// A priced order about to be charged: `PaymentPending`, recorded before the charge.
    pub fn pending(
        order_id: OrderId,
        customer_id: CustomerId,
        menu: &MenuPublished,
        priced: Priced,
        delivery_address: DeliveryAddress,
        request: Option<RequestKey>,
        now: i64,
    ) -> Self {
        Self {
            order_id,
            customer_id,
            store_id: menu.store_id.clone(),
            store_name: menu.name.clone(),
            status: OrderStatus::PaymentPending,
            amount: priced.amount,
            items: priced.lines,
            delivery_address,
            payment_id: None,
            placed_at: now,
            menu_revision: menu.revision,
            resume_status: None,
            ready_at: None,
            cancel_refusal: None,
            request,
            version: 1,
        }
    }

    /// The charge was approved: the order is `Placed`, and the event takes it to the store.
    pub fn paid(&mut self, payment_id: PaymentId) -> Result<OrderPlaced, OrderError> {
        if self.status != OrderStatus::PaymentPending {
            return Err(OrderError::InvalidTransition {
                action: "place",
                from: self.status,
            });
        }
        self.status = OrderStatus::Placed;
        self.payment_id = Some(payment_id.clone());
        Ok(OrderPlaced {
            order_id: self.order_id.clone(),
            customer_id: self.customer_id.clone(),
            store_id: self.store_id.clone(),
            store_name: self.store_name.clone(),
            items: self.items.clone(),
            amount: self.amount,
            delivery_address: self.delivery_address.clone(),
            payment_id,
            menu_revision: self.menu_revision,
            priced_at: self.placed_at,
        })
    }

    /// The card was declined: there is no charge and no order. The key keeps answering 402.
    pub fn declined(&mut self) -> Result<(), OrderError> {
        if self.status != OrderStatus::PaymentPending {
            return Err(OrderError::InvalidTransition {
                action: "decline",
                from: self.status,
            });
        }
        self.status = OrderStatus::PaymentDeclined;
        Ok(())
    }

    /// The charge's outcome is unknown: no order, and the charge (if it landed, or when it
    /// lands) is voided. The key is freed, so the customer's retry is a new attempt.
    pub fn payment_failed(&mut self) -> Result<PaymentVoidRequested, OrderError> {
        if self.status != OrderStatus::PaymentPending {
            return Err(OrderError::InvalidTransition {
                action: "give up the payment of",
                from: self.status,
            });
        }
        self.status = OrderStatus::PaymentFailed;
        self.request = None;
        Ok(PaymentVoidRequested {
            order_id: self.order_id.clone(),
            customer_id: self.customer_id.clone(),
        })
    }

    /// The customer asks to cancel. Until cooking starts the store decides (the request goes to
    /// it); once this service knows cooking started it answers at once. Asking again is harmless.
    pub fn request_cancel(&mut self) -> Result<Option<OrderCancelRequested>, OrderError> {
        match self.status {
            OrderStatus::Placed | OrderStatus::Accepted => {
                self.resume_status = Some(self.status);
                self.status = OrderStatus::CancelRequested;
                self.cancel_refusal = None;
                Ok(Some(OrderCancelRequested {
                    order_id: self.order_id.clone(),
                    store_id: self.store_id.clone(),
                    customer_id: self.customer_id.clone(),
                }))
            }
            OrderStatus::CancelRequested | OrderStatus::Canceled => Ok(None),
            OrderStatus::Cooking
            | OrderStatus::Cooked
            | OrderStatus::Picked
            | OrderStatus::Delivered => Err(OrderError::CancelTooLate),
            from => Err(OrderError::InvalidTransition {
                action: "cancel",
                from,
            }),
        }
    }

    /// Moves the order along as the store and the delivery report progress. While a cancel
    /// request is open, progress only changes where a refusal would take the order back to.
    /// Returns the events the change causes.
    pub fn apply(&mut self, event: &Event) -> Vec<Event> {
        if self.status.is_final() {
            return Vec::new();
        }
        // Progress only moves forward, and skips ahead over a step whose event was lost or
        // dead-lettered (a late CookStarted after CookFinished changes nothing).
        let progress = |order: &mut Order, to: OrderStatus| {
            if order.status == OrderStatus::CancelRequested {
                let resume = order.resume_status.unwrap_or(OrderStatus::Placed);
                if to.stage() > resume.stage() {
                    order.resume_status = Some(to);
                }
            } else if to.stage() > order.status.stage() {
                order.status = to;
            }
        };
        match event {
            Event::OrderAccepted(accepted) => {
                self.ready_at = Some(accepted.ready_at);
                progress(self, OrderStatus::Accepted);
            }
            Event::CookStarted(_) => progress(self, OrderStatus::Cooking),
            Event::CookFinished(_) => progress(self, OrderStatus::Cooked),
            Event::DeliveryPicked(_) => progress(self, OrderStatus::Picked),
            Event::DeliveryCompleted(_) => progress(self, OrderStatus::Delivered),
            Event::OrderRejected(_) => {
                self.status = OrderStatus::Rejected;
                self.resume_status = None;
            }
            Event::StoreOrderCanceled(_) => {
                self.status = OrderStatus::Canceled;
                self.resume_status = None;
                return vec![self.canceled(None).into()];
            }
            Event::CancelRefused(refused) => {
                if self.status == OrderStatus::CancelRequested {
                    self.status = self.resume_status.take().unwrap_or(refused.current_status);
                }
                self.cancel_refusal = Some(refused.reason.clone());
            }
            _ => {}
        }
        Vec::new()
    }

    fn canceled(&self, reason: Option<String>) -> OrderCanceled {
        OrderCanceled {
            order_id: self.order_id.clone(),
            customer_id: self.customer_id.clone(),
            store_id: self.store_id.clone(),
            amount: self.amount,
            reason,
        }
    }

    /// The store never answered within its deadline and a grace: its copy of the order was
    /// lost (a dead-lettered `OrderPlaced`). The order is canceled, which refunds it and tells
    /// the store to drop it should it arrive after all. Only a `Placed` order expires: any
    /// answer of the store moved it on.
    pub fn expire(&mut self) -> Option<OrderCanceled> {
        if self.status != OrderStatus::Placed {
            return None;
        }
        self.status = OrderStatus::Canceled;
        Some(self.canceled(Some("the store never received the order".into())))
    }

    /// The customer got the food: the order is complete. Confirming twice is harmless.
    pub fn confirm_receipt(&mut self) -> Result<Option<OrderCompleted>, OrderError> {
        match self.status {
            OrderStatus::Delivered => {
                self.status = OrderStatus::Completed;
                Ok(Some(OrderCompleted {
                    order_id: self.order_id.clone(),
                    customer_id: self.customer_id.clone(),
                    store_id: self.store_id.clone(),
                    amount: self.amount,
                }))
            }
            OrderStatus::Completed => Ok(None),
            from => Err(OrderError::InvalidTransition {
                action: "confirm receipt of",
                from,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::GeoPoint;
    use proptest::prelude::*;

    fn menu() -> MenuPublished {
        MenuPublished {
            store_id: "s-1".into(),
            owner_id: "o-1".into(),
            name: "Kimbap Heaven".into(),
            location: GeoPoint::known(37.5, 127.0),
            open: true,
            foods: vec![
                MenuItem {
                    food_id: "kimbap".into(),
                    name: "Kimbap".into(),
                    price: Krw::new(3500),
                    sold_out: false,
                },
                MenuItem {
                    food_id: "ramyeon".into(),
                    name: "Ramyeon".into(),
                    price: Krw::new(4000),
                    sold_out: true,
                },
            ],
            revision: 3,
        }
    }

    fn address() -> DeliveryAddress {
        parse_address("Seoul", 37.5, 127.0).unwrap()
    }

    fn request(items: Vec<(&str, i64)>) -> Result<PlaceOrder, OrderError> {
        PlaceOrder::parse(
            "s-1".into(),
            items.into_iter().map(|(f, q)| (f.to_owned(), q)).collect(),
            address(),
            "card",
            "tok_ok".into(),
        )
    }

    #[test]
    fn prices_come_from_the_menu_and_repeats_merge() {
        let order = request(vec![("kimbap", 1), ("kimbap", 2)]).unwrap();
        let priced = price(&menu(), &order.items).unwrap();
        assert_eq!(priced.amount, Krw::new(10_500));
        assert_eq!(priced.lines.len(), 1);
        assert_eq!(priced.lines[0].quantity, 3);
    }

    #[test]
    fn closed_stores_unknown_and_sold_out_foods_are_refused() {
        let order = request(vec![("kimbap", 1)]).unwrap();
        let mut closed = menu();
        closed.open = false;
        assert_eq!(price(&closed, &order.items), Err(OrderError::StoreClosed));
        let unknown = request(vec![("pizza", 1)]).unwrap();
        assert_eq!(
            price(&menu(), &unknown.items),
            Err(OrderError::UnknownFood("pizza".into()))
        );
        let sold_out = request(vec![("ramyeon", 1)]).unwrap();
        assert_eq!(
            price(&menu(), &sold_out.items),
            Err(OrderError::SoldOut("Ramyeon".into()))
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(request(vec![]).is_err());
        assert!(request(vec![("kimbap", 0)]).is_err());
        assert!(request(vec![("kimbap", 100)]).is_err());
        // Lines of one food add up: each line is within bounds, so the order is too.
        let merged = request(vec![("kimbap", 60), ("kimbap", 60)]).unwrap();
        assert_eq!(merged.items.len(), 1);
        assert!(request(vec![("", 1)]).is_err());
        assert!(parse_address("", 37.5, 127.0).is_err());
        assert!(parse_address("x", 91.0, 127.0).is_err());
        assert!(
            PlaceOrder::parse(
                "s".into(),
                vec![("a".into(), 1)],
                address(),
                "cash",
                "t".into()
            )
            .is_err()
        );
    }

    fn pending_order() -> Order {
        let order = request(vec![("kimbap", 2)]).unwrap();
        let priced = price(&menu(), &order.items).unwrap();
        Order::pending(
            "o-9".into(),
            "c-1".into(),
            &menu(),
            priced,
            address(),
            None,
            42,
        )
    }

    #[test]
    fn an_approved_charge_places_the_order_with_the_event_the_store_needs() {
        let mut order = pending_order();
        assert_eq!(order.status, OrderStatus::PaymentPending);
        assert!(!order.status.is_placed());
        let event = order.paid("p-1".into()).unwrap();
        assert_eq!(order.status, OrderStatus::Placed);
        assert_eq!(order.payment_id, Some("p-1".into()));
        assert_eq!(event.amount, Krw::new(7000));
        assert_eq!(event.store_name, "Kimbap Heaven");
        assert_eq!(event.order_id, "o-9");
        assert_eq!(event.menu_revision, menu().revision);
        assert!(order.paid("p-2".into()).is_err(), "placed once");
    }

    #[test]
    fn a_payment_ends_in_exactly_one_way() {
        let mut declined = pending_order();
        declined.declined().unwrap();
        assert_eq!(declined.status, OrderStatus::PaymentDeclined);
        assert!(declined.paid("p-1".into()).is_err());
        assert!(declined.payment_failed().is_err());

        let mut failed = pending_order();
        failed.request = Some(RequestKey {
            key: "k".into(),
            fingerprint: "f".into(),
        });
        let void = failed.payment_failed().unwrap();
        assert_eq!(void.order_id, "o-9");
        assert_eq!(failed.status, OrderStatus::PaymentFailed);
        assert_eq!(failed.request, None, "the key is free for a retry");
        assert!(failed.paid("p-1".into()).is_err());
        assert!(failed.request_cancel().is_err());
    }

    #[test]
    fn an_idempotency_key_remembers_what_was_asked_not_the_card() {
        let a = request(vec![("kimbap", 2)]).unwrap();
        let mut same_other_card = a.clone();
        same_other_card.card_token = "tok_other".into();
        let b = request(vec![("kimbap", 3)]).unwrap();
        let key = |r: &PlaceOrder| RequestKey::parse("k-1", r).unwrap().fingerprint;
        assert_eq!(key(&a), key(&same_other_card));
        assert_ne!(key(&a), key(&b));
        for bad in ["", "with space", &"x".repeat(201), "é"] {
            assert!(RequestKey::parse(bad, &a).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn statuses_round_trip() {
        for &status in <OrderStatus as strum::VariantArray>::VARIANTS {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("placed"), None);
    }

    fn placed_order() -> Order {
        let request = request(vec![("kimbap", 1)]).unwrap();
        let priced = price(&menu(), &request.items).unwrap();
        let mut order = Order::pending(
            "o-1".into(),
            "c-1".into(),
            &menu(),
            priced,
            address(),
            None,
            0,
        );
        order.paid("p-1".into()).unwrap();
        order
    }

    fn store_event(kind: u8) -> Event {
        let (order_id, store_id) = (OrderId::from("o-1"), StoreId::from("s-1"));
        match kind {
            0 => contracts::OrderAccepted {
                order_id,
                store_id,
                cook_minutes: 10,
                ready_at: 600_000,
            }
            .into(),
            1 => contracts::CookStarted { order_id, store_id }.into(),
            2 => contracts::CookFinished {
                order_id,
                store_id,
                store_name: "s".into(),
                store_location: contracts::GeoPoint::known(0.0, 0.0),
                customer_id: "c-1".into(),
                delivery_address: address(),
            }
            .into(),
            3 => contracts::OrderRejected {
                order_id,
                store_id,
                reason: "busy".into(),
                automatic: false,
            }
            .into(),
            4 => contracts::StoreOrderCanceled { order_id, store_id }.into(),
            5 => contracts::CancelRefused {
                order_id,
                store_id,
                reason: "cooking has already started".into(),
                current_status: OrderStatus::Cooking,
            }
            .into(),
            _ => contracts::DeliveryCompleted {
                order_id,
                delivery_id: "d".into(),
                rider_id: "r".into(),
            }
            .into(),
        }
    }

    #[test]
    fn the_order_follows_the_store() {
        let mut order = placed_order();
        for (kind, status) in [
            (0, OrderStatus::Accepted),
            (1, OrderStatus::Cooking),
            (2, OrderStatus::Cooked),
            (6, OrderStatus::Delivered),
        ] {
            assert!(order.apply(&store_event(kind)).is_empty());
            assert_eq!(order.status, status);
        }
        assert_eq!(order.ready_at, Some(600_000));
        assert!(order.confirm_receipt().unwrap().is_some());
        assert_eq!(order.status, OrderStatus::Completed);
        assert!(
            order.confirm_receipt().unwrap().is_none(),
            "confirming twice is harmless"
        );
    }

    #[test]
    fn a_lost_step_is_skipped_and_a_late_one_changes_nothing() {
        let mut order = placed_order();
        order.apply(&store_event(0));
        // CookStarted was dead-lettered; CookFinished still moves the order on.
        order.apply(&store_event(2));
        assert_eq!(order.status, OrderStatus::Cooked);
        order.apply(&store_event(1));
        assert_eq!(
            order.status,
            OrderStatus::Cooked,
            "a replayed CookStarted does not go back"
        );
        order.apply(&store_event(6));
        assert_eq!(order.status, OrderStatus::Delivered);
    }

    #[test]
    fn a_refused_cancel_goes_back_to_where_the_store_got_to() {
        let mut order = placed_order();
        order.apply(&store_event(0));
        assert!(order.request_cancel().unwrap().is_some());
        assert!(
            order.request_cancel().unwrap().is_none(),
            "asking twice sends once"
        );
        // The store started cooking before it saw the request, then refused it.
        order.apply(&store_event(1));
        assert_eq!(order.status, OrderStatus::CancelRequested);
        order.apply(&store_event(5));
        assert_eq!(order.status, OrderStatus::Cooking);
        assert!(order.cancel_refusal.is_some());
        assert_eq!(order.request_cancel(), Err(OrderError::CancelTooLate));
    }

    #[test]
    fn a_granted_cancel_cancels_and_asks_for_the_refund() {
        let mut order = placed_order();
        order.request_cancel().unwrap();
        let caused = order.apply(&store_event(4));
        assert_eq!(order.status, OrderStatus::Canceled);
        assert!(matches!(&caused[..], [Event::OrderCanceled(c)] if c.amount == Krw::new(3500)));
        assert!(order.confirm_receipt().is_err());
    }

    proptest! {
        /// Whatever the store reports, in whatever order, a final order stays final and a
        /// canceled order was never cooked by the order service's account.
        #[test]
        fn final_statuses_are_final(kinds in proptest::collection::vec(0u8..7, 0..12), cancel_at in 0usize..12) {
            let mut order = placed_order();
            let mut canceled = 0;
            for (index, kind) in kinds.iter().enumerate() {
                if index == cancel_at {
                    let _ = order.request_cancel();
                }
                let before = order.status;
                let caused = order.apply(&store_event(*kind));
                canceled += caused.len();
                if before.is_final() {
                    prop_assert_eq!(order.status, before);
                    prop_assert!(caused.is_empty());
                }
                prop_assert!(order.status != OrderStatus::CancelRequested || order.resume_status.is_some());
            }
            prop_assert!(canceled <= 1, "OrderCanceled is published at most once");
        }

        #[test]
        fn the_total_is_the_sum_of_the_lines(quantities in proptest::collection::vec(1i64..=20, 1..5)) {
            let items: Vec<_> = quantities.iter().map(|q| ("kimbap", *q)).collect();
            let parsed = request(items);
            let total: i64 = quantities.iter().sum();
            // Each line is valid, so the order is, whatever its lines of one food add up to.
            let order = parsed.unwrap();
            let priced = price(&menu(), &order.items).unwrap();
            prop_assert_eq!(priced.amount, Krw::new(3500).checked_mul(total).unwrap());
        }
    }

    #[test]
    fn only_an_order_the_store_never_answered_expires() {
        let mut order = placed_order();
        let canceled = order.expire().expect("a placed order expires");
        assert_eq!(order.status, OrderStatus::Canceled);
        assert!(canceled.reason.unwrap().contains("never received"));
        assert_eq!(order.expire(), None, "once");
        let mut accepted = placed_order();
        accepted.apply(&store_event(0));
        assert_eq!(accepted.expire(), None);
        let mut pending = pending_order();
        assert_eq!(pending.expire(), None, "no order yet");
    }
}

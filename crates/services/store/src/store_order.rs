//! The store's copy of an order: the state machine the owner drives (accept, reject, cook), the
//! cancel request the store decides, and the order's steps after the kitchen. Pure, like the store.

use contracts::{
    CancelRefused, CookFinished, CookStarted, CustomerId, DeliveryAddress, Krw, MenuPublished,
    OrderAccepted, OrderId, OrderLine, OrderRejected, OrderStatus, StoreId, StoreOrderCanceled,
};

use crate::store::Store;

/// Why an order priced at menu revision `priced_at` cannot be taken, judged against `menu`, the
/// menu as it was when the order was priced. `None` when every line still holds: a change to
/// other foods, or none at all, leaves the order valid.
pub fn stale_order(menu: &MenuPublished, priced_at: i64, lines: &[OrderLine]) -> Option<String> {
    if menu.revision <= priced_at {
        return None;
    }
    if !menu.open {
        return Some("the store had paused taking orders".into());
    }
    for line in lines {
        let Some(food) = menu.foods.iter().find(|f| f.food_id == line.food_id) else {
            return Some(format!("{} was no longer on the menu", line.name));
        };
        if food.sold_out {
            return Some(format!("{} had sold out", food.name));
        }
        if food.price != line.unit_price {
            return Some(format!(
                "the price of {} had changed from {} to {} KRW",
                food.name, line.unit_price, food.price
            ));
        }
    }
    None
}

contracts::status! {
    /// Where a store order stands, from the store's side (the same names the customer sees).
    pub enum StoreOrderStatus {
        Placed,
        Accepted,
        Rejected,
        Cooking,
        Cooked,
        /// A rider has the food: the owner follows the order on from here.
        Picked,
        Delivered,
        /// The customer confirmed receipt.
        Completed,
        Canceled,
    }
}

impl StoreOrderStatus {
    /// Whether an order in this status counts in the store's food counts.
    pub fn counts(self) -> bool {
        !matches!(
            self,
            StoreOrderStatus::Rejected | StoreOrderStatus::Canceled
        )
    }

    /// How far past the kitchen the order is: `None` before it is cooked (or when it never
    /// will be).
    fn leg(self) -> Option<u8> {
        match self {
            StoreOrderStatus::Cooked => Some(0),
            StoreOrderStatus::Picked => Some(1),
            StoreOrderStatus::Delivered => Some(2),
            StoreOrderStatus::Completed => Some(3),
            _ => None,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok()
    }
}

/// The store's statuses have the customer's names: a cancel refusal tells the order where it is.
impl From<StoreOrderStatus> for OrderStatus {
    fn from(status: StoreOrderStatus) -> Self {
        match status {
            StoreOrderStatus::Placed => OrderStatus::Placed,
            StoreOrderStatus::Accepted => OrderStatus::Accepted,
            StoreOrderStatus::Rejected => OrderStatus::Rejected,
            StoreOrderStatus::Cooking => OrderStatus::Cooking,
            StoreOrderStatus::Cooked => OrderStatus::Cooked,
            StoreOrderStatus::Picked => OrderStatus::Picked,
            StoreOrderStatus::Delivered => OrderStatus::Delivered,
            StoreOrderStatus::Completed => OrderStatus::Completed,
            StoreOrderStatus::Canceled => OrderStatus::Canceled,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreOrderError {
    #[error("cannot {action} an order that is {}", from.as_str())]
    InvalidTransition {
        action: &'static str,
        from: StoreOrderStatus,
    },
    #[error("{0}")]
    Invalid(String),
}

pub const MAX_COOK_MINUTES: i64 = 180;

/// Minutes of cooking the owner promises: 1 to 180.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CookMinutes(i64);

impl CookMinutes {
    pub fn parse(raw: i64) -> Result<Self, StoreOrderError> {
        if (1..=MAX_COOK_MINUTES).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(StoreOrderError::Invalid(format!(
                "cookMinutes must be 1 to {MAX_COOK_MINUTES}"
            )))
        }
    }
}

/// Why an order was rejected: 1 to 200 characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason(String);

impl Reason {
    pub fn parse(raw: &str) -> Result<Self, StoreOrderError> {
        let trimmed = raw.trim();
        let length = trimmed.chars().count();
        if length == 0 || length > 200 {
            return Err(StoreOrderError::Invalid(
                "reason must be 1 to 200 characters".into(),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// The store's copy of an order, and the state machine the owner drives.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOrder {
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub customer_id: CustomerId,
    pub status: StoreOrderStatus,
    pub amount: Krw,
    pub items: Vec<OrderLine>,
    pub delivery_address: DeliveryAddress,
    pub placed_at: i64,
    pub cook_minutes: Option<i64>,
    pub ready_at: Option<i64>,
    /// Optimistic concurrency: a change is saved only over the version it was made from.
    pub version: i64,
}

/// What the store answers to a customer's cancel request.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelDecision {
    Canceled(StoreOrderCanceled),
    Refused(CancelRefused),
    /// Asked twice: already canceled, nothing to say again.
    AlreadyCanceled,
}

impl StoreOrder {
    fn require(
        &self,
        action: &'static str,
        allowed: &[StoreOrderStatus],
    ) -> Result<(), StoreOrderError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(StoreOrderError::InvalidTransition {
                action,
                from: self.status,
            })
        }
    }

    pub fn accept(
        &mut self,
        minutes: CookMinutes,
        now: i64,
    ) -> Result<OrderAccepted, StoreOrderError> {
        self.require("accept", &[StoreOrderStatus::Placed])?;
        self.status = StoreOrderStatus::Accepted;
        self.cook_minutes = Some(minutes.0);
        let ready_at = now + minutes.0 * 60_000;
        self.ready_at = Some(ready_at);
        Ok(OrderAccepted {
            order_id: self.order_id.clone(),
            store_id: self.store_id.clone(),
            cook_minutes: minutes.0,
            ready_at,
        })
    }

    /// Only an order nobody accepted yet can be rejected; the deadline uses the same rule.
    pub fn reject(
        &mut self,
        reason: Reason,
        automatic: bool,
    ) -> Result<OrderRejected, StoreOrderError> {
        self.require("reject", &[StoreOrderStatus::Placed])?;
        self.status = StoreOrderStatus::Rejected;
        Ok(OrderRejected {
            order_id: self.order_id.clone(),
            store_id: self.store_id.clone(),
            reason: reason.0,
            automatic,
        })
    }

    /// From here on the order can no longer be canceled.
    pub fn start_cooking(&mut self) -> Result<CookStarted, StoreOrderError> {
        self.require("start cooking", &[StoreOrderStatus::Accepted])?;
        self.status = StoreOrderStatus::Cooking;
        Ok(CookStarted {
            order_id: self.order_id.clone(),
            store_id: self.store_id.clone(),
        })
    }

    pub fn finish_cooking(&mut self, store: &Store) -> Result<CookFinished, StoreOrderError> {
        self.require("finish cooking", &[StoreOrderStatus::Cooking])?;
        self.status = StoreOrderStatus::Cooked;
        Ok(CookFinished {
            order_id: self.order_id.clone(),
            store_id: self.store_id.clone(),
            store_name: store.name.clone(),
            store_location: store.location,
            customer_id: self.customer_id.clone(),
            delivery_address: self.delivery_address.clone(),
        })
    }

    /// The store is the authority on cancellation: until cooking starts it cancels, after that
    /// it refuses.
    pub fn request_cancel(&mut self) -> CancelDecision {
        match self.status {
            StoreOrderStatus::Placed | StoreOrderStatus::Accepted => {
                self.status = StoreOrderStatus::Canceled;
                CancelDecision::Canceled(StoreOrderCanceled {
                    order_id: self.order_id.clone(),
                    store_id: self.store_id.clone(),
                })
            }
            StoreOrderStatus::Canceled => CancelDecision::AlreadyCanceled,
            settled => CancelDecision::Refused(CancelRefused {
                order_id: self.order_id.clone(),
                store_id: self.store_id.clone(),
                reason: match settled {
                    StoreOrderStatus::Rejected => "the store already rejected the order".into(),
                    StoreOrderStatus::Cooking | StoreOrderStatus::Cooked => {
                        "cooking has already started".into()
                    }
                    _ => "the food has already left the store".into(),
                },
                current_status: settled.into(),
            }),
        }
    }

    /// The order after it left the kitchen, as the rider and the customer move it on (picked up,
    /// delivered, completed), so the owner follows it to its end. These come from the delivery
    /// and the order topics, which may be read in either order: a step only moves the order
    /// forward, and one read after a later step changes nothing. False when nothing changed.
    pub fn follow(&mut self, step: StoreOrderStatus) -> bool {
        match (self.status.leg(), step.leg()) {
            (Some(now), Some(next)) if next > now => {
                self.status = step;
                true
            }
            _ => false,
        }
    }

    /// True while the order still counts towards the food counts (not rejected or canceled).
    /// The order service canceled the order because the store did not answer it in time (it
    /// never had it, or got it just now): dropped, unless cooking already started. True when
    /// it was dropped.
    pub fn withdraw(&mut self) -> bool {
        if matches!(
            self.status,
            StoreOrderStatus::Placed | StoreOrderStatus::Accepted
        ) {
            self.status = StoreOrderStatus::Canceled;
            true
        } else {
            false
        }
    }

    pub fn counts(&self) -> bool {
        self.status.counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::store;
    use contracts::{GeoPoint, MenuItem};
    use proptest::prelude::*;

    #[test]
    fn the_store_tells_the_order_its_status_by_the_same_name() {
        for &status in <StoreOrderStatus as strum::VariantArray>::VARIANTS {
            assert_eq!(OrderStatus::from(status).as_str(), status.as_str());
        }
    }

    fn order(status: StoreOrderStatus) -> StoreOrder {
        StoreOrder {
            order_id: "o-1".into(),
            store_id: "s-1".into(),
            customer_id: "c-1".into(),
            status,
            amount: Krw::new(1000),
            items: vec![],
            delivery_address: DeliveryAddress {
                text: "Seoul".into(),
                point: GeoPoint::known(37.5, 127.0),
            },
            placed_at: 0,
            cook_minutes: None,
            ready_at: None,
            version: 1,
        }
    }

    #[test]
    fn the_happy_path_accepts_cooks_and_finishes() {
        let mut o = order(StoreOrderStatus::Placed);
        let accepted = o.accept(CookMinutes::parse(15).unwrap(), 1_000).unwrap();
        assert_eq!(accepted.ready_at, 1_000 + 15 * 60_000);
        o.start_cooking().unwrap();
        let finished = o.finish_cooking(&store()).unwrap();
        assert_eq!(finished.store_name, "Kimbap Heaven");
        assert_eq!(o.status, StoreOrderStatus::Cooked);
    }

    #[test]
    fn invalid_transitions_change_nothing() {
        let mut o = order(StoreOrderStatus::Placed);
        assert!(o.start_cooking().is_err());
        assert!(o.finish_cooking(&store()).is_err());
        o.accept(CookMinutes::parse(5).unwrap(), 0).unwrap();
        let before = o.clone();
        assert!(o.accept(CookMinutes::parse(5).unwrap(), 0).is_err());
        assert!(o.reject(Reason::parse("busy").unwrap(), false).is_err());
        assert_eq!(o, before);
        assert!(CookMinutes::parse(0).is_err() && CookMinutes::parse(181).is_err());
        assert!(Reason::parse("  ").is_err());
    }

    #[test]
    fn cancel_is_granted_before_cooking_and_refused_after() {
        for (status, canceled) in [
            (StoreOrderStatus::Placed, true),
            (StoreOrderStatus::Accepted, true),
            (StoreOrderStatus::Cooking, false),
            (StoreOrderStatus::Cooked, false),
            (StoreOrderStatus::Rejected, false),
        ] {
            let mut o = order(status);
            match o.request_cancel() {
                CancelDecision::Canceled(_) => assert!(canceled, "{status:?}"),
                CancelDecision::Refused(refusal) => {
                    assert!(!canceled, "{status:?}");
                    assert_eq!(refusal.current_status, status.into());
                    assert_eq!(o.status, status, "a refusal changes nothing");
                }
                CancelDecision::AlreadyCanceled => panic!("{status:?}"),
            }
        }
        let mut o = order(StoreOrderStatus::Canceled);
        assert_eq!(o.request_cancel(), CancelDecision::AlreadyCanceled);
    }

    #[test]
    fn after_the_kitchen_the_order_only_moves_forward() {
        use StoreOrderStatus::*;
        let mut o = order(Cooked);
        assert!(o.follow(Picked));
        assert!(o.follow(Completed), "a completion read before its delivery");
        assert!(
            !o.follow(Delivered),
            "the delivery read late changes nothing"
        );
        assert_eq!(o.status, Completed);
        for status in [Placed, Accepted, Cooking, Rejected, Canceled] {
            let mut o = order(status);
            for step in [Picked, Delivered, Completed] {
                assert!(!o.follow(step), "{status:?} → {step:?}");
                assert_eq!(o.status, status);
            }
        }
        let mut o = order(Picked);
        match o.request_cancel() {
            CancelDecision::Refused(refusal) => assert!(refusal.reason.contains("left the store")),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        /// Whatever order the delivery and order topics are read in, the order ends at the
        /// furthest step it was told of.
        #[test]
        fn following_ends_at_the_furthest_step(steps in proptest::collection::vec(0usize..3, 0..8)) {
            let legs = [StoreOrderStatus::Picked, StoreOrderStatus::Delivered, StoreOrderStatus::Completed];
            let mut o = order(StoreOrderStatus::Cooked);
            for &i in &steps {
                o.follow(legs[i]);
            }
            let expected = steps.iter().max().map_or(StoreOrderStatus::Cooked, |&i| legs[i]);
            prop_assert_eq!(o.status, expected);
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Accept,
        Reject,
        StartCooking,
        FinishCooking,
        Cancel,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Accept),
            Just(Step::Reject),
            Just(Step::StartCooking),
            Just(Step::FinishCooking),
            Just(Step::Cancel),
        ]
    }

    proptest! {
        /// Whatever the owner and the customer do, in whatever order: a cancel and a cook-start
        /// never both win, and rejected or canceled orders stay so.
        #[test]
        fn cancel_and_cooking_exclude_each_other(steps in proptest::collection::vec(step(), 0..12)) {
            let mut o = order(StoreOrderStatus::Placed);
            let (mut cooked, mut canceled) = (false, false);
            for step in steps {
                let before = o.status;
                let changed = match step {
                    Step::Accept => o.accept(CookMinutes::parse(10).unwrap(), 0).is_ok(),
                    Step::Reject => o.reject(Reason::parse("busy").unwrap(), false).is_ok(),
                    Step::StartCooking => {
                        let ok = o.start_cooking().is_ok();
                        cooked |= ok;
                        ok
                    }
                    Step::FinishCooking => o.finish_cooking(&store()).is_ok(),
                    Step::Cancel => {
                        let granted = matches!(o.request_cancel(), CancelDecision::Canceled(_));
                        canceled |= granted;
                        granted
                    }
                };
                if !changed {
                    prop_assert_eq!(o.status, before);
                }
                if matches!(before, StoreOrderStatus::Rejected | StoreOrderStatus::Canceled) {
                    prop_assert_eq!(o.status, before);
                }
                prop_assert!(!(cooked && canceled));
            }
        }

    }

    fn menu_at(revision: i64, open: bool, foods: &[(&str, i64, bool)]) -> MenuPublished {
        MenuPublished {
            store_id: "s-1".into(),
            owner_id: "o-1".into(),
            name: "store".into(),
            location: GeoPoint::known(37.5, 127.0),
            open,
            foods: foods
                .iter()
                .map(|(id, price, sold_out)| MenuItem {
                    food_id: (*id).into(),
                    name: (*id).into(),
                    price: Krw::try_from(*price).unwrap(),
                    sold_out: *sold_out,
                })
                .collect(),
            revision,
        }
    }

    fn line(food: &str, unit_price: i64) -> OrderLine {
        OrderLine {
            food_id: food.into(),
            name: food.into(),
            quantity: 1,
            unit_price: Krw::try_from(unit_price).unwrap(),
        }
    }

    #[test]
    fn an_order_priced_at_a_stale_menu_is_caught_and_told_why() {
        let order = [line("kimbap", 4500)];
        let fresh = menu_at(3, true, &[("kimbap", 4500, false), ("ramen", 5000, false)]);
        assert_eq!(
            stale_order(&fresh, 3, &order),
            None,
            "priced at the menu in force"
        );
        let other_food_changed =
            menu_at(4, true, &[("kimbap", 4500, false), ("ramen", 9000, true)]);
        assert_eq!(stale_order(&other_food_changed, 3, &order), None);
        let paused = menu_at(4, false, &[("kimbap", 4500, false)]);
        assert!(stale_order(&paused, 3, &order).unwrap().contains("paused"));
        let sold_out = menu_at(4, true, &[("kimbap", 4500, true)]);
        assert!(
            stale_order(&sold_out, 3, &order)
                .unwrap()
                .contains("sold out")
        );
        let dearer = menu_at(4, true, &[("kimbap", 45000, false)]);
        let why = stale_order(&dearer, 3, &order).unwrap();
        assert!(why.contains("4500") && why.contains("45000"), "{why}");
        let gone = menu_at(4, true, &[("ramen", 5000, false)]);
        assert!(stale_order(&gone, 3, &order).unwrap().contains("no longer"));
    }
}

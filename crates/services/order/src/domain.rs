//! The order aggregate and the pricing of a new order. Pure: parsing turns a customer's request
//! into values that cannot be wrong, pricing uses the order service's menu replica, and placing an
//! order returns the `OrderPlaced` event for the caller to store with it.

use contracts::{DeliveryAddress, MenuItem, MenuPublished, OrderLine, OrderPlaced};

pub const MAX_LINES: usize = 30;
pub const MAX_QUANTITY: i64 = 99;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("{0}")]
    Invalid(String),
    #[error("the store is not taking orders right now")]
    StoreClosed,
    #[error("food {0} is not on this store's menu")]
    UnknownFood(String),
    #[error("{0} is sold out")]
    SoldOut(String),
}

fn invalid(message: impl Into<String>) -> OrderError {
    OrderError::Invalid(message.into())
}

/// How many of one food: 1 to 99.
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
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
        return Err(invalid(
            "deliveryAddress lat must be within ±90 and lng within ±180",
        ));
    }
    Ok(DeliveryAddress {
        text: text.to_owned(),
        lat,
        lng,
    })
}

/// A customer's order request, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceOrder {
    pub store_id: String,
    /// Distinct foods, in the customer's order; repeated foods are merged.
    pub items: Vec<(String, Quantity)>,
    pub delivery_address: DeliveryAddress,
    pub card_token: String,
}

impl PlaceOrder {
    pub fn parse(
        store_id: String,
        items: Vec<(String, i64)>,
        delivery_address: DeliveryAddress,
        payment_method: &str,
        card_token: String,
    ) -> Result<Self, OrderError> {
        if store_id.trim().is_empty() {
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
        let mut merged: Vec<(String, i64)> = Vec::new();
        for (index, (food_id, quantity)) in items.into_iter().enumerate() {
            if food_id.trim().is_empty() {
                return Err(invalid(format!("items[{index}].foodId is required")));
            }
            Quantity::parse(quantity).map_err(|e| invalid(format!("items[{index}].{e}")))?;
            match merged.iter_mut().find(|(id, _)| *id == food_id) {
                Some((_, total)) => *total += quantity,
                None => merged.push((food_id, quantity)),
            }
        }
        let items = merged
            .into_iter()
            .map(|(id, q)| Quantity::parse(q).map(|q| (id, q)))
            .collect::<Result<_, _>>()?;
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
    pub amount: i64,
}

/// Prices an order from the store's menu as the replica has it now.
pub fn price(menu: &MenuPublished, items: &[(String, Quantity)]) -> Result<Priced, OrderError> {
    if !menu.open {
        return Err(OrderError::StoreClosed);
    }
    let mut lines = Vec::with_capacity(items.len());
    let mut amount: i64 = 0;
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

/// Where an order stands, as the customer sees it (DESIGN.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Placed,
    Accepted,
    Rejected,
    Cooking,
    Cooked,
    Picked,
    Delivered,
    Completed,
    CancelRequested,
    Canceled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        OrderStatus::Placed,
        OrderStatus::Accepted,
        OrderStatus::Rejected,
        OrderStatus::Cooking,
        OrderStatus::Cooked,
        OrderStatus::Picked,
        OrderStatus::Delivered,
        OrderStatus::Completed,
        OrderStatus::CancelRequested,
        OrderStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "Placed",
            OrderStatus::Accepted => "Accepted",
            OrderStatus::Rejected => "Rejected",
            OrderStatus::Cooking => "Cooking",
            OrderStatus::Cooked => "Cooked",
            OrderStatus::Picked => "Picked",
            OrderStatus::Delivered => "Delivered",
            OrderStatus::Completed => "Completed",
            OrderStatus::CancelRequested => "CancelRequested",
            OrderStatus::Canceled => "Canceled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    pub store_id: String,
    pub store_name: String,
    pub status: OrderStatus,
    pub amount: i64,
    pub items: Vec<OrderLine>,
    pub delivery_address: DeliveryAddress,
    pub payment_id: String,
    pub placed_at: i64,
    pub version: i64,
}

impl Order {
    /// A paid order: `Placed`, and the event that takes it to the store.
    pub fn place(
        order_id: String,
        customer_id: String,
        menu: &MenuPublished,
        priced: Priced,
        delivery_address: DeliveryAddress,
        payment_id: String,
        now: i64,
    ) -> (Self, OrderPlaced) {
        let order = Self {
            order_id,
            customer_id,
            store_id: menu.store_id.clone(),
            store_name: menu.name.clone(),
            status: OrderStatus::Placed,
            amount: priced.amount,
            items: priced.lines,
            delivery_address,
            payment_id,
            placed_at: now,
            version: 1,
        };
        let event = OrderPlaced {
            order_id: order.order_id.clone(),
            customer_id: order.customer_id.clone(),
            store_id: order.store_id.clone(),
            store_name: order.store_name.clone(),
            items: order.items.clone(),
            amount: order.amount,
            delivery_address: order.delivery_address.clone(),
            payment_id: order.payment_id.clone(),
        };
        (order, event)
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
            location: GeoPoint {
                lat: 37.5,
                lng: 127.0,
            },
            open: true,
            foods: vec![
                MenuItem {
                    food_id: "kimbap".into(),
                    name: "Kimbap".into(),
                    price: 3500,
                    sold_out: false,
                },
                MenuItem {
                    food_id: "ramyeon".into(),
                    name: "Ramyeon".into(),
                    price: 4000,
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
        assert_eq!(priced.amount, 10_500);
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
        assert!(request(vec![("kimbap", 60), ("kimbap", 60)]).is_err());
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

    #[test]
    fn placing_returns_the_event_the_store_needs() {
        let order = request(vec![("kimbap", 2)]).unwrap();
        let priced = price(&menu(), &order.items).unwrap();
        let (order, event) = Order::place(
            "o-9".into(),
            "c-1".into(),
            &menu(),
            priced,
            address(),
            "p-1".into(),
            42,
        );
        assert_eq!(order.status, OrderStatus::Placed);
        assert_eq!(event.amount, 7000);
        assert_eq!(event.store_name, "Kimbap Heaven");
        assert_eq!(event.order_id, "o-9");
    }

    #[test]
    fn statuses_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("placed"), None);
    }

    proptest! {
        #[test]
        fn the_total_is_the_sum_of_the_lines(quantities in proptest::collection::vec(1i64..=20, 1..5)) {
            let items: Vec<_> = quantities.iter().map(|q| ("kimbap", *q)).collect();
            let parsed = request(items);
            let total: i64 = quantities.iter().sum();
            match parsed {
                Ok(order) => {
                    let priced = price(&menu(), &order.items).unwrap();
                    prop_assert_eq!(priced.amount, 3500 * total);
                    prop_assert!(total <= MAX_QUANTITY);
                }
                Err(_) => prop_assert!(total > MAX_QUANTITY),
            }
        }
    }
}

//! The store aggregate: a store's card and menu, owned by one owner. Pure: methods validate and
//! return the event to publish; the caller stores both in one transaction.

use contracts::{FoodId, GeoPoint, Krw, MenuItem, MenuPublished, OwnerId, StoreId};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> DomainError {
    DomainError::Invalid(message.into())
}

pub const MAX_FOODS: usize = 200;
pub const MAX_PRICE: i64 = 10_000_000;

/// A store name or food name: trimmed, 1–100 characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str, what: &str) -> Result<Self, DomainError> {
        let trimmed = raw.trim();
        let length = trimmed.chars().count();
        if length == 0 || length > 100 {
            return Err(invalid(format!("{what} must be 1 to 100 characters")));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// A price in KRW: positive and at most 10,000,000.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price(Krw);

impl Price {
    pub fn parse(raw: i64) -> Result<Self, DomainError> {
        if (1..=MAX_PRICE).contains(&raw) {
            Ok(Self(Krw::try_from(raw).expect("a positive price")))
        } else {
            Err(invalid(format!(
                "price must be between 1 and {MAX_PRICE} KRW"
            )))
        }
    }
}

pub fn parse_location(lat: f64, lng: f64) -> Result<GeoPoint, DomainError> {
    GeoPoint::new(lat, lng).map_err(|e| invalid(e.to_string()))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Food {
    pub food_id: FoodId,
    pub name: String,
    pub price: Krw,
    pub sold_out: bool,
}

/// A menu line as the owner sends it; a new food has no id yet.
#[derive(Debug, Clone)]
pub struct FoodDraft {
    pub food_id: Option<String>,
    pub name: String,
    /// As the owner typed it: checked by `Price::parse`.
    pub price: i64,
    pub sold_out: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    pub store_id: StoreId,
    pub owner_id: OwnerId,
    pub name: String,
    pub location: GeoPoint,
    pub open: bool,
    pub foods: Vec<Food>,
    pub revision: i64,
}

impl Store {
    /// A new, open store with an empty menu.
    pub fn register(
        store_id: StoreId,
        owner_id: OwnerId,
        name: &str,
        location: GeoPoint,
    ) -> Result<(Self, MenuPublished), DomainError> {
        if owner_id.as_str().trim().is_empty() {
            return Err(invalid("ownerId is required"));
        }
        let store = Self {
            store_id,
            owner_id,
            name: Name::parse(name, "name")?.0,
            location,
            open: true,
            foods: Vec::new(),
            revision: 1,
        };
        let event = store.published();
        Ok((store, event))
    }

    /// Replaces the whole menu. Food ids the owner sends are kept (so order history and counts
    /// still refer to the same dish); new foods get fresh ids.
    pub fn replace_menu(
        &mut self,
        drafts: Vec<FoodDraft>,
        new_id: impl Fn() -> FoodId,
    ) -> Result<MenuPublished, DomainError> {
        if drafts.len() > MAX_FOODS {
            return Err(invalid(format!("a menu has at most {MAX_FOODS} foods")));
        }
        let mut foods: Vec<Food> = Vec::with_capacity(drafts.len());
        for (index, draft) in drafts.into_iter().enumerate() {
            let name = Name::parse(&draft.name, &format!("foods[{index}].name"))?;
            let price = Price::parse(draft.price)
                .map_err(|e| invalid(format!("foods[{index}].price: {e}")))?;
            let food_id = match draft.food_id {
                Some(id) if id.trim().is_empty() || id.chars().count() > 64 => {
                    return Err(invalid(format!(
                        "foods[{index}].foodId must be 1 to 64 characters"
                    )));
                }
                Some(id) => FoodId::from(id),
                None => new_id(),
            };
            if foods.iter().any(|f| f.food_id == food_id) {
                return Err(invalid(format!("foodId {food_id} appears twice")));
            }
            foods.push(Food {
                food_id,
                name: name.0,
                price: price.0,
                sold_out: draft.sold_out,
            });
        }
        self.foods = foods;
        self.revision += 1;
        Ok(self.published())
    }

    /// Opens or pauses taking orders.
    pub fn set_open(&mut self, open: bool) -> Option<MenuPublished> {
        if self.open == open {
            return None;
        }
        self.open = open;
        self.revision += 1;
        Some(self.published())
    }

    pub fn published(&self) -> MenuPublished {
        MenuPublished {
            store_id: self.store_id.clone(),
            owner_id: self.owner_id.clone(),
            name: self.name.clone(),
            location: self.location,
            open: self.open,
            foods: self
                .foods
                .iter()
                .map(|f| MenuItem {
                    food_id: f.food_id.clone(),
                    name: f.name.clone(),
                    price: f.price,
                    sold_out: f.sold_out,
                })
                .collect(),
            revision: self.revision,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn store() -> Store {
        Store::register(
            "s-1".into(),
            "o-1".into(),
            " Kimbap Heaven ",
            GeoPoint::known(37.5, 127.0),
        )
        .unwrap()
        .0
    }

    fn draft(id: Option<&str>, name: &str, price: i64) -> FoodDraft {
        FoodDraft {
            food_id: id.map(str::to_owned),
            name: name.into(),
            price,
            sold_out: false,
        }
    }

    #[test]
    fn registering_trims_the_name_and_publishes_revision_one() {
        let (store, event) = Store::register(
            "s".into(),
            "o".into(),
            "  Tteok ",
            GeoPoint::known(1.0, 2.0),
        )
        .unwrap();
        assert_eq!(store.name, "Tteok");
        assert!(event.open);
        assert_eq!(event.revision, 1);
    }

    #[test]
    fn replacing_the_menu_keeps_ids_and_numbers_new_foods() {
        let mut store = store();
        let event = store
            .replace_menu(
                vec![
                    draft(Some("f-1"), "kimbap", 3500),
                    draft(None, "ramyeon", 4000),
                ],
                || "new".into(),
            )
            .unwrap();
        assert_eq!(event.revision, 2);
        assert_eq!(event.foods[0].food_id, "f-1");
        assert_eq!(event.foods[1].food_id, "new");
    }

    #[test]
    fn a_bad_menu_changes_nothing() {
        let mut store = store();
        let before = store.clone();
        for menu in [
            vec![draft(None, "", 1000)],
            vec![draft(None, "free lunch", 0)],
            vec![draft(Some("x"), "a", 1), draft(Some("x"), "b", 1)],
            vec![draft(Some(" "), "a", 1)],
        ] {
            assert!(store.replace_menu(menu, || "id".into()).is_err());
            assert_eq!(store, before);
        }
    }

    #[test]
    fn pausing_twice_publishes_once() {
        let mut store = store();
        assert!(store.set_open(false).is_some());
        assert!(store.set_open(false).is_none());
        assert_eq!(store.revision, 2);
    }

    proptest! {
        #[test]
        fn prices_outside_the_range_never_parse(price in any::<i64>()) {
            prop_assert_eq!(Price::parse(price).is_ok(), (1..=MAX_PRICE).contains(&price));
        }

        #[test]
        fn every_accepted_menu_has_unique_ids_and_bumps_the_revision(
            prices in proptest::collection::vec(-5i64..20_000, 0..30)
        ) {
            let mut store = store();
            let counter = std::cell::Cell::new(0);
            let drafts = prices.iter().map(|p| draft(None, "dish", *p)).collect();
            let result = store.replace_menu(drafts, || {
                counter.set(counter.get() + 1);
                format!("f-{}", counter.get()).into()
            });
            match result {
                Ok(event) => {
                    prop_assert!(prices.iter().all(|p| *p >= 1));
                    prop_assert_eq!(event.revision, 2);
                    let mut ids: Vec<_> = event.foods.iter().map(|f| &f.food_id).collect();
                    ids.dedup();
                    prop_assert_eq!(ids.len(), prices.len());
                }
                Err(_) => {
                    prop_assert!(prices.iter().any(|p| *p < 1));
                    prop_assert_eq!(store.revision, 1);
                }
            }
        }
    }
}

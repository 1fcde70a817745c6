//! The values every contract is made of: ids, money and places. Each is its own type, so the
//! compiler catches an order id passed where a store id belongs, a sum that overflows, or a point
//! off the map. On the wire each is the plain JSON value it wraps (a string, an integer, an object
//! of `lat` and `lng`), so a consumer in another language sees what it always saw.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        ///
        /// A string on the wire: this platform makes UUIDv7s (time-ordered, so they index well),
        /// and takes any other non-empty string from producers that make their own.
        #[derive(
            Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(String);

        impl $name {
            /// A new id, unique and ordered by the time it was made.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(raw: String) -> Self {
                Self(raw)
            }
        }

        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                Self(raw.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

ids!(
    /// An order, from the moment the customer asks for it.
    OrderId,
    /// A store on the platform.
    StoreId,
    /// A customer's account.
    CustomerId,
    /// A rider's account.
    RiderId,
    /// A store owner's account.
    OwnerId,
    /// One charge of a card.
    PaymentId,
    /// One trip from a store to a customer.
    DeliveryId,
    /// A customer's review of an order.
    ReviewId,
    /// A food on a store's menu: the owner's own id for it, or one the store service made.
    FoodId,
    /// A coupon the customer got for a review.
    CouponId,
    /// One refund of a payment.
    RefundId,
);

/// An amount of Korean won. Whole won (KRW has no minor unit), never negative: prices, totals,
/// charges and refunds. Arithmetic is checked, so an overflow is an error and never a wrapped sum.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    utoipa::ToSchema,
)]
#[serde(try_from = "i64", into = "i64")]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
#[schema(value_type = i64, minimum = 0, example = 3500)]
pub struct Krw(i64);

/// A negative amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an amount of KRW cannot be negative ({0})")]
pub struct NegativeAmount(pub i64);

impl Krw {
    pub const ZERO: Krw = Krw(0);

    /// An amount that cannot be negative by its type: for literals and counts.
    pub const fn new(won: u32) -> Krw {
        Krw(won as i64)
    }

    pub fn won(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Krw) -> Option<Krw> {
        self.0.checked_add(other.0).map(Krw)
    }

    /// The price of `quantity` of something that costs `self`.
    pub fn checked_mul(self, quantity: i64) -> Option<Krw> {
        self.0
            .checked_mul(quantity)
            .filter(|total| *total >= 0)
            .map(Krw)
    }
}

impl TryFrom<i64> for Krw {
    type Error = NegativeAmount;
    fn try_from(won: i64) -> Result<Self, Self::Error> {
        if won < 0 {
            Err(NegativeAmount(won))
        } else {
            Ok(Krw(won))
        }
    }
}

impl From<Krw> for i64 {
    fn from(amount: Krw) -> Self {
        amount.0
    }
}

impl fmt::Display for Krw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} KRW", self.0)
    }
}

/// A point on the map, WGS84 degrees: latitude within ±90 and longitude within ±180, both finite.
/// Checked once, here, when the point is made or read off the wire.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, utoipa::ToSchema)]
#[serde(try_from = "LatLng")]
pub struct GeoPoint {
    #[schema(minimum = -90, maximum = 90, example = 37.5006)]
    lat: f64,
    #[schema(minimum = -180, maximum = 180, example = 127.0366)]
    lng: f64,
}

/// A latitude or longitude off the map.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("lat must be within ±90 and lng within ±180 (got {lat}, {lng})")]
pub struct OffTheMap {
    pub lat: f64,
    pub lng: f64,
}

/// A place stored as two columns, `lat` and `lng`, checked as it is read: a row type takes it with
/// `#[sqlx(flatten)] location: GeoPoint`.
#[cfg(feature = "sqlx")]
impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for GeoPoint
where
    &'r str: sqlx::ColumnIndex<R>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> sqlx::Result<Self> {
        GeoPoint::new(row.try_get("lat")?, row.try_get("lng")?)
            .map_err(|off| sqlx::Error::Decode(Box::new(off)))
    }
}

/// A point as it comes off the wire, before it is checked.
#[derive(Deserialize)]
struct LatLng {
    lat: f64,
    lng: f64,
}

impl TryFrom<LatLng> for GeoPoint {
    type Error = OffTheMap;
    fn try_from(raw: LatLng) -> Result<Self, Self::Error> {
        GeoPoint::new(raw.lat, raw.lng)
    }
}

impl GeoPoint {
    // `RangeInclusive::contains` is not const.
    #[allow(clippy::manual_range_contains)]
    pub const fn new(lat: f64, lng: f64) -> Result<Self, OffTheMap> {
        if lat >= -90.0 && lat <= 90.0 && lng >= -180.0 && lng <= 180.0 {
            Ok(Self { lat, lng })
        } else {
            Err(OffTheMap { lat, lng })
        }
    }

    /// A point known at compile time; a point off the map fails the build.
    pub const fn known(lat: f64, lng: f64) -> Self {
        match Self::new(lat, lng) {
            Ok(point) => point,
            Err(_) => panic!("a known point must be on the map"),
        }
    }

    pub const fn lat(self) -> f64 {
        self.lat
    }

    pub const fn lng(self) -> f64 {
        self.lng
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let id = OrderId::from("o-1");
        assert_eq!(serde_json::to_value(&id).unwrap(), "o-1");
        assert_eq!(serde_json::from_str::<OrderId>("\"o-1\"").unwrap(), id);
        assert_ne!(OrderId::generate(), OrderId::generate());
    }

    #[test]
    fn money_refuses_negative_amounts_and_overflow() {
        assert_eq!(serde_json::from_str::<Krw>("3500").unwrap().won(), 3500);
        assert!(serde_json::from_str::<Krw>("-1").is_err());
        assert_eq!(serde_json::to_value(Krw(3500)).unwrap(), 3500);
        assert_eq!(Krw(i64::MAX).checked_add(Krw(1)), None);
        assert_eq!(Krw(i64::MAX / 2).checked_mul(3), None);
        assert_eq!(Krw(3).checked_mul(-1), None);
    }

    #[test]
    fn a_point_off_the_map_does_not_deserialize() {
        let point: GeoPoint = serde_json::from_str(r#"{"lat":37.5,"lng":127.0}"#).unwrap();
        assert_eq!((point.lat(), point.lng()), (37.5, 127.0));
        for bad in [
            r#"{"lat":90.1,"lng":0}"#,
            r#"{"lat":0,"lng":-180.5}"#,
            r#"{"lat":0}"#,
        ] {
            assert!(serde_json::from_str::<GeoPoint>(bad).is_err(), "{bad}");
        }
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
        assert!(GeoPoint::new(0.0, f64::INFINITY).is_err());
    }

    proptest! {
        #[test]
        fn a_point_is_made_exactly_when_it_is_on_the_map(lat in -200.0f64..200.0, lng in -400.0f64..400.0) {
            let on_map = lat.abs() <= 90.0 && lng.abs() <= 180.0;
            prop_assert_eq!(GeoPoint::new(lat, lng).is_ok(), on_map);
            let json = serde_json::json!({"lat": lat, "lng": lng});
            prop_assert_eq!(serde_json::from_value::<GeoPoint>(json).is_ok(), on_map);
        }

        #[test]
        fn checked_arithmetic_matches_wide_arithmetic(a in 0i64.., b in 0i64.., q in -5i64..1000) {
            let wide = i128::from(a) + i128::from(b);
            prop_assert_eq!(Krw(a).checked_add(Krw(b)).map(|k| i128::from(k.won())), (wide <= i128::from(i64::MAX)).then_some(wide));
            let product = i128::from(a) * i128::from(q);
            let fits = (0..=i128::from(i64::MAX)).contains(&product);
            prop_assert_eq!(Krw(a).checked_mul(q).map(|k| i128::from(k.won())), fits.then_some(product));
        }
    }
}

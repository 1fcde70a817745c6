//! Deliveries and where riders are. Pure: distances, the search box, and the delivery's states.

use contracts::{
    CustomerId, DeliveryAddress, DeliveryCanceled, DeliveryCompleted, DeliveryId, DeliveryPicked,
    GeoPoint, OrderId, RiderId, StoreId,
};

const EARTH_RADIUS_KM: f64 = 6371.0088;
pub const MAX_RADIUS_KM: f64 = 20.0;
pub const DEFAULT_RADIUS_KM: f64 = 3.0;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Invalid(String),
}

/// Great-circle distance in km (haversine).
pub fn distance_km(a: GeoPoint, b: GeoPoint) -> f64 {
    let (lat1, lat2) = (a.lat().to_radians(), b.lat().to_radians());
    let dlat = (b.lat() - a.lat()).to_radians();
    let dlng = (b.lng() - a.lng()).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// A rider's search: a point and a radius (0 < r ≤ 20 km).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Search {
    pub center: GeoPoint,
    pub radius_km: f64,
}

/// A lat/lng box that contains the search circle, for the index to narrow by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub min_lat: f64,
    pub max_lat: f64,
    pub min_lng: f64,
    pub max_lng: f64,
}

impl Search {
    pub fn parse(lat: f64, lng: f64, radius_km: Option<f64>) -> Result<Self, DeliveryError> {
        let center = GeoPoint::new(lat, lng).map_err(|e| DeliveryError::Invalid(e.to_string()))?;
        let radius_km = radius_km.unwrap_or(DEFAULT_RADIUS_KM);
        if !(radius_km > 0.0 && radius_km <= MAX_RADIUS_KM) {
            return Err(DeliveryError::Invalid(format!(
                "radiusKm must be above 0 and at most {MAX_RADIUS_KM}"
            )));
        }
        Ok(Self { center, radius_km })
    }

    /// Degrees of latitude are ~111 km everywhere; degrees of longitude shrink with cos(lat), so
    /// the box widens towards the poles (and spans all longitudes near them).
    pub fn bounding_box(&self) -> BoundingBox {
        let dlat = (self.radius_km / EARTH_RADIUS_KM).to_degrees();
        let min_lat = (self.center.lat() - dlat).max(-90.0);
        let max_lat = (self.center.lat() + dlat).min(90.0);
        let widest = min_lat.abs().max(max_lat.abs()).to_radians().cos();
        let dlng = if widest < 1e-6 {
            180.0
        } else {
            (dlat / widest).min(180.0)
        };
        BoundingBox {
            min_lat,
            max_lat,
            min_lng: (self.center.lng() - dlng).max(-180.0),
            max_lng: (self.center.lng() + dlng).min(180.0),
        }
    }

    pub fn contains(&self, point: GeoPoint) -> bool {
        self.reach(point).is_some()
    }

    /// How far `point` is from the center, in km to the metre, if it is within the radius: what
    /// a rider is shown of a delivery's store, in the list and on the live stream alike.
    pub fn reach(&self, point: GeoPoint) -> Option<f64> {
        let distance = distance_km(self.center, point);
        (distance <= self.radius_km).then(|| (distance * 1000.0).round() / 1000.0)
    }
}

contracts::status! {
    pub enum DeliveryStatus {
        /// Cooked, waiting for a rider.
        Waiting,
        /// A rider took it and is on the way.
        Picked,
        Delivered,
        Canceled,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub delivery_id: DeliveryId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub store_id: StoreId,
    pub store_name: String,
    pub pickup: GeoPoint,
    pub dropoff: DeliveryAddress,
    pub status: DeliveryStatus,
    pub rider_id: Option<RiderId>,
    /// Moved on by every save; a save over an older one loses.
    pub version: i64,
}

/// Why a rider's move on a delivery changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Another rider won it.
    AlreadyPicked,
    /// Closed before anyone took it (its order was canceled).
    NotAvailable,
    /// Picked by another rider: not the caller's to complete.
    NotYours,
    /// The caller's, but not on the way (already delivered, say).
    NotInTransit(DeliveryStatus),
}

impl Delivery {
    /// Scenario step 8: a waiting delivery goes to the rider who takes it first.
    pub fn pick(&mut self, rider_id: &RiderId) -> Result<DeliveryPicked, Refusal> {
        match self.status {
            DeliveryStatus::Waiting => {}
            DeliveryStatus::Picked | DeliveryStatus::Delivered => {
                return Err(Refusal::AlreadyPicked);
            }
            DeliveryStatus::Canceled => return Err(Refusal::NotAvailable),
        }
        self.status = DeliveryStatus::Picked;
        self.rider_id = Some(rider_id.clone());
        Ok(DeliveryPicked {
            order_id: self.order_id.clone(),
            delivery_id: self.delivery_id.clone(),
            rider_id: rider_id.to_owned(),
        })
    }

    /// Only the rider who picked it completes it, once.
    pub fn complete(&mut self, rider_id: &RiderId) -> Result<DeliveryCompleted, Refusal> {
        if self.rider_id.as_ref() != Some(rider_id) {
            return Err(Refusal::NotYours);
        }
        if self.status != DeliveryStatus::Picked {
            return Err(Refusal::NotInTransit(self.status));
        }
        self.status = DeliveryStatus::Delivered;
        Ok(DeliveryCompleted {
            order_id: self.order_id.clone(),
            delivery_id: self.delivery_id.clone(),
            rider_id: rider_id.to_owned(),
        })
    }

    /// Its order was canceled: a delivery still open closes; `None` when it was not open.
    pub fn cancel(&mut self) -> Option<DeliveryCanceled> {
        if !matches!(
            self.status,
            DeliveryStatus::Waiting | DeliveryStatus::Picked
        ) {
            return None;
        }
        self.status = DeliveryStatus::Canceled;
        Some(DeliveryCanceled {
            order_id: self.order_id.clone(),
            delivery_id: self.delivery_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEOUL_CITY_HALL: GeoPoint = GeoPoint::known(37.5665, 126.9780);
    const GANGNAM: GeoPoint = GeoPoint::known(37.4979, 127.0276);

    #[test]
    fn distances_match_the_map() {
        let d = distance_km(SEOUL_CITY_HALL, GANGNAM);
        assert!((8.0..9.5).contains(&d), "{d}");
        assert!(distance_km(GANGNAM, GANGNAM) < 1e-9);
    }

    #[test]
    fn a_point_within_the_radius_is_reached_to_the_metre_and_one_beyond_is_not() {
        let near = Search::parse(SEOUL_CITY_HALL.lat(), SEOUL_CITY_HALL.lng(), Some(10.0)).unwrap();
        let km = near.reach(GANGNAM).unwrap();
        assert_eq!(km, (km * 1000.0).round() / 1000.0);
        assert!((km - distance_km(SEOUL_CITY_HALL, GANGNAM)).abs() <= 0.0005);
        let short = Search::parse(SEOUL_CITY_HALL.lat(), SEOUL_CITY_HALL.lng(), Some(5.0)).unwrap();
        assert_eq!(short.reach(GANGNAM), None);
        assert!(!short.contains(GANGNAM));
    }

    fn waiting() -> Delivery {
        Delivery {
            delivery_id: "d".into(),
            order_id: "o".into(),
            customer_id: "c".into(),
            store_id: "s".into(),
            store_name: "n".into(),
            pickup: GANGNAM,
            dropoff: DeliveryAddress {
                text: "t".into(),
                point: GeoPoint::known(0.0, 0.0),
            },
            status: DeliveryStatus::Waiting,
            rider_id: None,
            version: 1,
        }
    }

    #[test]
    fn one_rider_picks_and_only_they_complete_once() {
        let mut delivery = waiting();
        assert_eq!(delivery.complete(&"r-1".into()), Err(Refusal::NotYours));
        let picked = delivery.pick(&"r-1".into()).unwrap();
        assert_eq!(picked.rider_id, "r-1");
        assert_eq!(delivery.pick(&"r-2".into()), Err(Refusal::AlreadyPicked));
        assert_eq!(delivery.complete(&"r-2".into()), Err(Refusal::NotYours));
        assert_eq!(delivery.complete(&"r-1".into()).unwrap().delivery_id, "d");
        assert_eq!(delivery.status, DeliveryStatus::Delivered);
        assert_eq!(
            delivery.complete(&"r-1".into()),
            Err(Refusal::NotInTransit(DeliveryStatus::Delivered))
        );
        assert_eq!(
            delivery.cancel(),
            None,
            "a delivered delivery stays delivered"
        );
    }

    #[test]
    fn a_canceled_delivery_cannot_be_picked() {
        let mut delivery = waiting();
        assert!(delivery.cancel().is_some());
        assert_eq!(delivery.cancel(), None, "closing twice publishes once");
        assert_eq!(delivery.pick(&"r-1".into()), Err(Refusal::NotAvailable));
    }

    #[test]
    fn searches_are_validated() {
        assert!(Search::parse(37.5, 127.0, None).is_ok());
        assert!(Search::parse(37.5, 127.0, Some(0.0)).is_err());
        assert!(Search::parse(37.5, 127.0, Some(21.0)).is_err());
        assert!(Search::parse(37.5, 127.0, Some(f64::NAN)).is_err());
        assert!(Search::parse(91.0, 127.0, None).is_err());
    }

    proptest! {
        /// Every point inside the circle is inside the box, so the box never hides a delivery.
        #[test]
        fn the_box_contains_the_circle(
            lat in -85.0f64..85.0, lng in -179.0f64..179.0, radius in 0.1f64..20.0,
            bearing in 0.0f64..360.0, fraction in 0.0f64..1.0,
        ) {
            let search = Search::parse(lat, lng, Some(radius)).unwrap();
            // A point at `fraction` of the radius in direction `bearing`.
            let d = radius * fraction / EARTH_RADIUS_KM;
            let (lat1, lng1, b) = (lat.to_radians(), lng.to_radians(), bearing.to_radians());
            let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * b.cos()).asin();
            let lng2 = lng1 + (b.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
            let point = GeoPoint::new(lat2.to_degrees(), lng2.to_degrees()).unwrap();
            prop_assume!(point.lng() > -180.0 && point.lng() < 180.0);
            let bbox = search.bounding_box();
            prop_assert!(point.lat() >= bbox.min_lat - 1e-9 && point.lat() <= bbox.max_lat + 1e-9);
            prop_assert!(point.lng() >= bbox.min_lng - 1e-9 && point.lng() <= bbox.max_lng + 1e-9);
            prop_assert!(search.contains(point) || fraction > 0.999);
        }
    }
}

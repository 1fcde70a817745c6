//! The order service's settings (`[order]`, `BAEDAL_ORDER__…`): the order's own deadlines.

use std::time::Duration;

use platform::config::{Section, positive};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, garde::Validate)]
#[serde(deny_unknown_fields, default)]
pub struct OrderSettings {
    /// An order still waiting for its payment this long after it was recorded lost its request
    /// (a crash between the charge and the order's own commit): its charge is voided.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub payment_deadline: Duration,
    /// An order the store has not answered this long after it was placed never reached the store
    /// (its `OrderPlaced` was dead-lettered, say): the order is canceled, and so refunded. Longer
    /// than the store's `store.acceptance_deadline`, which `baedal` checks at start.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub store_deadline: Duration,
    /// How often the deadlines and the stuck-saga monitor run.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub deadline_sweep: Duration,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            payment_deadline: Duration::from_secs(60),
            store_deadline: Duration::from_secs(420),
            deadline_sweep: Duration::from_secs(5),
        }
    }
}

impl Section for OrderSettings {
    const KEY: &'static str = "order";
}

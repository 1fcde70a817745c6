//! The store service's settings (`[store]`, `BAEDAL_STORE__…`): how long an owner has to answer.

use std::time::Duration;

use platform::config::{Section, positive};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, garde::Validate)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// An order the store neither accepts nor rejects this long after it was placed is rejected
    /// automatically, and refunded.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub acceptance_deadline: Duration,
    /// How often the store looks for orders past the deadline.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub deadline_sweep: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            acceptance_deadline: Duration::from_secs(300),
            deadline_sweep: Duration::from_secs(5),
        }
    }
}

impl Section for StoreSettings {
    const KEY: &'static str = "store";
}

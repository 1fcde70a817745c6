//! The review service's settings (`[review]`, `BAEDAL_REVIEW__…`).

use platform::config::Section;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, garde::Validate)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewSettings {
    /// The longest review text, in characters.
    #[garde(range(min = 1, max = 10_000))]
    pub max_text_chars: usize,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        Self {
            max_text_chars: 500,
        }
    }
}

impl Section for ReviewSettings {
    const KEY: &'static str = "review";
}

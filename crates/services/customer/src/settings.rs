//! The customer service's settings (`[customer]`, `BAEDAL_CUSTOMER__…`): the grades.

use platform::config::Section;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct Grade {
    #[garde(length(chars, min = 1, max = 50))]
    pub name: String,
    /// Completed orders needed to reach this grade.
    #[garde(range(min = 0))]
    pub min_completed: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, garde::Validate)]
#[serde(deny_unknown_fields, default)]
pub struct CustomerSettings {
    /// Baemin-style grades, lowest first; the first starts at 0 and each needs more.
    #[garde(dive, custom(rising_from_zero))]
    pub grades: Vec<Grade>,
}

impl Default for CustomerSettings {
    fn default() -> Self {
        let grades = [
            ("고마운분", 0),
            ("귀한분", 1),
            ("더귀한분", 5),
            ("천생연분", 10),
        ]
        .into_iter()
        .map(|(name, min_completed)| Grade {
            name: name.into(),
            min_completed,
        })
        .collect();
        Self { grades }
    }
}

impl Section for CustomerSettings {
    const KEY: &'static str = "customer";
}

fn rising_from_zero(grades: &[Grade], _: &()) -> garde::Result {
    let starts_at_zero = grades.first().map(|g| g.min_completed) == Some(0);
    let rising = grades
        .windows(2)
        .all(|w| w[0].min_completed < w[1].min_completed);
    if starts_at_zero && rising {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must start at min_completed = 0 and rise strictly",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use garde::Validate;

    #[test]
    fn grades_start_at_zero_and_rise() {
        assert!(CustomerSettings::default().validate().is_ok());
        let mut flat = CustomerSettings::default();
        flat.grades[2].min_completed = 1;
        assert!(flat.validate().is_err());
        let mut late = CustomerSettings::default();
        late.grades.remove(0);
        assert!(late.validate().is_err());
        assert!(CustomerSettings { grades: vec![] }.validate().is_err());
    }
}

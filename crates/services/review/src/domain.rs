//! A review of a completed order. Pure: what a valid review is.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReviewError {
    #[error("{0}")]
    Invalid(String),
}

/// 1 to 5 stars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating(i64);

impl Rating {
    pub fn parse(raw: i64) -> Result<Self, ReviewError> {
        if (1..=5).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(ReviewError::Invalid("rating must be 1 to 5".into()))
        }
    }

    pub fn value(self) -> i64 {
        self.0
    }
}

/// The review text, trimmed, at most `max` characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Text(String);

impl Text {
    pub fn parse(raw: &str, max: usize) -> Result<Self, ReviewError> {
        let trimmed = raw.trim();
        if trimmed.chars().count() > max {
            return Err(ReviewError::Invalid(format!(
                "text must be at most {max} characters"
            )));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatus {
    Active,
    Deleted,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Active => "Active",
            ReviewStatus::Deleted => "Deleted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_is_bounded_in_characters_not_bytes() {
        assert!(Text::parse(&"맛".repeat(500), 500).is_ok());
        assert!(Text::parse(&"맛".repeat(501), 500).is_err());
        assert_eq!(Text::parse("  good  ", 10).unwrap().into_inner(), "good");
    }

    proptest! {
        #[test]
        fn only_one_to_five_stars(rating in any::<i64>()) {
            prop_assert_eq!(Rating::parse(rating).is_ok(), (1..=5).contains(&rating));
        }
    }
}

//! A review of a completed order. Pure: what a valid review is.

use contracts::{CustomerId, OrderId, ReviewDeleted, ReviewId, ReviewWritten, StoreId};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReviewError {
    #[error("{0}")]
    Invalid(String),
}

/// 1 to 5 stars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating(i64);

impl TryFrom<i64> for Rating {
    type Error = ReviewError;

    fn try_from(raw: i64) -> Result<Self, ReviewError> {
        Self::parse(raw)
    }
}

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

/// The review text, trimmed, at most `max` characters. Stored as it was written, so it is read
/// back as it is.
#[derive(Debug, Clone, PartialEq, sqlx::Type)]
#[sqlx(transparent)]
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

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

contracts::status! {
    pub enum ReviewStatus {
        Active,
        Deleted,
    }
}

/// A customer's review of one completed order: the aggregate the unit of work saves.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Review {
    pub review_id: ReviewId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub store_id: StoreId,
    #[sqlx(try_from = "i64")]
    pub rating: Rating,
    #[sqlx(rename = "body")]
    pub text: Text,
    #[sqlx(try_from = "String")]
    pub status: ReviewStatus,
}

impl Review {
    /// A new review, and the event that gives its author a coupon.
    pub fn write(
        review_id: ReviewId,
        order_id: OrderId,
        customer_id: CustomerId,
        store_id: StoreId,
        rating: Rating,
        text: Text,
    ) -> (Self, ReviewWritten) {
        let written = ReviewWritten {
            review_id: review_id.clone(),
            order_id: order_id.clone(),
            customer_id: customer_id.clone(),
            store_id: store_id.clone(),
            rating: rating.value(),
        };
        let review = Self {
            review_id,
            order_id,
            customer_id,
            store_id,
            rating,
            text,
            status: ReviewStatus::Active,
        };
        (review, written)
    }

    /// Only its author deletes it, once; `None` for anyone else or a second time (to them it is
    /// not there), and the event takes the coupon back.
    pub fn delete(&mut self, by: &CustomerId) -> Option<ReviewDeleted> {
        if self.customer_id != *by || self.status != ReviewStatus::Active {
            return None;
        }
        self.status = ReviewStatus::Deleted;
        Some(ReviewDeleted {
            review_id: self.review_id.clone(),
            order_id: self.order_id.clone(),
            customer_id: self.customer_id.clone(),
        })
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

    #[test]
    fn only_the_author_deletes_a_review_once() {
        let (mut review, written) = Review::write(
            "rv".into(),
            "o".into(),
            "c-1".into(),
            "s".into(),
            Rating::parse(4).unwrap(),
            Text::parse("good", 10).unwrap(),
        );
        assert_eq!(written.rating, 4);
        assert_eq!(review.delete(&"c-2".into()), None);
        assert_eq!(review.delete(&"c-1".into()).unwrap().order_id, "o");
        assert_eq!(review.status, ReviewStatus::Deleted);
        assert_eq!(review.delete(&"c-1".into()), None);
    }

    proptest! {
        #[test]
        fn only_one_to_five_stars(rating in any::<i64>()) {
            prop_assert_eq!(Rating::parse(rating).is_ok(), (1..=5).contains(&rating));
        }
    }
}

//! What the customer is told, in the seeds' KakaoTalk spirit. Pure: one message per
//! customer-visible event, or none for events the customer does not see.

use contracts::Event;

/// The message for `event` about an order from `store`, or `None` when the customer is not told.
pub fn message(event: &Event, store: &str) -> Option<String> {
    let text = match event {
        Event::OrderPlaced(e) => format!(
            "[{store}] 주문이 접수되었습니다. 결제 금액 {}원",
            won(e.amount.won())
        ),
        Event::OrderAccepted(e) => format!(
            "[{store}] 가게에서 주문을 수락했습니다. 약 {}분 후 조리가 끝날 예정입니다.",
            e.cook_minutes
        ),
        Event::OrderRejected(e) => format!(
            "[{store}] 주문이 거절되었습니다 ({}). 결제는 취소됩니다.",
            e.reason
        ),
        Event::CookStarted(_) => format!("[{store}] 음식 조리를 시작했습니다."),
        Event::CookFinished(_) => format!("[{store}] 조리가 끝나 배달 기사님을 찾고 있습니다."),
        Event::DeliveryPicked(_) => format!("[{store}] 기사님이 음식을 가지고 출발했습니다."),
        Event::DeliveryCompleted(_) => format!("[{store}] 배달이 완료되었습니다. 맛있게 드세요!"),
        Event::OrderCancelRequested(_) => format!("[{store}] 주문 취소를 요청했습니다."),
        Event::CancelRefused(e) => format!("[{store}] 주문을 취소할 수 없습니다: {}", e.reason),
        Event::OrderCanceled(_) => format!("[{store}] 주문이 취소되었습니다."),
        Event::PaymentRefunded(e) => {
            format!("[{store}] {}원이 환불되었습니다.", won(e.amount.won()))
        }
        Event::OrderCompleted(_) => format!("[{store}] 주문이 완료되었습니다. 리뷰를 남겨 주세요!"),
        _ => return None,
    };
    Some(text)
}

/// 14000 → "14,000"
fn won(amount: i64) -> String {
    let digits = amount.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if amount < 0 { format!("-{out}") } else { out }
}

contracts::status! {
    pub enum Delivery {
        Pending,
        Sending,
        Sent,
        Failed,
        /// Shed under overload, never sent.
        Dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::{CookStarted, GeoPoint, MenuPublished};

    #[test]
    fn amounts_read_like_money() {
        assert_eq!(won(14_000), "14,000");
        assert_eq!(won(500), "500");
        assert_eq!(won(1_234_567), "1,234,567");
    }

    #[test]
    fn status_events_are_told_and_others_are_not() {
        let cooking: Event = CookStarted {
            order_id: "o".into(),
            store_id: "s".into(),
        }
        .into();
        assert_eq!(
            message(&cooking, "김밥천국").unwrap(),
            "[김밥천국] 음식 조리를 시작했습니다."
        );
        let menu: Event = MenuPublished {
            store_id: "s".into(),
            owner_id: "o".into(),
            name: "n".into(),
            location: GeoPoint::known(0.0, 0.0),
            open: true,
            foods: vec![],
            revision: 1,
        }
        .into();
        assert!(message(&menu, "x").is_none());
    }
}

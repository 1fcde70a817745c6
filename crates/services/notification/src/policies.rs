//! Whenever the customer's order changes in a way they can see, they get one message (scenario
//! step 10). The policy only records the message, in the event's transaction; the dispatcher (`jobs.rs`)
//! sends it afterwards, so a slow or dead channel never holds up the event log or the order flow.

use contracts::{CustomerId, Event, EventBody, EventType};
use platform::{
    Tx,
    bus::{EventHandler, Incoming},
};
use uuid::Uuid;

use crate::{
    db::{self, NewNotification},
    notification,
};

pub struct NotificationPolicy;

impl EventHandler for NotificationPolicy {
    fn subscriptions(&self) -> &'static [EventType] {
        &[
            EventType::OrderPlaced,
            EventType::OrderAccepted,
            EventType::OrderRejected,
            EventType::CookStarted,
            EventType::CookFinished,
            EventType::DeliveryPicked,
            EventType::DeliveryCompleted,
            EventType::OrderCancelRequested,
            EventType::CancelRefused,
            EventType::OrderCanceled,
            EventType::PaymentRefunded,
            EventType::OrderCompleted,
        ]
    }

    async fn handle(&self, tx: &mut Tx, incoming: &Incoming) -> anyhow::Result<()> {
        let event = &incoming.event;
        let Some(order_id) = event.order_id() else {
            return Ok(());
        };
        if let Event::OrderPlaced(placed) = event {
            db::remember_contact(
                tx,
                &placed.order_id,
                &placed.customer_id,
                &placed.store_name,
            )
            .await?;
        }
        let Some((customer_id, store_name)) = db::contact(tx, order_id).await? else {
            // Its OrderPlaced is on another topic and not read yet: tell the customer once it is.
            let body = EventBody {
                timestamp: incoming.timestamp,
                event: event.clone(),
            };
            return db::park(tx, &incoming.event_id, order_id, &body).await;
        };
        let told = EventBody {
            timestamp: incoming.timestamp,
            event: event.clone(),
        };
        tell(tx, &incoming.event_id, &told, &customer_id, &store_name).await?;
        if matches!(event, Event::OrderPlaced(_)) {
            for (event_id, body) in db::unpark(tx, order_id).await? {
                tell(tx, &event_id, &body, &customer_id, &store_name).await?;
            }
        }
        Ok(())
    }
}

/// Queues the message `body`'s event makes, if any.
async fn tell(
    tx: &mut Tx,
    event_id: &str,
    body: &EventBody,
    customer_id: &CustomerId,
    store_name: &str,
) -> anyhow::Result<()> {
    let event = &body.event;
    let (Some(message), Some(order_id)) =
        (notification::message(event, store_name), event.order_id())
    else {
        return Ok(());
    };
    db::queue(
        tx,
        NewNotification {
            notification_id: &Uuid::now_v7().to_string(),
            event_id,
            order_id,
            customer_id,
            event_type: event.event_type(),
            message: &message,
            occurred_at: body.timestamp,
        },
    )
    .await
}

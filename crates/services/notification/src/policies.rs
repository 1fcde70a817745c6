//! Whenever the customer's order changes in a way they can see, they get one message (scenario
//! step 10). The policy only records the message, in the event's transaction; the dispatcher sends
//! it afterwards, so a slow or dead channel never holds up the event log or the order flow.

use std::{sync::Arc, time::Duration};

use contracts::{CustomerId, Event, EventBody, EventType};
use platform::{
    Db, Tx,
    bus::{EventHandler, Incoming},
    config::NotificationSettings,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    channel::Channel,
    db::{self, NewNotification, Notification},
    domain::{self, Delivery},
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
    let (Some(message), Some(order_id)) = (domain::message(event, store_name), event.order_id())
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

/// Sends queued messages through the channel: a bounded number at once, each attempt bounded in
/// time, retried with backoff, and the oldest shed when more wait than the backlog allows.
pub struct Dispatcher {
    pub db: Db,
    pub channel: Channel,
    pub settings: NotificationSettings,
}

impl Dispatcher {
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let this = Arc::new(self);
        {
            let mut conn = this.db.pool().acquire().await?;
            let resumed = db::resume_interrupted(&mut conn).await?;
            if resumed > 0 {
                tracing::warn!(
                    resumed,
                    "messages interrupted mid-send are sent again (channels deduplicate on the event id)"
                );
            }
        }
        let poll = Duration::from_millis(this.settings.poll_interval_ms);
        let mut in_flight: JoinSet<()> = JoinSet::new();
        loop {
            if let Err(error) = this.fill(&mut in_flight).await {
                tracing::warn!(error = %format!("{error:#}"), "notification dispatch failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        // Let sends in progress finish (each is bounded by the send timeout and its retries).
        while in_flight.join_next().await.is_some() {}
        Ok(())
    }

    async fn fill(self: &Arc<Self>, in_flight: &mut JoinSet<()>) -> anyhow::Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        let dropped = db::shed(&mut conn, self.settings.max_backlog).await?;
        if dropped > 0 {
            metrics::counter!("notifications_dropped_total").increment(dropped);
            tracing::warn!(
                dropped,
                "notification backlog full; oldest messages dropped"
            );
        }
        let free = self.settings.concurrency.saturating_sub(in_flight.len());
        if free == 0 {
            return Ok(());
        }
        for notification in db::claim(&mut conn, free as i64).await? {
            let this = self.clone();
            in_flight.spawn(async move { this.deliver(notification).await });
        }
        Ok(())
    }

    async fn deliver(&self, notification: Notification) {
        let mut backoff = Duration::from_millis(self.settings.backoff_ms);
        let mut attempts = 0;
        let (outcome, error) = loop {
            attempts += 1;
            let timeout = Duration::from_millis(self.settings.send_timeout_ms);
            let result = match tokio::time::timeout(timeout, self.channel.send(&notification)).await
            {
                Ok(result) => result,
                Err(_) => Err("channel timed out".into()),
            };
            match result {
                Ok(()) => break (Delivery::Sent, None),
                Err(error) if attempts >= self.settings.max_attempts => {
                    break (Delivery::Failed, Some(error));
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        };
        metrics::counter!("notifications_total", "channel" => self.channel.name(),
            "outcome" => outcome.as_str())
        .increment(1);
        let saved = async {
            let mut conn = self.db.pool().acquire().await?;
            db::finish(
                &mut conn,
                &notification.notification_id,
                outcome,
                attempts,
                error.as_deref(),
            )
            .await
        };
        if let Err(error) = saved.await {
            tracing::warn!(%error, "recording a notification's outcome failed");
        }
    }
}

//! The notification's job: the dispatcher sends the queued messages through the channel, off the
//! event log and the order flow, so a slow or dead channel holds up neither.

use std::sync::Arc;

use platform::Db;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{
    channel::Channel,
    db::{self, Notification},
    notification::Delivery,
    settings::NotificationSettings,
};

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
        let poll = this.settings.poll_interval;
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
        let mut backoff = self.settings.backoff;
        let mut attempts = 0;
        let (outcome, error) = loop {
            attempts += 1;
            let timeout = self.settings.send_timeout;
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

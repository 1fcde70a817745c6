//! Transactional outbox: a service writes its events into `outbox` in the transaction that changes
//! its state, and the relay publishes them afterwards, in order, marking each row sent once the
//! broker has it. Nothing is published for a rolled-back change, and nothing committed is lost when
//! the process dies or the broker is down: the rows wait, and the relay picks them up by itself.

use std::{sync::Arc, time::Duration};

use contracts::{Event, EventBody};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    bus::{EventBus, Outgoing},
    config::OutboxSettings,
    db::{Db, Tx, now_ms},
};

/// Wakes what reads committed rows right after a commit: the relay, so events do not wait for
/// the next poll, and the live follower ([`crate::live`]), so a stream shows a change at once.
#[derive(Clone, Default)]
pub struct OutboxSignal {
    relay: Arc<Notify>,
    live: Arc<Notify>,
}

impl OutboxSignal {
    pub fn wake(&self) {
        self.relay.notify_one();
        self.live.notify_one();
    }

    /// What the live follower waits on.
    pub fn live(&self) -> Arc<Notify> {
        self.live.clone()
    }
}

/// Adds events to the outbox inside `tx`; they are published only if `tx` commits. Returns the
/// event ids, in order.
pub async fn enqueue(
    tx: &mut Tx,
    events: impl IntoIterator<Item = impl Into<Event>>,
) -> sqlx::Result<Vec<String>> {
    // The span writing the events is the parent of their publishing.
    let traceparent = crate::trace::traceparent(&tracing::Span::current());
    let mut ids = Vec::new();
    for event in events {
        let event = event.into();
        // UUIDv7 ids are time ordered and monotonic within a process: the relay's publish order.
        let id = Uuid::now_v7().to_string();
        let key = event.key().to_owned();
        let event_type = event.event_type();
        let body = EventBody {
            timestamp: now_ms(),
            event,
        };
        let payload = serde_json::to_string(&body).map_err(|e| sqlx::Error::Encode(e.into()))?;
        sqlx::query(
            "INSERT INTO outbox (id, record_key, event_type, payload, traceparent, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(key)
        .bind(event_type)
        .bind(payload)
        .bind(traceparent.clone())
        .bind(body.timestamp)
        .execute(&mut **tx)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Publishes a service's outbox. One per process; when replicas share a PostgreSQL outbox, one of
/// them at a time publishes (see `Leadership`).
pub struct Relay {
    pub db: Db,
    pub bus: EventBus,
    pub source: String,
    pub settings: OutboxSettings,
    pub signal: OutboxSignal,
}

impl Relay {
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = self.settings.poll_interval;
        let mut failures = 0u32;
        let mut last_cleanup = std::time::Instant::now();
        let mut leadership = Leadership::new(&self.source);
        loop {
            if !leadership.hold(&self.db).await {
                // Another replica publishes; stand by to take over if it goes away.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(poll.max(Duration::from_secs(1))) => continue,
                }
            }
            let result = tokio::select! {
                _ = shutdown.cancelled() => break,
                result = self.publish_pending() => result,
            };
            let wait = match result {
                Ok(published) if published as i64 >= self.settings.batch_size => {
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    poll
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(source = %self.source, error = %format!("{error:#}"), failures,
                        "outbox relay could not publish; will retry");
                    poll.max(Duration::from_millis(250 * u64::from(failures.min(20))))
                }
            };
            if last_cleanup.elapsed() > Duration::from_secs(600) {
                last_cleanup = std::time::Instant::now();
                if let Err(error) = self.delete_old().await {
                    tracing::warn!(%error, "outbox cleanup failed");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.signal.relay.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if !leadership.hold(&self.db).await {
            return;
        }
        // Graceful stop: one last pass so what was committed leaves with us, bounded in time.
        match tokio::time::timeout(Duration::from_secs(5), self.publish_pending()).await {
            Ok(Ok(count)) if count > 0 => tracing::info!(count, "outbox flushed on shutdown"),
            Ok(Err(error)) => tracing::warn!(%error, "outbox flush on shutdown failed"),
            _ => {}
        }
    }

    /// Publishes up to one batch of unsent rows in creation order; returns how many went out.
    pub async fn publish_pending(&self) -> anyhow::Result<usize> {
        let mut records: Vec<Outgoing> = sqlx::query_as(
            "SELECT id, record_key, event_type, payload, traceparent FROM outbox \
             WHERE sent_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(self.settings.batch_size)
        .fetch_all(self.db.pool())
        .await?;
        if records.is_empty() {
            return Ok(0);
        }
        for record in &mut records {
            record.source.clone_from(&self.source);
        }
        // Each event goes to its producing context's topic, which is this service's own. All
        // sends are queued at once and librdkafka keeps their order per partition; we wait for
        // every acknowledgement, then stop at the first failure so nothing is marked sent out of
        // order.
        let results = futures::future::join_all(records.iter().map(|r| self.bus.publish(r))).await;
        let mut sent = Vec::new();
        let mut failure = None;
        for (record, result) in records.iter().zip(results) {
            match result {
                Ok(()) => sent.push(record.event_id.as_str()),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        if !sent.is_empty() {
            let now = now_ms();
            let mut tx = self.db.begin().await?;
            for id in &sent {
                sqlx::query("UPDATE outbox SET sent_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            metrics::counter!("outbox_published_total", "source" => self.source.clone())
                .increment(sent.len() as u64);
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(sent.len()),
        }
    }

    async fn delete_old(&self) -> sqlx::Result<()> {
        let horizon = now_ms() - self.settings.retention.as_millis() as i64;
        sqlx::query("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1")
            .bind(horizon)
            .execute(self.db.pool())
            .await
            .map(drop)
    }
}

/// Which replica's relay publishes. Replicas of a service share one PostgreSQL outbox; a session
/// advisory lock makes one relay at a time the publisher, so each row goes out once and one
/// order's events keep their order. The lock lives and dies with its own connection (detached from
/// the pool): when the publisher's process or session goes away, another replica takes over.
/// A SQLite database has one process, which always leads.
struct Leadership {
    key: i64,
    /// A connection of our own; the lock belongs to its session, standby or leading.
    session: Option<sqlx::AnyConnection>,
    leading: bool,
}

impl Leadership {
    fn new(source: &str) -> Self {
        // FNV-1a: a stable key per service, the same in every replica and release.
        let hash = format!("baedal-outbox:{source}")
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        Self {
            key: hash as i64,
            session: None,
            leading: false,
        }
    }

    async fn hold(&mut self, db: &Db) -> bool {
        if db.backend() == crate::db::Backend::Sqlite {
            return true;
        }
        if self.session.is_none() {
            let Ok(connection) = db.pool().acquire().await else {
                return false;
            };
            self.session = Some(connection.detach());
            self.leading = false;
        }
        let Some(session) = self.session.as_mut() else {
            return false;
        };
        let held = if self.leading {
            // Still our session, so still our lock.
            sqlx::query("SELECT 1")
                .execute(&mut *session)
                .await
                .map(|_| true)
        } else {
            sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                .bind(self.key)
                .fetch_one(&mut *session)
                .await
        };
        match held {
            Ok(true) => {
                if !self.leading {
                    tracing::info!("this replica publishes the outbox");
                }
                self.leading = true;
                true
            }
            Ok(false) => false,
            Err(error) => {
                tracing::warn!(%error, "outbox leadership session lost");
                self.session = None;
                self.leading = false;
                false
            }
        }
    }
}

/// Rows not yet published (for tests and the operator's `/readyz` detail).
pub async fn pending(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(db.pool())
        .await
}

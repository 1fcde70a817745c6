//! The event log: publishing and consuming domain events over Kafka in the wire format of
//! docs/architecture.md ("Wire format"), with idempotent handlers and a dead-letter topic for
//! poison events.
//!
//! Services never publish directly: their events go through the outbox (see [`crate::outbox`]),
//! whose relay is the only producer of domain events. Consumers run each event's handler in one
//! transaction with its inbox row (see [`crate::inbox`]), then store the offset, so a crash at any
//! point leads to a redelivery that changes nothing.

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::{Context, anyhow};
use contracts::{Event, EventBody, EventType, headers};
use futures::FutureExt;
use rdkafka::{
    ClientConfig, Message,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::{ClientContext, DefaultClientContext},
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    message::{BorrowedMessage, Header, Headers, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer},
    types::RDKafkaErrorCode,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    config::{ConsumerSettings, KafkaSettings},
    db::{Db, Tx},
    inbox,
    outbox::OutboxSignal,
    ready::Gate,
    trace,
};
use tracing::Instrument;

/// A connection to the event log, shared by a service's relay, consumers and readiness probe.
#[derive(Clone)]
pub struct EventBus {
    settings: KafkaSettings,
    producer: FutureProducer,
}

/// One record ready to go on the topic.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Outgoing {
    #[sqlx(rename = "id")]
    pub event_id: String,
    pub event_type: String,
    #[sqlx(rename = "record_key")]
    pub key: String,
    pub payload: String,
    /// The producing service: not in the outbox row, which only that service writes.
    #[sqlx(skip)]
    pub source: String,
    pub traceparent: Option<String>,
}

impl EventBus {
    pub fn new(settings: &KafkaSettings) -> anyhow::Result<Self> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &settings.brokers)
            // One request in flight per partition keeps the outbox's order even across retries.
            .set("max.in.flight.requests.per.connection", "1")
            // The Java client's key hash, so a JVM or Python service on the topic puts one
            // order's events in the same partition as we do.
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "2")
            .set(
                "message.timeout.ms",
                settings.message_timeout.as_millis().to_string(),
            )
            .set("allow.auto.create.topics", "false")
            .create()
            .context("creating Kafka producer")?;
        Ok(Self {
            settings: settings.clone(),
            producer,
        })
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }

    /// Creates the event and dead-letter topics if they are missing. The embedded broker does not
    /// create topics on first use, and production clusters usually forbid it.
    pub async fn ensure_topics(&self) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.settings.brokers)
            .create()
            .context("creating Kafka admin client")?;
        let retention = self.settings.retention.as_millis().to_string();
        let event_topics = self.settings.event_topics();
        let topics: Vec<NewTopic<'_>> = event_topics
            .iter()
            .map(|name| NewTopic::new(name, self.settings.partitions, TopicReplication::Fixed(1)))
            .chain([NewTopic::new(
                &self.settings.dlq_topic,
                1,
                TopicReplication::Fixed(1),
            )])
            .map(|topic| {
                topic
                    .set("cleanup.policy", "delete")
                    .set("retention.ms", &retention)
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&topics, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(anyhow!("creating topic {topic}: {code}")),
            }
        }
        Ok(())
    }

    /// Publishes one record to its producing context's topic (by its type) and waits for the
    /// broker to acknowledge it.
    pub async fn publish(&self, record: &Outgoing) -> anyhow::Result<()> {
        let topic = self.settings.topic_for(&record.event_type)?;
        let span = trace::publish_span(
            &record.source,
            &topic,
            &record.event_type,
            &record.event_id,
            record.traceparent.as_deref(),
        );
        // The record names the publishing span, so its consumers are children of it; without
        // spans (no OpenTelemetry layer) the writer's context goes on as it came.
        let traceparent = trace::traceparent(&span).or_else(|| record.traceparent.clone());
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: headers::TYPE,
                value: Some(&record.event_type),
            })
            .insert(Header {
                key: headers::EVENT_ID,
                value: Some(&record.event_id),
            })
            .insert(Header {
                key: headers::SOURCE,
                value: Some(&record.source),
            });
        if let Some(traceparent) = &traceparent {
            headers = headers.insert(Header {
                key: headers::TRACEPARENT,
                value: Some(traceparent),
            });
        }
        self.send(&topic, &record.key, record.payload.as_bytes(), headers)
            .instrument(span.clone())
            .await
            .inspect_err(|_| trace::failed(&span))
    }

    async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> anyhow::Result<()> {
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        self.producer
            .send(record, Duration::from_secs(0))
            .await
            .map(drop)
            .map_err(|(error, _)| anyhow!("publishing to {topic}: {error}"))
    }

    /// True when the broker answers a metadata request for an event topic (for `/readyz`).
    pub async fn ping(&self) -> bool {
        let producer = self.producer.clone();
        let topic = self.settings.topic_of(contracts::Producer::Order);
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(2))
                .map(|metadata| metadata.topics().iter().any(|t| t.error().is_none()))
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.settings.brokers)
            .set(
                "group.id",
                format!("{}{}", self.settings.group_prefix, group),
            )
            .set("auto.offset.reset", "earliest")
            // Offsets are stored by hand after the handler's transaction commits, and committed
            // from there in the background: at-least-once, made effectively-once by the inbox.
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set(
                "fetch.wait.max.ms",
                self.settings.fetch_wait_max.as_millis().to_string(),
            )
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("allow.auto.create.topics", "false");
        if let Some(instance) = &self.settings.instance_id {
            config.set("group.instance.id", format!("{group}-{instance}"));
        }
        config
    }
}

/// An event taken off the topic and decoded.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub event_id: String,
    pub event_type: String,
    pub key: Option<String>,
    pub source: Option<String>,
    /// The publishing span, parent of the handling one.
    pub traceparent: Option<String>,
    /// Epoch ms, from the body.
    pub timestamp: i64,
    pub event: Event,
    pub partition: i32,
    pub offset: i64,
}

impl Incoming {
    /// The span of `consumer` handling this event, a child of the one that published it.
    pub fn span(&self, consumer: &str) -> tracing::Span {
        trace::process_span(
            consumer,
            &self.event_type,
            &self.event_id,
            self.partition,
            self.offset,
            self.traceparent.as_deref(),
        )
    }
}

/// A policy ("whenever X then Y") or projection fed by the event log.
pub trait EventHandler: Send + Sync + 'static {
    /// The event types acted on; others are skipped without touching storage.
    fn subscriptions(&self) -> &'static [EventType];

    /// Applies one event inside `tx`, which also holds the inbox row and commits after. Events it
    /// causes go into the outbox through the same `tx`. An error rolls everything back and the
    /// event is retried, then dead-lettered.
    fn handle(
        &self,
        tx: &mut Tx,
        event: &Incoming,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What decoding a record gave.
#[derive(Debug)]
pub enum Decoded {
    /// A type this consumer does not handle.
    Skip,
    Event(Box<Incoming>),
    /// Cannot be handled by anybody: goes to the dead-letter topic.
    Poison(String),
}

/// Decodes a record by the wire rules of docs/architecture.md ("Wire format"): the `type` header
/// (plain or JSON-quoted) or, failing that, the body's `eventType` decides; `event-id` is the
/// idempotency key, and a record without one gets a stable id from its position so redelivery is
/// still recognised.
pub fn decode(message: &BorrowedMessage<'_>, subscriptions: &[EventType]) -> Decoded {
    let mut event_type = None;
    let mut event_id = None;
    let mut source = None;
    let mut traceparent = None;
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            let Some(value) = header.value.and_then(|v| std::str::from_utf8(v).ok()) else {
                continue;
            };
            match header.key {
                headers::TYPE => event_type = Some(unquote(value)),
                headers::EVENT_ID => event_id = Some(unquote(value)),
                headers::SOURCE => source = Some(unquote(value)),
                headers::TRACEPARENT => traceparent = Some(unquote(value)),
                _ => {}
            }
        }
    }
    let Some(payload) = message.payload() else {
        return Decoded::Poison("record has no value".into());
    };
    let event_type = match event_type {
        Some(t) => t,
        None => match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(value) => match value.get("eventType").and_then(|t| t.as_str()) {
                Some(t) => t.to_owned(),
                None => return Decoded::Poison("no type header and no eventType".into()),
            },
            Err(error) => return Decoded::Poison(format!("value is not JSON: {error}")),
        },
    };
    // A type this build does not know is a newer producer's: not ours to handle.
    match event_type.parse::<EventType>() {
        Ok(kind) if subscriptions.contains(&kind) => {}
        _ => return Decoded::Skip,
    }
    let body: EventBody = match serde_json::from_slice(payload) {
        Ok(body) => body,
        Err(error) => return Decoded::Poison(format!("cannot decode {event_type}: {error}")),
    };
    if body.event.event_type() != event_type {
        return Decoded::Poison(format!(
            "type header {event_type} disagrees with eventType {}",
            body.event.event_type()
        ));
    }
    let event_id = event_id.unwrap_or_else(|| position_id(message));
    Decoded::Event(Box::new(Incoming {
        event_id,
        event_type,
        key: message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .map(str::to_owned),
        source,
        traceparent,
        timestamp: body.timestamp,
        event: body.event,
        partition: message.partition(),
        offset: message.offset(),
    }))
}

/// A stable id for a record that came without `event-id`: from where it sits in the log.
fn position_id(message: &BorrowedMessage<'_>) -> String {
    let position = format!(
        "{}/{}/{}",
        message.topic(),
        message.partition(),
        message.offset()
    );
    Uuid::new_v5(&Uuid::NAMESPACE_OID, position.as_bytes()).to_string()
}

/// Errors that say the database cannot be reached right now, not that the event is bad.
fn is_transient(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_))
        )
    })
}

fn unquote(value: &str) -> String {
    // Spring Cloud Stream writes header values as JSON strings.
    serde_json::from_str::<String>(value).unwrap_or_else(|_| value.to_owned())
}

/// Most records handled in one transaction.
const MAX_BATCH: usize = 256;

/// Runs a handler over the topic as the consumer group `name` until `shutdown`.
pub struct ConsumerRunner<H> {
    pub name: String,
    pub bus: EventBus,
    pub db: Db,
    pub handler: Arc<H>,
    pub settings: ConsumerSettings,
    pub outbox: OutboxSignal,
    /// Opens when the group has given this consumer its partitions (possibly none).
    pub joined: Gate,
}

/// Tells when the consumer has joined its group: that is when it starts to see events.
pub struct GroupContext {
    joined: Gate,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            tracing::debug!(partitions = partitions.count(), "joined the consumer group");
            self.joined.open();
        }
    }
}

enum Outcome {
    Done,
    Stopped,
}

impl<H: EventHandler> ConsumerRunner<H> {
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer: StreamConsumer<GroupContext> = self
            .bus
            .consumer_config(&self.name)
            .create_with_context(GroupContext {
                joined: self.joined.clone(),
            })
            .context("creating Kafka consumer")?;
        // Only the topics of the contexts whose events this consumer takes: a group fetches no
        // record it would skip.
        let topics = self
            .bus
            .settings
            .topics_carrying(self.handler.subscriptions());
        let topic_names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topic_names).context("subscribing")?;
        tracing::info!(consumer = %self.name, topics = ?topics, "consuming");
        'consuming: loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => break,
                message = consumer.recv() => message,
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(consumer = %self.name, %error, "kafka receive failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            // What has arrived with it is handled with it, in one transaction.
            let mut batch = vec![message];
            while batch.len() < MAX_BATCH {
                match consumer.recv().now_or_never() {
                    Some(Ok(message)) => batch.push(message),
                    _ => break,
                }
            }
            let store = |message: &BorrowedMessage<'_>| {
                if let Err(error) = consumer.store_offset_from_message(message) {
                    tracing::warn!(consumer = %self.name, %error, "storing offset failed");
                }
            };
            if self.apply_batch(&batch).await {
                batch.iter().for_each(store);
                continue;
            }
            // One at a time: a poison event goes to the dead letters alone, a failing one is
            // retried alone, and the rest keep their order.
            for message in &batch {
                match self.process(message, &shutdown).await {
                    Outcome::Done => store(message),
                    Outcome::Stopped => break 'consuming,
                }
            }
        }
        // Commit what was stored; the rest is redelivered to whoever takes the partition. Both
        // the commit and leaving the group block, and wait forever for a broker that is gone, so
        // they get a thread of their own and a deadline.
        let name = self.name.clone();
        let leave = tokio::task::spawn_blocking(move || {
            if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(consumer = %name, %error, "final offset commit");
            }
            drop(consumer);
        });
        if tokio::time::timeout(Duration::from_secs(5), leave)
            .await
            .is_err()
        {
            tracing::warn!(consumer = %self.name, "the broker did not take the final offsets within 5 s; they will be redelivered");
        }
        tracing::info!(consumer = %self.name, "stopped consuming");
        Ok(())
    }

    async fn process(
        &self,
        message: &BorrowedMessage<'_>,
        shutdown: &CancellationToken,
    ) -> Outcome {
        let incoming = match decode(message, self.handler.subscriptions()) {
            Decoded::Skip => return Outcome::Done,
            Decoded::Poison(error) => {
                metrics::counter!("events_poison_total", "consumer" => self.name.clone())
                    .increment(1);
                return self.dead_letter(message, &error, shutdown).await;
            }
            Decoded::Event(incoming) => incoming,
        };
        let span = incoming.span(&self.name);
        self.retry(message, &incoming, shutdown)
            .instrument(span)
            .await
    }

    /// Handles one event until it is done, dead-lettered, or the consumer stops.
    async fn retry(
        &self,
        message: &BorrowedMessage<'_>,
        incoming: &Incoming,
        shutdown: &CancellationToken,
    ) -> Outcome {
        let mut backoff = self.settings.backoff;
        let mut attempt = 0;
        loop {
            let started = std::time::Instant::now();
            let result = self.apply(incoming).await;
            match result {
                Ok(applied) => {
                    self.record_handled(incoming, applied, started.elapsed().as_secs_f64());
                    return Outcome::Done;
                }
                // The database is away (pool timeout, lost connection): the event is fine, so it
                // waits for the database instead of being dead-lettered.
                Err(error) if is_transient(&error) => {
                    tracing::warn!(consumer = %self.name, event_type = %incoming.event_type,
                        error = %format!("{error:#}"), "storage unavailable; waiting to retry");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Outcome::Stopped,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(error) if attempt + 1 >= self.settings.max_attempts => {
                    tracing::error!(consumer = %self.name, event_type = %incoming.event_type,
                        event_id = %incoming.event_id, attempt, error = ?error,
                        "event failed for good; dead-lettering");
                    trace::failed(&tracing::Span::current());
                    return self
                        .dead_letter(message, &format!("{error:#}"), shutdown)
                        .await;
                }
                Err(error) => {
                    attempt += 1;
                    tracing::warn!(consumer = %self.name, event_type = %incoming.event_type,
                        event_id = %incoming.event_id, attempt, error = ?error,
                        "event failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Outcome::Stopped,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Handles a batch of decodable events in one transaction: their inbox rows, the handlers'
    /// changes and the events those cause commit together, and one commit serves them all.
    /// False when the batch holds a poison record or any handler fails: nothing is kept, and
    /// the caller takes the records one at a time.
    async fn apply_batch(&self, batch: &[BorrowedMessage<'_>]) -> bool {
        let mut events = Vec::with_capacity(batch.len());
        for message in batch {
            match decode(message, self.handler.subscriptions()) {
                Decoded::Skip => {}
                Decoded::Event(incoming) => events.push(incoming),
                Decoded::Poison(_) => return false,
            }
        }
        if events.is_empty() {
            return true;
        }
        if events.len() == 1 {
            return false; // the single path is the same work, with its retries
        }
        let started = std::time::Instant::now();
        let attempt = async {
            let mut tx = self.db.begin().await?;
            let mut applied = Vec::with_capacity(events.len());
            for incoming in &events {
                let claimed = inbox::claim(&mut tx, &self.name, incoming).await?;
                if claimed {
                    self.handler
                        .handle(&mut tx, incoming)
                        .instrument(incoming.span(&self.name))
                        .await?;
                }
                applied.push(claimed);
            }
            tx.commit().await?;
            anyhow::Ok(applied)
        };
        match attempt.await {
            Ok(applied) => {
                self.outbox.wake();
                let each = started.elapsed().as_secs_f64() / events.len() as f64;
                for (incoming, applied) in events.iter().zip(applied) {
                    self.record_handled(incoming, applied, each);
                }
                metrics::histogram!("event_batch_size", "consumer" => self.name.clone())
                    .record(events.len() as f64);
                true
            }
            Err(error) => {
                tracing::debug!(consumer = %self.name, error = %format!("{error:#}"),
                    "a batch failed; handling its events one at a time");
                false
            }
        }
    }

    fn record_handled(&self, incoming: &Incoming, applied: bool, seconds: f64) {
        let outcome = if applied { "applied" } else { "duplicate" };
        metrics::counter!("events_consumed_total", "consumer" => self.name.clone(),
            "type" => incoming.event_type.clone(), "outcome" => outcome)
        .increment(1);
        metrics::histogram!("event_handle_seconds", "consumer" => self.name.clone())
            .record(seconds);
        if applied {
            // One hop of the saga: from the moment the event was written (its timestamp) until
            // this consumer's change committed.
            let lag_ms = crate::db::now_ms()
                .saturating_sub(incoming.timestamp)
                .max(0);
            metrics::histogram!("event_lag_seconds", "consumer" => self.name.clone(),
                "type" => incoming.event_type.clone())
            .record(lag_ms as f64 / 1000.0);
        }
        tracing::debug!(consumer = %self.name, event_type = %incoming.event_type,
            event_id = %incoming.event_id, outcome, "event handled");
    }

    /// One attempt: inbox row, handler, commit. `Ok(false)` when the event was handled before.
    async fn apply(&self, incoming: &Incoming) -> anyhow::Result<bool> {
        let mut tx = self.db.begin().await?;
        if !inbox::claim(&mut tx, &self.name, incoming).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        self.handler.handle(&mut tx, incoming).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(true)
    }

    /// Parks a poison record on the dead-letter topic, with its headers and the error, so its
    /// partition moves on. Retries until the broker takes it: losing it would lose the event.
    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        error: &str,
        shutdown: &CancellationToken,
    ) -> Outcome {
        let mut headers = OwnedHeaders::new();
        let mut has_event_id = false;
        if let Some(original) = message.headers() {
            for header in original.iter() {
                has_event_id |= header.key == headers::EVENT_ID;
                headers = headers.insert(Header {
                    key: header.key,
                    value: header.value,
                });
            }
        }
        if !has_event_id {
            // Keep the id the record had here, so a replay is recognised by those who handled it.
            headers = headers.insert(Header {
                key: headers::EVENT_ID,
                value: Some(&position_id(message)),
            });
        }
        headers = headers
            .insert(Header {
                key: headers::ERROR,
                value: Some(error),
            })
            .insert(Header {
                key: headers::FAILED_CONSUMER,
                value: Some(&self.name),
            });
        let key = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .unwrap_or_default();
        let payload = message.payload().unwrap_or_default();
        loop {
            match self
                .bus
                .send(&self.bus.settings.dlq_topic, key, payload, headers.clone())
                .await
            {
                Ok(()) => {
                    metrics::counter!("events_dead_lettered_total", "consumer" => self.name.clone())
                        .increment(1);
                    tracing::warn!(consumer = %self.name, partition = message.partition(),
                        offset = message.offset(), error, "event dead-lettered");
                    return Outcome::Done;
                }
                Err(send_error) => {
                    tracing::error!(consumer = %self.name, error = %send_error,
                        "dead-lettering failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Outcome::Stopped,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_waited_out_and_a_bad_event_is_not() {
        let pool_timeout = anyhow::Error::from(sqlx::Error::PoolTimedOut).context("handling");
        assert!(is_transient(&pool_timeout));
        let io = anyhow::Error::from(sqlx::Error::Io(std::io::Error::other("reset")));
        assert!(is_transient(&io));
        let decode = anyhow::Error::from(sqlx::Error::RowNotFound);
        assert!(!is_transient(&decode));
        assert!(!is_transient(&anyhow::anyhow!(
            "order o-1 changed concurrently"
        )));
    }

    /// A replica with a stable name joins each group as a static member named after both, so
    /// a restarted replica is the same member (and one process's groups never share a name).
    #[tokio::test]
    async fn a_named_replica_joins_its_groups_as_a_static_member() {
        let mut settings = KafkaSettings {
            brokers: "127.0.0.1:1".into(),
            group_prefix: "t-".into(),
            ..KafkaSettings::default()
        };
        let dynamic = EventBus::new(&settings).unwrap().consumer_config("order");
        assert_eq!(dynamic.get("group.id"), Some("t-order"));
        assert_eq!(dynamic.get("group.instance.id"), None);
        settings.instance_id = Some("order-1".into());
        let named = EventBus::new(&settings).unwrap().consumer_config("order");
        assert_eq!(named.get("group.instance.id"), Some("order-order-1"));
    }

    #[test]
    fn header_values_are_taken_plain_or_json_quoted() {
        assert_eq!(unquote("OrderPlaced"), "OrderPlaced");
        assert_eq!(unquote("\"OrderPlaced\""), "OrderPlaced");
    }
}

//! The dead-letter topic, for operators: list what was parked and why, and replay it once the
//! cause is fixed. A replayed record goes back on the event topic with its original event id, so
//! consumers that handled it before skip it and only the one that failed tries again.

use std::time::Duration;

use anyhow::Context;
use contracts::headers;
use rdkafka::{
    ClientConfig, Message,
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::{Header, Headers, OwnedHeaders, OwnedMessage},
    producer::{FutureProducer, FutureRecord},
};

use crate::config::KafkaSettings;

/// One parked record.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Vec<u8>,
}

impl DeadLetter {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }

    fn from_message(message: &OwnedMessage) -> Self {
        Self {
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            headers: message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default(),
            payload: message.payload().unwrap_or_default().to_vec(),
        }
    }
}

fn consumer(settings: &KafkaSettings, group: &str) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "fetch.wait.max.ms",
            settings.fetch_wait_max.as_millis().to_string(),
        )
        .create()
        .context("creating dead-letter consumer")?;
    consumer
        .subscribe(&[&settings.dlq_topic])
        .context("subscribing to the dead-letter topic")?;
    Ok(consumer)
}

/// Reads until no record arrived for `idle` (the topic is drained as far as we can tell).
async fn drain(consumer: &StreamConsumer, idle: Duration) -> anyhow::Result<Vec<OwnedMessage>> {
    let mut messages = Vec::new();
    // The first fetch waits for the group join too.
    let mut wait = idle.max(Duration::from_secs(10));
    while let Ok(received) = tokio::time::timeout(wait, consumer.recv()).await {
        messages.push(received.context("reading the dead-letter topic")?.detach());
        wait = idle;
    }
    Ok(messages)
}

/// Every record on the dead-letter topic, without changing anything.
pub async fn list(settings: &KafkaSettings, idle: Duration) -> anyhow::Result<Vec<DeadLetter>> {
    let group = format!("baedal-dlq-list-{}", uuid::Uuid::new_v4());
    let consumer = consumer(settings, &group)?;
    let messages = drain(&consumer, idle).await?;
    Ok(messages.iter().map(DeadLetter::from_message).collect())
}

/// Puts dead letters back on the event topic: all of them, or those `failed_consumer` gave up on.
/// Progress is committed per filter, so each dead letter is replayed once. Returns the replayed.
pub async fn replay(
    settings: &KafkaSettings,
    failed_consumer: Option<&str>,
    idle: Duration,
) -> anyhow::Result<Vec<DeadLetter>> {
    let group = format!("baedal-dlq-replay-{}", failed_consumer.unwrap_or("all"));
    let consumer = consumer(settings, &group)?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set(
            "message.timeout.ms",
            settings.message_timeout.as_millis().to_string(),
        )
        // The same key hash as the relay's, so a replayed event lands in its order's partition.
        .set("partitioner", "murmur2_random")
        .create()
        .context("creating producer")?;
    let messages = drain(&consumer, idle).await?;
    let mut replayed = Vec::new();
    for message in &messages {
        let letter = DeadLetter::from_message(message);
        let matches = failed_consumer.is_none_or(|wanted| {
            letter.header(headers::FAILED_CONSUMER).as_deref() == Some(wanted)
        });
        let topic = match replay_topic(settings, &letter) {
            Ok(topic) => Some(topic),
            Err(error) => {
                tracing::warn!(offset = letter.offset, %error, "dead letter left where it is");
                None
            }
        };
        if matches && let Some(topic) = topic {
            let mut original = OwnedHeaders::new();
            for (key, value) in &letter.headers {
                if key != headers::ERROR && key != headers::FAILED_CONSUMER {
                    original = original.insert(Header {
                        key,
                        value: Some(value),
                    });
                }
            }
            let mut record = FutureRecord::to(&topic)
                .payload(&letter.payload)
                .headers(original);
            if let Some(key) = &letter.key {
                record = record.key(key);
            }
            producer
                .send(record, Duration::from_secs(0))
                .await
                .map_err(|(error, _)| anyhow::anyhow!("replaying: {error}"))?;
            replayed.push(letter);
        }
        consumer
            .store_offset(message.topic(), message.partition(), message.offset() + 1)
            .context("recording replay progress")?;
    }
    if !messages.is_empty() {
        consumer
            .commit_consumer_state(CommitMode::Sync)
            .context("committing replay progress")?;
    }
    Ok(replayed)
}

/// The event topic a dead letter goes back to: its type's producing context's, taken from the
/// `type` header or, failing that, the body's `eventType` (the rules consumers decode by).
fn replay_topic(settings: &KafkaSettings, letter: &DeadLetter) -> anyhow::Result<String> {
    let event_type = letter
        .header(headers::TYPE)
        .map(|t| t.trim_matches('"').to_owned())
        .or_else(|| {
            serde_json::from_slice::<serde_json::Value>(&letter.payload)
                .ok()?
                .get("eventType")?
                .as_str()
                .map(str::to_owned)
        })
        .ok_or_else(|| anyhow::anyhow!("a dead letter without an event type has no topic"))?;
    Ok(settings.topic_for(&event_type)?)
}

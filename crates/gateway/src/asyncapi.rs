//! The event topics, described: an AsyncAPI 3.0 document served at `/asyncapi.json`, as
//! `/openapi.json` describes the HTTP API. It is built here, where every service is in reach, so
//! nothing in it is written twice. The channels and messages come from the `contracts` catalogue
//! (`EventType::producer`), the payload schemas from the event structs (utoipa, as for the HTTP
//! bodies), the record key from `Event::key`, the topic names and their settings from
//! `KafkaSettings`' defaults, and who receives what from each service's
//! `EventHandler::subscriptions`. `docs/events.md` is held to this document by a test.
//!
//! AsyncAPI 3 describes one application's operations; this document describes all of baedal's,
//! so each operation is one service's send or receive on one channel, `<service>.<action>.<topic>`,
//! tagged with the service.

use contracts::{Event, EventBody, EventType, Producer, headers};
use platform::{ServiceName, bus::EventHandler, config::KafkaSettings};
use serde_json::{Map, Value, json};

/// The AsyncAPI version the document follows; its test validates it against that version's schema.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// The version of the Kafka bindings used (channels, operations, messages).
const KAFKA_BINDING: &str = "0.5.0";

/// Who takes dead letters off their topic: not a service, an operator's `baedal dlq`.
pub const OPERATOR: &str = "operator";

/// Every service that reads event topics, with the event types it takes. The review service
/// publishes and reads nothing. A service that starts consuming must be added here; the
/// document's test holds `docs/events.md` to what this says.
pub fn consumers() -> Vec<(ServiceName, &'static [EventType])> {
    vec![
        (
            ServiceName::Order,
            order::policies::OrderPolicies.subscriptions(),
        ),
        (
            ServiceName::Payment,
            payment::policies::PaymentPolicies.subscriptions(),
        ),
        (
            ServiceName::Store,
            store::policies::StorePolicies.subscriptions(),
        ),
        (
            ServiceName::Delivery,
            delivery::policies::DeliveryPolicies.subscriptions(),
        ),
        (
            ServiceName::Notification,
            notification::policies::NotificationPolicy.subscriptions(),
        ),
        (
            ServiceName::Customer,
            // The grades only matter to handling; the subscriptions are the same for any.
            customer::policies::CustomerPolicies { grades: Vec::new() }.subscriptions(),
        ),
    ]
}

/// When the examples happened (epoch ms): fixed, so the document is the same on every build.
const EXAMPLE_TIME: i64 = 1_700_000_000_000;
const EXAMPLE_EVENT_ID: &str = "018bcfe5-6800-7000-8000-000000000001";
const EXAMPLE_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The whole document, for the default settings: topic names under the default prefix, the
/// partitions and retention the topics are created with unless configured otherwise. It does not
/// follow the running configuration on purpose: it is public, and broker addresses are not.
pub fn document() -> Value {
    let kafka = KafkaSettings::default();
    let consumers = consumers();
    let examples = contracts::examples();

    let mut schemas = Map::new();
    schemas.insert("EventHeaders".into(), event_headers());
    schemas.insert("DeadLetterHeaders".into(), dead_letter_headers());
    let mut messages = Map::new();
    for &kind in EventType::ALL {
        let (schema, referred) = kind.schema();
        for (name, schema) in referred {
            schemas.insert(name, to_json(&schema));
        }
        let fields = to_json(&schema);
        let example = examples
            .iter()
            .find(|e| e.kind() == kind)
            .expect("contracts has an example of every event type");
        let description = fields["description"].as_str().map(str::to_owned);
        schemas.insert(kind.as_str().into(), value_schema(kind, fields));
        messages.insert(
            kind.as_str().into(),
            message(kind, example, description.as_deref()),
        );
    }
    messages.insert("DeadLetter".into(), dead_letter());

    let mut channels = Map::new();
    let mut operations = Map::new();
    for &producer in Producer::ALL {
        let topic = kafka.topic_of(producer);
        let on_topic: Vec<EventType> = EventType::ALL
            .iter()
            .copied()
            .filter(|t| t.producer() == producer)
            .collect();
        channels.insert(
            topic.clone(),
            json!({
                "address": topic,
                "title": format!("{} events", producer.as_str()),
                "description": format!(
                    "What the {p} service publishes. The topic is `<kafka.topic_prefix>.{p}`: \
                     `{topic}` under the default prefix `{prefix}`; a deployment may set another \
                     prefix.",
                    p = producer.as_str(),
                    prefix = contracts::DEFAULT_TOPIC_PREFIX,
                ),
                "messages": channel_messages(on_topic.iter().map(|t| t.as_str())),
                "bindings": { "kafka": topic_binding(kafka.partitions, kafka.retention) },
            }),
        );
        operations.insert(
            format!("{}.send.{topic}", producer.as_str()),
            json!({
                "action": "send",
                "channel": channel_ref(&topic),
                "title": format!("{} publishes", producer.as_str()),
                "summary": format!(
                    "The {} service publishes its events through its transactional outbox.",
                    producer.as_str()
                ),
                "description": "An event is written to the outbox in the transaction of the \
                                change that caused it and published after it commits, at least \
                                once: consumers skip a repeated `event-id`.",
                "tags": [tag_ref(producer.as_str())],
                "messages": operation_messages(&topic, on_topic.iter().map(|t| t.as_str())),
            }),
        );
    }
    for (service, subscriptions) in &consumers {
        let service = service.as_str();
        for topic in kafka.topics_carrying(subscriptions) {
            let taken: Vec<&str> = subscriptions
                .iter()
                .filter(|t| kafka.topic_of(t.producer()) == topic)
                .map(|t| t.as_str())
                .collect();
            operations.insert(
                format!("{service}.receive.{topic}"),
                json!({
                    "action": "receive",
                    "channel": channel_ref(&topic),
                    "title": format!("{service} reads {topic}"),
                    "summary": format!(
                        "The {service} service's consumer group takes {}.",
                        taken.join(", ")
                    ),
                    "description": "The group skips the topic's other event types without \
                                    touching storage, and each event it takes is handled once: \
                                    its `event-id` goes into the inbox in the transaction of the \
                                    handling. An event that keeps failing goes to the \
                                    dead-letter topic.",
                    "tags": [tag_ref(service)],
                    "messages": operation_messages(&topic, taken.iter().copied()),
                    "bindings": { "kafka": {
                        "groupId": {
                            "type": "string",
                            "enum": [service],
                            "description": "The service's name, after `kafka.group_prefix` \
                                            (empty by default).",
                        },
                        "bindingVersion": KAFKA_BINDING,
                    }},
                }),
            );
        }
    }

    let dlq = kafka.dlq_topic.clone();
    channels.insert(
        dlq.clone(),
        json!({
            "address": dlq,
            "title": "dead letters",
            "description": format!(
                "Where a consumer parks a record it cannot handle, so its partition moves on: \
                 `kafka.dlq_topic`, `{dlq}` by default. `baedal dlq list` shows them and \
                 `baedal dlq replay` puts them back on their event topic with their original \
                 event id."
            ),
            "messages": channel_messages(["DeadLetter"]),
            // The dead-letter topic always has one partition (`Bus::ensure_topics`).
            "bindings": { "kafka": topic_binding(1, kafka.retention) },
        }),
    );
    for (service, _) in &consumers {
        let service = service.as_str();
        operations.insert(
            format!("{service}.send.{dlq}"),
            json!({
                "action": "send",
                "channel": channel_ref(&dlq),
                "title": format!("{service} dead-letters"),
                "summary": format!(
                    "The {service} service's consumer parks a record it cannot decode, or whose \
                     handling failed `consumer.max_attempts` times."
                ),
                "tags": [tag_ref(service)],
                "messages": operation_messages(&dlq, ["DeadLetter"]),
            }),
        );
    }
    operations.insert(
        format!("{OPERATOR}.receive.{dlq}"),
        json!({
            "action": "receive",
            "channel": channel_ref(&dlq),
            "title": "an operator reads dead letters",
            "summary": "`baedal dlq list` and `baedal dlq replay`, once the cause is fixed.",
            "tags": [tag_ref(OPERATOR)],
            "messages": operation_messages(&dlq, ["DeadLetter"]),
        }),
    );

    let mut tags = Map::new();
    for service in ServiceName::ALL {
        tags.insert(
            service.as_str().into(),
            json!({ "name": service.as_str(), "description": format!("the {service} service") }),
        );
    }
    tags.insert(
        OPERATOR.into(),
        json!({ "name": OPERATOR, "description": "a person running `baedal dlq`" }),
    );

    json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "baedal events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO,
            "license": { "name": "Apache-2.0" },
        },
        "defaultContentType": "application/json",
        "servers": {
            "broker": {
                "host": "{brokers}",
                "protocol": "kafka",
                "description": "Any Kafka-protocol broker: `baedal up` runs an embedded one, a \
                                deployment names its cluster in `kafka.brokers`.",
                "variables": {
                    "brokers": {
                        "default": kafka.brokers,
                        "description": "`kafka.brokers`: `host:port[,host:port]`",
                    },
                },
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "tags": tags,
        },
    })
}

const INFO: &str = "Every domain event of baedal, on Kafka topics. Each producing context \
publishes to a topic of its own, `<kafka.topic_prefix>.<context>` (`baedal.order`, \
`baedal.store`, ...; the prefix is configurable), and each consumer group (the service's name) \
subscribes to the topics that carry the types it takes and skips the rest.\n\n\
A record's value is one flat JSON object in camelCase: the envelope's `eventType` and \
`timestamp` (epoch ms) next to the event's own fields. Money is whole KRW. Decoders ignore \
fields they do not know and skip event types they do not take. The key is the order id (a \
store's `MenuPublished` is keyed by the store id), so one order's events from one producer \
stay in one partition, in order; producers hash keys with `murmur2_random`, as the Java \
client does. The headers are `type`, `event-id` (UUIDv7, the consumers' idempotency key), \
`source` (the publishing service) and `traceparent` (W3C trace context).\n\n\
Operations are named `<service>.<send|receive>.<topic>` and tagged with the service. \
`docs/events.md` tells what each event means and what each consumer does with it.";

/// The schema of a record's value: the envelope's `eventType` and `timestamp`, then the event's
/// fields, flat, as `EventBody` serializes them.
fn value_schema(kind: EventType, fields: Value) -> Value {
    let Value::Object(mut fields) = fields else {
        unreachable!("an event is a struct, so its schema is an object");
    };
    let mut properties = Map::new();
    properties.insert(
        "eventType".into(),
        json!({
            "type": "string",
            "const": kind.as_str(),
            "description": "The event type; the `type` header says the same.",
        }),
    );
    let mut timestamp = to_json(&<i64 as utoipa::PartialSchema>::schema());
    timestamp["description"] = "Epoch ms when the event was created.".into();
    properties.insert("timestamp".into(), timestamp);
    if let Some(Value::Object(own)) = fields.remove("properties") {
        properties.extend(own);
    }
    let mut required = vec![json!("eventType"), json!("timestamp")];
    if let Some(Value::Array(own)) = fields.remove("required") {
        required.extend(own);
    }
    fields.insert("properties".into(), Value::Object(properties));
    fields.insert("required".into(), Value::Array(required));
    Value::Object(fields)
}

/// An event's message; `description` is its struct's doc comment.
fn message(kind: EventType, example: &Event, description: Option<&str>) -> Value {
    let name = kind.as_str();
    let producer = kind.producer().as_str();
    let body = to_json(&EventBody {
        timestamp: EXAMPLE_TIME,
        event: example.clone(),
    });
    let key_field = key_field(&body, example.key());
    let mut message = json!({
        "name": name,
        "title": name,
        "contentType": "application/json",
        "tags": [tag_ref(producer)],
        "headers": {
            "allOf": [
                { "$ref": "#/components/schemas/EventHeaders" },
                {
                    "type": "object",
                    "properties": {
                        (headers::TYPE): { "const": name },
                        (headers::SOURCE): { "const": producer },
                    },
                },
            ],
        },
        "payload": { "$ref": format!("#/components/schemas/{name}") },
        "bindings": { "kafka": {
            "key": { "type": "string", "description": key_description(&key_field) },
            "bindingVersion": KAFKA_BINDING,
        }},
        "examples": [{
            "name": name,
            "headers": {
                (headers::TYPE): name,
                (headers::EVENT_ID): EXAMPLE_EVENT_ID,
                (headers::SOURCE): producer,
                (headers::TRACEPARENT): EXAMPLE_TRACEPARENT,
            },
            "payload": body,
        }],
    });
    if let Some(description) = description {
        message["summary"] = first_sentence(description).into();
        message["description"] = description.into();
    }
    if body.get("orderId").is_some() {
        message["correlationId"] = json!({
            "description": "The order the event is about.",
            "location": "$message.payload#/orderId",
        });
    }
    message
}

/// The field of the value that holds the record key. `Event::key` gives the key's value, and
/// every id in the examples is different, so the field is the one holding that value.
fn key_field(body: &Value, key: &str) -> String {
    body.as_object()
        .into_iter()
        .flatten()
        .find(|(_, value)| value.as_str() == Some(key))
        .map(|(field, _)| field.clone())
        .expect("the key is one of the value's fields")
}

/// The key's description starts with its field in backticks; `docs/events.md`'s test reads it.
fn key_description(field: &str) -> String {
    match field {
        "orderId" => "`orderId` of the value: all events of one order from one producer stay in \
                      one partition, in order."
            .into(),
        "storeId" => "`storeId` of the value: a store's publications stay in one partition, in \
                      order."
            .into(),
        other => format!("`{other}` of the value."),
    }
}

fn first_sentence(text: &str) -> &str {
    match text.find(". ") {
        Some(end) => &text[..=end],
        None => text,
    }
}

fn event_headers() -> Value {
    json!({
        "type": "object",
        "description": "Kafka record headers every event carries (`contracts::headers`).",
        "required": [headers::TYPE, headers::EVENT_ID, headers::SOURCE],
        "properties": {
            (headers::TYPE): {
                "type": "string",
                "description": "The event type, as in `eventType`. Consumers accept it plain or \
                                JSON-quoted (`\"OrderPlaced\"`), and use `eventType` when it is \
                                absent.",
            },
            (headers::EVENT_ID): {
                "type": "string",
                "format": "uuid",
                "description": "A UUIDv7 assigned when the event is written to the outbox: the \
                                idempotency key consumers record in their inbox. A record without \
                                one gets a UUIDv5 of its topic, partition and offset.",
            },
            (headers::SOURCE): {
                "type": "string",
                "description": "The publishing service.",
            },
            (headers::TRACEPARENT): {
                "type": "string",
                "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": "W3C trace context of the request or event that caused this one; \
                                optional.",
            },
        },
    })
}

fn dead_letter_headers() -> Value {
    let header = |name: &str| json!({ "$ref": format!("#/components/schemas/EventHeaders/properties/{name}") });
    json!({
        "type": "object",
        "description": "The original record's headers, as they came, plus why it is here.",
        "required": [headers::EVENT_ID, headers::ERROR, headers::FAILED_CONSUMER],
        "properties": {
            (headers::TYPE): header(headers::TYPE),
            (headers::EVENT_ID): {
                "type": "string",
                "format": "uuid",
                "description": "The original's `event-id`, or when it had none the id derived \
                                from its topic, partition and offset, so a replay is recognised \
                                by the consumers that handled it.",
            },
            (headers::SOURCE): header(headers::SOURCE),
            (headers::TRACEPARENT): header(headers::TRACEPARENT),
            (headers::ERROR): {
                "type": "string",
                "description": "Why it could not be handled: the decode error, or the handler's \
                                last error after `consumer.max_attempts` attempts.",
            },
            (headers::FAILED_CONSUMER): {
                "type": "string",
                "description": "The consumer group that gave up.",
            },
        },
    })
}

fn dead_letter() -> Value {
    json!({
        "name": "DeadLetter",
        "title": "dead letter",
        "summary": "A record a consumer could not handle, with why and by whom.",
        "description": "A poison record is copied with its key, value and headers, plus \
                        `error` and `failed-consumer`. A handler error caused by storage being \
                        unreachable is not an attempt: the consumer waits for the database and \
                        never dead-letters for it.",
        "headers": { "$ref": "#/components/schemas/DeadLetterHeaders" },
        "payload": {
            "description": "The original value, byte for byte: usually one of the event values \
                            (see the event messages), but a record that could not be decoded is \
                            copied as it came, JSON or not.",
        },
        "bindings": { "kafka": {
            "key": {
                "type": "string",
                "description": "The original record's key, so a replay lands in its order's \
                                partition.",
            },
            "bindingVersion": KAFKA_BINDING,
        }},
    })
}

fn topic_binding(partitions: i32, retention: std::time::Duration) -> Value {
    json!({
        "partitions": partitions,
        "replicas": 1,
        // What baedal creates a missing topic with; a topic that exists keeps its own settings.
        "topicConfiguration": {
            "cleanup.policy": ["delete"],
            "retention.ms": retention.as_millis() as u64,
        },
        "bindingVersion": KAFKA_BINDING,
    })
}

fn channel_messages<'a>(names: impl IntoIterator<Item = &'a str>) -> Value {
    names
        .into_iter()
        .map(|name| {
            (
                name.to_owned(),
                json!({ "$ref": format!("#/components/messages/{name}") }),
            )
        })
        .collect::<Map<_, _>>()
        .into()
}

/// An operation's messages point into its channel's, as AsyncAPI 3 requires.
fn operation_messages<'a>(topic: &str, names: impl IntoIterator<Item = &'a str>) -> Value {
    names
        .into_iter()
        .map(|name| json!({ "$ref": format!("#/channels/{topic}/messages/{name}") }))
        .collect()
}

fn channel_ref(topic: &str) -> Value {
    json!({ "$ref": format!("#/channels/{topic}") })
}

fn tag_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/tags/{name}") })
}

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("schemas and events serialize")
}

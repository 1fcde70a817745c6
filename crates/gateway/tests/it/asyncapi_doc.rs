//! The events' AsyncAPI document: served by the gateway, valid AsyncAPI 3.0.0, and true to the
//! contract types and to who consumes what.
//!
//! `tests/asyncapi-3.0.0.schema.json` is `schemas/3.0.0-without-$id.json` of the npm package
//! `@asyncapi/specs` 6.11.1 (Apache-2.0), unchanged: sha256
//! abe96881dbfaad495ccbb6bd8d3fb43ca18a13b9d7564849ccb66f39d5e5b20f. The variant without `$id`s
//! refers to its parts by JSON pointer, so nothing is fetched to validate against it.

use std::collections::BTreeSet;

use contracts::{EventBody, EventType, Producer};
use gateway::asyncapi::{self, OPERATOR};
use platform::{ServiceName, config::KafkaSettings};
use serde_json::{Value, json};
use testkit::Sent as _;

use crate::support::spawn_gateway;

/// The document's part at a local `$ref` (`#/a/b`), JSON-pointer escapes undone.
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// The names of the messages an operation or channel lists, from their `$ref`s' last segment.
pub fn names(refs: &Value) -> BTreeSet<String> {
    let refs: Vec<&Value> = match refs {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => panic!("not a list of references: {refs}"),
    };
    refs.into_iter()
        .map(|r| {
            let target = r["$ref"].as_str().expect("a reference");
            target.rsplit('/').next().unwrap().to_owned()
        })
        .collect()
}

/// The operations of `doc` with `action` on `channel`, by the service their tag names.
pub fn operations_on<'a>(doc: &'a Value, action: &str, channel: &str) -> Vec<(String, &'a Value)> {
    let channel_ref = format!("#/channels/{channel}");
    doc["operations"]
        .as_object()
        .unwrap()
        .values()
        .filter(|op| op["action"] == action && op["channel"]["$ref"] == channel_ref.as_str())
        .map(|op| {
            let tag = resolve(doc, op["tags"][0]["$ref"].as_str().unwrap()).unwrap();
            (tag["name"].as_str().unwrap().to_owned(), op)
        })
        .collect()
}

/// A validator for `schema`, whose `$ref`s point into `doc`'s components.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    if let Some(reference) = schema.get("$ref") {
        // A draft-07 `$ref` ignores its siblings, so the components ride along beside it.
        root = json!({ "allOf": [{ "$ref": reference }] });
    }
    root["components"] = doc["components"].clone();
    jsonschema::draft7::new(&root).unwrap_or_else(|e| panic!("{schema}: {e}"))
}

#[tokio::test]
async fn the_gateway_serves_the_document_without_a_token() {
    let gateway = spawn_gateway(|_| {}).await;
    let response = gateway.get("/asyncapi.json").sent().await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{:?}",
        response.headers()
    );
    let served: Value = response.json().await.unwrap();
    assert_eq!(served, asyncapi::document());
    gateway.stop().await;
}

#[test]
fn the_document_is_valid_asyncapi_3() {
    let doc = asyncapi::document();
    assert_eq!(doc["asyncapi"], "3.0.0");
    let schema: Value =
        serde_json::from_str(include_str!("../asyncapi-3.0.0.schema.json")).unwrap();
    let validator = jsonschema::draft7::new(&schema).expect("AsyncAPI's schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // The schema bites: AsyncAPI 2's `publish` is no action in 3.0, and a topic has partitions.
    let mut wrong = doc.clone();
    wrong["operations"]["order.send.baedal.order"]["action"] = "publish".into();
    assert!(!validator.is_valid(&wrong));
    let mut wrong = doc.clone();
    wrong["channels"]["baedal.order"]["bindings"]["kafka"]["partitions"] = 0.into();
    assert!(!validator.is_valid(&wrong));

    // What a JSON schema cannot say: every reference leads somewhere, and an operation's
    // messages are its channel's.
    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => found.push(target),
                        _ => refs(value, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 100, "{}", found.len());
    for target in found {
        assert!(resolve(&doc, target).is_some(), "{target} leads nowhere");
    }
    for (id, operation) in doc["operations"].as_object().unwrap() {
        let channel = operation["channel"]["$ref"].as_str().unwrap();
        for message in operation["messages"].as_array().unwrap() {
            let message = message["$ref"].as_str().unwrap();
            assert!(
                message.starts_with(&format!("{channel}/messages/")),
                "{id}: {message} is not a message of {channel}"
            );
        }
        let tag = resolve(&doc, operation["tags"][0]["$ref"].as_str().unwrap()).unwrap();
        let action = operation["action"].as_str().unwrap();
        let address = resolve(&doc, channel).unwrap()["address"].as_str().unwrap();
        assert_eq!(
            id,
            &format!("{}.{action}.{address}", tag["name"].as_str().unwrap()),
            "operations are <service>.<action>.<topic>"
        );
    }
}

#[test]
fn every_event_is_a_message_on_its_producers_topic_sent_by_it() {
    let doc = asyncapi::document();
    let kafka = KafkaSettings::default();
    let mut channels: BTreeSet<String> = Producer::ALL.iter().map(|p| kafka.topic_of(*p)).collect();
    channels.insert(kafka.dlq_topic.clone());
    let documented: BTreeSet<String> = doc["channels"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(documented, channels);
    for &producer in Producer::ALL {
        let topic = kafka.topic_of(producer);
        let channel = &doc["channels"][&topic];
        assert_eq!(channel["address"], topic.as_str());
        let types: BTreeSet<String> = EventType::ALL
            .iter()
            .filter(|t| t.producer() == producer)
            .map(|t| t.to_string())
            .collect();
        assert_eq!(names(&channel["messages"]), types, "{topic}");
        for name in &types {
            assert_eq!(
                channel["messages"][name]["$ref"],
                format!("#/components/messages/{name}")
            );
        }
        let senders = operations_on(&doc, "send", &topic);
        assert_eq!(senders.len(), 1, "{topic}");
        assert_eq!(senders[0].0, producer.as_str());
        assert_eq!(names(&senders[0].1["messages"]), types, "{topic}");
    }
    for kind in EventType::ALL {
        let message = &doc["components"]["messages"][kind.as_str()];
        assert_eq!(message["name"], kind.as_str());
        assert_eq!(
            message["payload"]["$ref"],
            format!("#/components/schemas/{kind}")
        );
    }
}

/// Each schema lists exactly the fields serde writes, and each example (one of every event,
/// from `contracts::examples`) is valid against its message's payload and headers.
#[test]
fn payload_schemas_are_what_serde_writes() {
    let doc = asyncapi::document();
    for event in contracts::examples() {
        let name = event.event_type();
        let body = serde_json::to_value(EventBody {
            timestamp: 1,
            event: event.clone(),
        })
        .unwrap();
        let schema = &doc["components"]["schemas"][name];
        let properties: BTreeSet<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        let written: BTreeSet<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(properties, written, "{name}");
        for required in schema["required"].as_array().unwrap() {
            assert!(
                body.get(required.as_str().unwrap()).is_some(),
                "{name}: {required}"
            );
        }
        assert_eq!(schema["properties"]["eventType"]["const"], name);

        let message = &doc["components"]["messages"][name];
        let payload = validator(&doc, &message["payload"]);
        let errors: Vec<String> = payload.iter_errors(&body).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let example = &message["examples"][0];
        assert!(payload.is_valid(&example["payload"]), "{name}");
        let headers = validator(&doc, &message["headers"]);
        let errors: Vec<String> = headers
            .iter_errors(&example["headers"])
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let mut wrong = example["headers"].clone();
        wrong["type"] = "SomethingElse".into();
        assert!(!headers.is_valid(&wrong), "{name}: `type` is the event's");
        let mut wrong = body.clone();
        wrong["eventType"] = "SomethingElse".into();
        assert!(
            !payload.is_valid(&wrong),
            "{name}: `eventType` is the event's"
        );

        // The key's description names the field that holds `Event::key`.
        let key = message["bindings"]["kafka"]["key"]["description"]
            .as_str()
            .unwrap();
        let field = key.split('`').nth(1).unwrap();
        assert_eq!(body[field], event.key(), "{name}: {key}");
    }
}

/// Who receives what is each service's consumer's subscriptions, and each consumer may park a
/// record on the dead-letter topic, which an operator reads.
#[test]
fn receivers_are_the_consumers_subscriptions() {
    let doc = asyncapi::document();
    let kafka = KafkaSettings::default();
    let consumers = asyncapi::consumers();
    let services: BTreeSet<ServiceName> = consumers.iter().map(|(s, _)| *s).collect();
    let expected: BTreeSet<ServiceName> = ServiceName::ALL
        .into_iter()
        .filter(|s| *s != ServiceName::Review)
        .collect();
    assert_eq!(services, expected, "every service but review consumes");
    for (service, subscriptions) in &consumers {
        for &producer in Producer::ALL {
            let topic = kafka.topic_of(producer);
            let taken: BTreeSet<String> = subscriptions
                .iter()
                .filter(|t| t.producer() == producer)
                .map(|t| t.to_string())
                .collect();
            let receivers = operations_on(&doc, "receive", &topic);
            let mine: Vec<_> = receivers
                .iter()
                .filter(|(by, _)| by == service.as_str())
                .collect();
            if taken.is_empty() {
                assert!(mine.is_empty(), "{service} does not read {topic}");
            } else {
                assert_eq!(mine.len(), 1, "{service} reads {topic} once");
                assert_eq!(names(&mine[0].1["messages"]), taken, "{service} on {topic}");
                assert_eq!(
                    mine[0].1["bindings"]["kafka"]["groupId"]["enum"],
                    json!([service.as_str()])
                );
            }
        }
    }
    let receivers: BTreeSet<String> = Producer::ALL
        .iter()
        .flat_map(|p| operations_on(&doc, "receive", &kafka.topic_of(*p)))
        .map(|(by, _)| by)
        .collect();
    let consuming: BTreeSet<String> = services.iter().map(|s| s.to_string()).collect();
    assert_eq!(receivers, consuming);

    let dlq = &kafka.dlq_topic;
    let senders: BTreeSet<String> = operations_on(&doc, "send", dlq)
        .into_iter()
        .map(|(by, _)| by)
        .collect();
    assert_eq!(senders, consuming);
    let readers: Vec<String> = operations_on(&doc, "receive", dlq)
        .into_iter()
        .map(|(by, _)| by)
        .collect();
    assert_eq!(readers, [OPERATOR]);
}

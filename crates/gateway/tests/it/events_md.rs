//! `docs/events.md` is held to the AsyncAPI document (`/asyncapi.json`): its topics, who reads
//! them, every event's producer, consumers, key and fields with their types. The document is
//! built from the contract types and the services' subscriptions, so the prose cannot drift from
//! the code unnoticed.

use std::collections::BTreeSet;

use gateway::asyncapi;
use platform::config::KafkaSettings;
use serde_json::Value;

use crate::asyncapi_doc::{names, operations_on, resolve};

// Compiled in: cargo then rebuilds the test when the file changes, and a build cache shared
// between checkouts never points at another checkout's copy.
const EVENTS_MD: &str = include_str!("../../../../docs/events.md");

/// A markdown table: its header's cells, then each row's.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let inner = line.strip_prefix('|').unwrap_or(line);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner.split('|').map(|c| c.trim().to_owned()).collect()
}

fn tables(text: &str) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut current: Option<Table> = None;
    for line in text.lines() {
        if line.trim_start().starts_with('|') {
            let row = cells(line);
            match &mut current {
                None => {
                    current = Some(Table {
                        header: row,
                        rows: Vec::new(),
                    })
                }
                Some(_) if row.iter().all(|c| c.chars().all(|ch| ch == '-')) => {}
                Some(table) => table.rows.push(row),
            }
        } else if let Some(table) = current.take() {
            tables.push(table);
        }
    }
    tables.extend(current);
    tables
}

fn table<'a>(tables: &'a [Table], header: &[&str]) -> &'a Table {
    tables
        .iter()
        .find(|t| t.header == header)
        .unwrap_or_else(|| panic!("docs/events.md has no table {header:?}"))
}

fn unquote(cell: &str) -> &str {
    cell.trim_matches('`')
}

/// A comma-separated cell; "nobody yet" or "none" is the empty list.
fn list(cell: &str) -> BTreeSet<String> {
    if cell.starts_with("nobody") || cell.starts_with("none") {
        return BTreeSet::new();
    }
    cell.split(',').map(|s| s.trim().to_owned()).collect()
}

/// The services that take `message` off its channel, by the document.
fn receivers(doc: &Value, channel: &str, message: &str) -> BTreeSet<String> {
    operations_on(doc, "receive", channel)
        .into_iter()
        .filter(|(_, op)| names(&op["messages"]).contains(message))
        .map(|(by, _)| by)
        .collect()
}

/// The schema a `$ref` names when it is a plain value on the wire (an id, an amount, a status):
/// the docs describe the JSON a consumer reads, so such a field is its string or integer.
fn plain<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| resolve(doc, r)) {
        Some(named) if named.get("properties").is_none() && named.get("allOf").is_none() => named,
        _ => schema,
    }
}

/// A schema's fields and which of them are required, with those of each part of an `allOf`
/// (a flattened struct, such as the point inside `DeliveryAddress`).
fn fields(doc: &Value, schema: &Value) -> (Vec<(String, Value)>, BTreeSet<String>) {
    let mut fields: Vec<(String, Value)> = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, property)| (name.clone(), property.clone()))
        .collect();
    let mut required: BTreeSet<String> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let part = part["$ref"]
            .as_str()
            .and_then(|r| resolve(doc, r))
            .unwrap_or(part);
        let (more, more_required) = self::fields(doc, part);
        fields.extend(more);
        required.extend(more_required);
    }
    (fields, required)
}

/// What the type column of docs/events.md says for a field of this schema.
fn type_text(schema: &Value, required: bool) -> String {
    let named = |reference: &Value| {
        let reference = reference.as_str()?;
        Some(reference.rsplit('/').next()?.to_owned())
    };
    let non_null = |schema: &Value| -> Value {
        // `Option<T>` is `T` or null; the docs say "optional" for what may be left out instead.
        if let Some(Value::Array(types)) = schema.get("type") {
            let types: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
            let mut schema = schema.clone();
            schema["type"] = types[0].clone();
            return schema;
        }
        if let Some(Value::Array(variants)) = schema.get("oneOf") {
            let variants: Vec<&Value> = variants.iter().filter(|v| v["type"] != "null").collect();
            if variants.len() == 1 {
                return variants[0].clone();
            }
        }
        schema.clone()
    };
    let schema = non_null(schema);
    let base = if let Some(name) = named(&schema["$ref"]) {
        format!("object ({name})")
    } else {
        match (schema["type"].as_str(), schema["format"].as_str()) {
            (Some("string"), _) => "string".into(),
            (Some("boolean"), _) => "boolean".into(),
            (Some("integer"), Some("int64")) => "integer (i64)".into(),
            (Some("number"), Some("double")) => "number (f64)".into(),
            (Some("array"), _) => match named(&schema["items"]["$ref"]) {
                Some(name) => format!("array of {name}"),
                None => panic!("say how docs/events.md calls {schema}"),
            },
            _ => panic!("say how docs/events.md calls {schema}"),
        }
    };
    if required {
        base
    } else {
        format!("{base}, optional")
    }
}

/// One row per field: (the field it is in, field, type). Fields of a nested object or of an
/// array's items follow their parent, and their meaning starts with "in `parent`" or
/// "in each `parent` ...".
type Row = (Option<String>, String, String);

fn schema_rows(doc: &Value, schema: &Value, parent: Option<&str>, rows: &mut BTreeSet<Row>) {
    let (fields, required) = fields(doc, schema);
    assert!(!fields.is_empty(), "no fields in {schema}");
    for (field, property) in &fields {
        let property = plain(doc, property);
        rows.insert((
            parent.map(str::to_owned),
            field.clone(),
            type_text(property, required.contains(field.as_str())),
        ));
        let nested = [&property["$ref"], &property["items"]["$ref"]]
            .into_iter()
            .chain(
                property["oneOf"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| &v["$ref"]),
            )
            .find_map(|r| resolve(doc, r.as_str()?));
        if let Some(nested) = nested {
            schema_rows(doc, nested, Some(field.as_str()), rows);
        }
    }
}

fn documented_rows(section: &str) -> BTreeSet<Row> {
    let tables = tables(section);
    let fields = table(&tables, &["field", "type", "meaning"]);
    fields
        .rows
        .iter()
        .map(|row| {
            let meaning = &row[2];
            let parent = ["in each `", "in `"]
                .iter()
                .find_map(|p| meaning.strip_prefix(p))
                .map(|rest| rest.split('`').next().unwrap().to_owned());
            (parent, unquote(&row[0]).to_owned(), row[1].clone())
        })
        .collect()
}

/// The text of a `- **Name:**` bullet, up to the next bullet of the section's list.
fn bullet<'a>(section: &'a str, name: &str) -> &'a str {
    let start = section
        .find(&format!("- **{name}:**"))
        .unwrap_or_else(|| panic!("no **{name}:** bullet"));
    let rest = &section[start + name.len() + 7..];
    let end = rest
        .find("\n- ")
        .or_else(|| rest.find("\n\n|"))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn the_catalogue_matches_the_document() {
    let doc = asyncapi::document();
    let kafka = KafkaSettings::default();
    let (preamble, events) = EVENTS_MD.split_once("\n## ").expect("event sections");
    assert!(
        preamble.contains("/asyncapi.json"),
        "docs/events.md says at its top that it is checked against /asyncapi.json"
    );
    let preamble_tables = tables(preamble);

    // Topics: one row per event topic, with its events and who reads them.
    let topics = table(&preamble_tables, &["topic", "events", "read by"]);
    let mut documented_topics = BTreeSet::new();
    for row in &topics.rows {
        let topic = unquote(&row[0]);
        documented_topics.insert(topic.to_owned());
        let channel = &doc["channels"][topic];
        assert!(channel.is_object(), "docs/events.md: no topic `{topic}`");
        assert_eq!(
            list(&row[1]),
            names(&channel["messages"]),
            "docs/events.md: the events on `{topic}`"
        );
        let readers: BTreeSet<String> = operations_on(&doc, "receive", topic)
            .into_iter()
            .map(|(by, _)| by)
            .collect();
        assert_eq!(
            list(&row[2]),
            readers,
            "docs/events.md: who reads `{topic}`"
        );
    }
    let event_topics: BTreeSet<String> = doc["channels"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|t| **t != kafka.dlq_topic)
        .cloned()
        .collect();
    assert_eq!(
        documented_topics, event_topics,
        "docs/events.md: the topics"
    );

    // Subscriptions: each consumer group and every type it takes, on whichever topic.
    let groups = table(&preamble_tables, &["group", "subscribes to"]);
    let mut documented_groups = BTreeSet::new();
    for row in &groups.rows {
        let group = &row[0];
        documented_groups.insert(group.clone());
        let taken: BTreeSet<String> = doc["channels"]
            .as_object()
            .unwrap()
            .keys()
            .flat_map(|channel| operations_on(&doc, "receive", channel))
            .filter(|(by, _)| by == group)
            .flat_map(|(_, op)| names(&op["messages"]))
            .collect();
        assert_eq!(
            list(&row[1]),
            taken,
            "docs/events.md: what group `{group}` subscribes to"
        );
    }
    let consumers: BTreeSet<String> = asyncapi::consumers()
        .iter()
        .map(|(s, _)| s.to_string())
        .collect();
    assert_eq!(documented_groups, consumers, "docs/events.md: the groups");

    // Headers, and the dead-letter topic's own.
    let header_table = table(&preamble_tables, &["header", "value"]);
    let documented_headers: BTreeSet<&str> =
        header_table.rows.iter().map(|r| unquote(&r[0])).collect();
    let event_headers: BTreeSet<&str> = doc["components"]["schemas"]["EventHeaders"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        documented_headers, event_headers,
        "docs/events.md: the headers"
    );
    let dlq = &kafka.dlq_topic;
    let dead_letters = preamble
        .split_once(&format!("**Dead-letter topic** `{dlq}`"))
        .expect("docs/events.md describes the dead-letter topic")
        .1;
    let dead_letters = dead_letters.split("\n\n").next().unwrap();
    for header in doc["components"]["schemas"]["DeadLetterHeaders"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|h| !event_headers.contains(h.as_str()))
    {
        assert!(
            dead_letters.contains(&format!("`{header}`")),
            "docs/events.md: the dead-letter header `{header}`"
        );
    }

    // One section per event: producer, consumers, key and fields.
    let mut sections = BTreeSet::new();
    for section in events.split("\n## ") {
        let (name, body) = section.split_once('\n').unwrap();
        let name = name.trim();
        sections.insert(name.to_owned());
        let message = &doc["components"]["messages"][name];
        assert!(message.is_object(), "docs/events.md: no event `{name}`");
        let channel = doc["channels"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, c)| names(&c["messages"]).contains(name))
            .map(|(id, _)| id.clone())
            .unwrap();

        let producer = bullet(body, "Producer")
            .split(|c: char| !c.is_alphanumeric())
            .find(|w| !w.is_empty())
            .unwrap();
        let senders: Vec<String> = operations_on(&doc, "send", &channel)
            .into_iter()
            .map(|(by, _)| by)
            .collect();
        assert_eq!(
            [producer],
            senders.as_slice(),
            "docs/events.md: {name}'s producer"
        );

        let consumers = bullet(body, "Consumers");
        let groups: BTreeSet<String> = consumers
            .split("(group `")
            .skip(1)
            .map(|rest| rest.split('`').next().unwrap().to_owned())
            .collect();
        if groups.is_empty() {
            assert!(consumers.trim().starts_with("none"), "{name}: {consumers}");
        }
        assert_eq!(
            groups,
            receivers(&doc, &channel, name),
            "docs/events.md: {name}'s consumers (`name (group `name`)`)"
        );

        let key = bullet(body, "Key").split('`').nth(1).unwrap_or_default();
        let key_description = message["bindings"]["kafka"]["key"]["description"]
            .as_str()
            .unwrap();
        assert_eq!(
            Some(key),
            key_description.split('`').nth(1),
            "docs/events.md: {name}'s key"
        );

        let schema = resolve(&doc, message["payload"]["$ref"].as_str().unwrap()).unwrap();
        let mut expected = BTreeSet::new();
        schema_rows(&doc, schema, None, &mut expected);
        let documented = documented_rows(body);
        let missing: Vec<_> = expected.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "docs/events.md, {name}'s fields as (in, field, type):\n  \
             the document has, the catalogue does not: {missing:?}\n  \
             the catalogue has, the document does not: {extra:?}"
        );
    }
    let messages: BTreeSet<String> = contracts::EventType::ALL
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(sections, messages, "docs/events.md: one section per event");
}

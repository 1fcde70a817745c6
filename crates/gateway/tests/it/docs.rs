//! The OpenAPI document and Swagger UI, served by a real gateway.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use testkit::Sent as _;

use crate::support::spawn_gateway;

/// The gateway's own API routes (the rest are relayed and listed in `gateway::routes::PUBLIC`).
const OWN: [(&str, &str); 4] = [
    ("POST", "/auth/login"),
    ("DELETE", "/accounts/{username}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
];

/// Merging the services' documents keeps one schema per name: two services that gave different
/// schemas the same name (two `Delivery`s, say) would leave one of them described wrongly.
#[test]
fn a_schema_name_means_one_schema_in_every_part() {
    let mut seen: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    let mut named = 0;
    for (part, doc) in gateway::docs::parts().into_iter().enumerate() {
        let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
        for (name, schema) in schemas {
            named += 1;
            let schema = serde_json::to_value(schema).unwrap();
            match seen.get(&name) {
                Some((first, earlier)) => assert_eq!(
                    earlier, &schema,
                    "schema {name} differs between parts {first} and {part}"
                ),
                None => {
                    seen.insert(name, (part, schema));
                }
            }
        }
    }
    assert!(
        named > seen.len(),
        "some schemas are shared (Krw, OrderId, ...)"
    );
}

async fn document(gateway: &crate::support::TestGateway) -> Value {
    gateway
        .get("/openapi.json")
        .sent()
        .await
        .json()
        .await
        .unwrap()
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

/// Every routed endpoint is in the document and every documented one is routed: the document
/// is held to the gateway's route table, and the gateway's own documented routes answer.
#[tokio::test]
async fn the_document_describes_exactly_the_routes() {
    let gateway = spawn_gateway(|_| {}).await;
    let response = gateway.get("/openapi.json").sent().await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let documented = operations(&doc);
    let mut routed: BTreeSet<(String, String)> = gateway::routes::PUBLIC
        .iter()
        .map(|route| (route.method.to_string(), route.path.to_owned()))
        .collect();
    routed.extend(OWN.map(|(method, path)| (method.to_owned(), path.to_owned())));
    let missing: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routed but not documented: {missing:?}");
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );

    // Who may call a route is the route table's to say, and the document says it.
    for route in &gateway::routes::PUBLIC {
        let operation = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
        let forbidden = &operation["responses"]["403"]["description"];
        if route.roles.is_empty() && route.owned.is_none() {
            assert!(forbidden.is_null(), "{} {}", route.method, route.path);
        } else {
            for role in route.roles {
                assert!(
                    forbidden.as_str().unwrap().contains(&role.to_string()),
                    "{} {}: {forbidden}",
                    route.method,
                    route.path
                );
            }
        }
    }

    // The gateway's own documented routes are there (anything but the relay's `no-route`).
    for (method, path) in OWN {
        let url = format!("{}{}", gateway.url, path.replace("{username}", "nobody"));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = gateway.client.request(method, &url).sent().await;
        assert_ne!(response.status(), 404, "{path} is not routed");
    }
    gateway.stop().await;
}

/// Problems are described as problems, with their codes; secured operations need the bearer
/// scheme the document defines; path parameters are described.
#[tokio::test]
async fn problems_name_their_codes_and_security_is_bearer() {
    let gateway = spawn_gateway(|_| {}).await;
    let doc = document(&gateway).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["Problem"]["properties"]["code"].is_object());
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let open = ["/auth/login", "/healthz", "/readyz"].contains(&path.as_str());
            // The document's bearer applies unless the operation says otherwise.
            let security = operation.get("security").unwrap_or(&doc["security"]);
            if open {
                assert_eq!(security, &serde_json::json!([{}]), "{method} {path}");
            } else {
                assert_eq!(
                    security,
                    &serde_json::json!([{"bearer": []}]),
                    "{method} {path}"
                );
                assert!(operation["responses"]["401"].is_object(), "{method} {path}");
            }
            // Every `{name}` of the path is a described, required path parameter.
            for name in path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            {
                let parameter = operation["parameters"]
                    .as_array()
                    .and_then(|ps| ps.iter().find(|p| p["name"] == name && p["in"] == "path"))
                    .unwrap_or_else(|| panic!("{method} {path} does not describe {{{name}}}"));
                assert_eq!(parameter["required"], true, "{method} {path} {name}");
                assert!(
                    parameter["schema"]["pattern"].is_string(),
                    "{method} {path} {name}"
                );
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    continue;
                }
                let description = response["description"].as_str().unwrap_or_default();
                assert!(
                    description.contains("`code`:"),
                    "{method} {path} {status} names no code: {description}"
                );
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
    }
    gateway.stop().await;
}

/// Swagger UI is served from the gateway itself.
#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let gateway = spawn_gateway(|_| {}).await;
    let response = gateway.get("/docs/").sent().await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    let initializer = gateway.get("/docs/swagger-initializer.js").sent().await;
    assert_eq!(initializer.status(), 200);
    assert!(
        initializer.text().await.unwrap().contains("/openapi.json"),
        "Swagger UI loads the gateway's document"
    );
    gateway.stop().await;
}

/// Each live stream (a route the gateway relays as a stream) is described as one: an event
/// stream of its events' schema, resumable with `Last-Event-ID`, and refusing an unusable one.
#[tokio::test]
async fn live_streams_are_described_as_event_streams() {
    let gateway = spawn_gateway(|_| {}).await;
    let doc = document(&gateway).await;
    let streams: Vec<_> = gateway::routes::PUBLIC
        .iter()
        .filter(|route| route.streams())
        .collect();
    assert_eq!(streams.len(), 3);
    for route in streams {
        let operation = &doc["paths"][route.path]["get"];
        let ok = &operation["responses"]["200"]["content"]["text/event-stream"]["schema"];
        assert!(ok.is_object(), "{}: {operation}", route.path);
        let resume = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Last-Event-ID")
            .unwrap_or_else(|| panic!("{}: no Last-Event-ID", route.path));
        assert_eq!(resume["in"], "header", "{}", route.path);
        assert_eq!(resume["required"], false, "{}", route.path);
        let refused = operation["responses"]["400"]["description"]
            .as_str()
            .unwrap();
        assert!(refused.contains("invalid-last-event-id"), "{}", route.path);
    }
}

/// Operation ids are unique (links and generated clients name operations by them), and every
/// link leads to an operation that exists, filling only parameters it has, from the response
/// body or the request's path. The order flow is linked: placing an order leads to reading,
/// canceling and confirming it, and a store's order list to accepting and cooking its orders.
#[tokio::test]
async fn operation_ids_are_unique_and_links_lead_to_real_operations() {
    let gateway = spawn_gateway(|_| {}).await;
    let doc = document(&gateway).await;
    let mut by_id = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(id) = operation["operationId"].as_str() else {
                panic!("{method} {path} has no operationId");
            };
            let earlier = by_id.insert(id.to_owned(), (path.clone(), operation.clone()));
            assert!(earlier.is_none(), "operationId {id} is used twice");
        }
    }
    let mut links = BTreeSet::new();
    for (id, (path, operation)) in &by_id {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let Some(found) = response.get("links").and_then(Value::as_object) else {
                continue;
            };
            for (name, link) in found {
                let target = link["operationId"].as_str().unwrap();
                let (_, called) = by_id
                    .get(target)
                    .unwrap_or_else(|| panic!("{id} {status} {name}: no operation {target}"));
                let params: BTreeSet<&str> = called["parameters"]
                    .as_array()
                    .map(|all| all.iter().filter_map(|p| p["name"].as_str()).collect())
                    .unwrap_or_default();
                for (param, value) in link["parameters"].as_object().unwrap() {
                    assert!(
                        params.contains(param.as_str()),
                        "{id} {name}: {target} has no {param}"
                    );
                    let value = value.as_str().unwrap();
                    let from_path = value
                        .strip_prefix("$request.path.")
                        .map(|name| path.contains(&format!("{{{name}}}")));
                    assert!(
                        value.starts_with("$response.body#/") || from_path == Some(true),
                        "{id} {name}: {param} = {value}"
                    );
                }
                links.insert((id.clone(), target.to_owned()));
            }
        }
    }
    for (from, to) in [
        ("place_order", "get_order"),
        ("place_order", "cancel_order"),
        ("place_order", "confirm_receipt"),
        ("list_orders", "accept"),
        ("list_orders", "cook_start"),
        ("accept", "cook_start"),
        ("cook_start", "cook_finish"),
        ("available", "pick"),
        ("pick", "complete"),
        ("write_review", "delete_review"),
    ] {
        assert!(
            links.contains(&(from.into(), to.into())),
            "no link {from} → {to}"
        );
    }
}

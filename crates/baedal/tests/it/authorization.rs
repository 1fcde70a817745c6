//! The authorization matrix, generated from the gateway's public route table: every route, called
//! without a token and by every role, on objects of the caller's own and of someone else's,
//! gets the status the table promises. A failure names the route and the caller.

use gateway::routes::{ObjectKind, PUBLIC, PublicRoute};
use platform::Role;
use serde_json::{Value, json};

use crate::harness::TestApp;

/// What one call must answer.
#[derive(Debug, PartialEq)]
enum Expect {
    Status(u16),
    /// The caller may: whatever the object's state makes of it, but never 401, 403 or 404.
    Allowed,
}

struct Caller {
    username: &'static str,
    role: Role,
    token: String,
}

/// The objects the matrix calls on; each belongs to exactly one demo account.
struct Objects {
    store: String,
    other_store: String,
    order: String,
    delivery: String,
    review: String,
}

/// Who owns each kind of object in [`Objects`].
fn owner_of(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Order | ObjectKind::Review => "customer1",
        ObjectKind::Store => "owner1",
        ObjectKind::Rider | ObjectKind::Delivery => "rider1",
    }
}

fn expected(route: &PublicRoute, caller: &Caller) -> Expect {
    if !route.roles.is_empty() && !route.roles.contains(&caller.role) {
        return Expect::Status(403);
    }
    // A review names its order in the body, not the path: someone else's order is no order of
    // theirs.
    if route.method == http::Method::POST
        && route.path == "/reviews"
        && caller.username != owner_of(ObjectKind::Order)
    {
        return Expect::Status(404);
    }
    match route.owned {
        Some(owned) if caller.role != Role::Admin && caller.username != owner_of(owned.kind) => {
            Expect::Status(owned.others_get)
        }
        _ => Expect::Allowed,
    }
}

/// A valid body for each route that takes one, so that what is checked is who calls, not what
/// they send.
fn body(route: &PublicRoute, objects: &Objects) -> Option<Value> {
    Some(match route.path {
        "/stores" => json!({"name": "새 가게", "ownerId": baedal::demo::subject_id("owner2"),
            "lat": 37.5, "lng": 127.0}),
        "/stores/{storeId}/menu" => json!({"foods": [
            {"foodId": "tuna-kimbap", "name": "참치김밥", "price": 4500}]}),
        "/stores/{storeId}/orders/{orderId}/accept" => json!({"cookMinutes": 10}),
        "/stores/{storeId}/orders/{orderId}/reject" => json!({"reason": "closing early"}),
        "/orders" => crate::harness::order_body(
            &objects.store,
            json!([{"foodId": "tuna-kimbap", "quantity": 1}]),
            "tok_visa",
        ),
        "/reviews" => json!({"orderId": objects.order, "rating": 4, "text": "again"}),
        _ if route.method == http::Method::POST || route.method == http::Method::PUT => json!({}),
        _ => return None,
    })
}

fn url(route: &PublicRoute, objects: &Objects) -> String {
    let path = route.fill(|name| match name {
        "storeId" => objects.store.clone(),
        "orderId" => objects.order.clone(),
        "deliveryId" => objects.delivery.clone(),
        "riderId" => baedal::demo::subject_id("rider1"),
        "reviewId" => objects.review.clone(),
        other => panic!("{}: no value for {{{other}}}", route.path),
    });
    match route.path {
        "/deliveries/available" | "/deliveries/events" => {
            format!("{path}?lat=37.5&lng=127.03&radiusKm=3")
        }
        _ => path,
    }
}

/// customer1's order at owner1's store, taken all the way to a review: every kind of object
/// the table knows, each with one owner.
async fn objects(app: &TestApp) -> Objects {
    let customer = app.login("customer1").await;
    let owner = app.login("owner1").await;
    let rider = app.login("rider1").await;
    let store = app.store_id(&customer, "owner1").await;
    let other_store = app.store_id(&customer, "owner2").await;
    let order = app.placed_order(&customer, &store).await;
    let delivery = app
        .complete_order(&customer, &owner, &rider, &store, &order)
        .await;
    let (status, review) = app
        .post(
            &customer,
            "/reviews",
            json!({"orderId": order, "rating": 5, "text": "good"}),
        )
        .await;
    assert_eq!(status, 201, "{review}");
    Objects {
        store,
        other_store,
        order,
        delivery,
        review: review["reviewId"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_public_route_answers_every_role_as_the_route_table_says() {
    let app = TestApp::spawn_with(|settings| settings.gateway.rate_limit.per_second = 0).await;
    let objects = objects(&app).await;
    let mut callers = Vec::new();
    for (username, role) in [
        ("customer1", Role::Customer),
        ("customer2", Role::Customer),
        ("owner1", Role::Owner),
        ("owner2", Role::Owner),
        ("rider1", Role::Rider),
        ("rider2", Role::Rider),
        ("admin", Role::Admin),
    ] {
        callers.push(Caller {
            username,
            role,
            token: app.login(username).await,
        });
    }

    let mut failures = Vec::new();
    let mut checked = 0;
    for route in &PUBLIC {
        let url = app.url(&url(route, &objects));
        let body = body(route, &objects);
        let send = |token: Option<&str>| {
            let mut request = app.http.request(route.method.clone(), &url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            request.send()
        };
        let status = send(None).await.unwrap().status().as_u16();
        if status != 401 {
            failures.push(format!(
                "{} {} without a token: {status}, not 401",
                route.method, route.path
            ));
        }
        for caller in &callers {
            let expect = expected(route, caller);
            let response = send(Some(&caller.token)).await.unwrap();
            let status = response.status().as_u16();
            let ok = match expect {
                Expect::Status(wanted) => status == wanted,
                Expect::Allowed => !matches!(status, 401 | 403 | 404) && status < 500,
            };
            checked += 1;
            if !ok {
                let text = response.text().await.unwrap_or_default();
                failures.push(format!(
                    "{} {} as {}: {status}, expected {expect:?}: {text}",
                    route.method, route.path, caller.username
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} calls broke the table:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The other owner's store is theirs: owner1 may not touch it either.
    let owner1 = &callers[2].token;
    let (status, _) = app
        .post(
            owner1,
            &format!("/stores/{}/pause", objects.other_store),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    app.stop().await;
}

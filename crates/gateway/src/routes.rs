//! The public API (README "Calling the API with curl", and `/openapi.json`) as data: every method
//! and path the gateway relays, the service that answers it, and who may call it. Nothing else is
//! relayed, so an internal endpoint (`/internal/...`), or a method a path does not list, never
//! reaches a service from outside. The authorization matrix test walks this table.

use axum::http::Method;
use platform::{Role, ServiceName};

/// One public endpoint.
#[derive(Debug)]
pub struct PublicRoute {
    pub method: Method,
    /// Literal segments and `{name}` placeholders, each one whole segment.
    pub path: &'static str,
    pub service: ServiceName,
    /// The roles that may call it; empty means any signed-in caller.
    pub roles: &'static [Role],
    /// The placeholder naming an object that belongs to someone, and what a caller who is not
    /// its owner (nor an admin, where admins may) gets: 403 or 404.
    pub owned: Option<Owned>,
}

#[derive(Debug, Clone, Copy)]
pub struct Owned {
    pub param: &'static str,
    pub kind: ObjectKind,
    pub others_get: u16,
}

/// Whose an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A customer's order.
    Order,
    /// An owner's store.
    Store,
    /// A rider's own statistics.
    Rider,
    /// A delivery: open ones are any rider's to see, picked ones their rider's.
    Delivery,
    /// A customer's review.
    Review,
}

use ObjectKind as O;
use Role::*;
use ServiceName as S;

const fn route(
    method: Method,
    path: &'static str,
    service: ServiceName,
    roles: &'static [Role],
    owned: Option<Owned>,
) -> PublicRoute {
    PublicRoute {
        method,
        path,
        service,
        roles,
        owned,
    }
}

const fn own(param: &'static str, kind: ObjectKind, others_get: u16) -> Option<Owned> {
    Some(Owned {
        param,
        kind,
        others_get,
    })
}

/// Every relayed endpoint. (The gateway answers `/auth/login`, `/accounts/{username}`, `/app`,
/// `/healthz` and `/readyz` itself.)
pub static PUBLIC: [PublicRoute; 35] = [
    route(Method::GET, "/stores", S::Store, &[], None),
    route(Method::POST, "/stores", S::Store, &[Admin], None),
    route(Method::GET, "/stores/{storeId}", S::Store, &[], None),
    route(
        Method::PUT,
        "/stores/{storeId}/menu",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::POST,
        "/stores/{storeId}/open",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::POST,
        "/stores/{storeId}/pause",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::GET,
        "/stores/{storeId}/orders",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    // Before `/stores/{storeId}/orders/{orderId}`, which its path also fits.
    route(
        Method::GET,
        "/stores/{storeId}/orders/events",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::GET,
        "/stores/{storeId}/orders/{orderId}",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::POST,
        "/stores/{storeId}/orders/{orderId}/accept",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::POST,
        "/stores/{storeId}/orders/{orderId}/reject",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::POST,
        "/stores/{storeId}/orders/{orderId}/cook-start",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::POST,
        "/stores/{storeId}/orders/{orderId}/cook-finish",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::GET,
        "/stores/{storeId}/food-counts",
        S::Store,
        &[Owner],
        own("storeId", O::Store, 403),
    ),
    route(
        Method::GET,
        "/stores/{storeId}/reviews",
        S::Review,
        &[],
        None,
    ),
    route(Method::POST, "/orders", S::Order, &[Customer], None),
    route(
        Method::GET,
        "/orders/{orderId}",
        S::Order,
        &[Customer, Admin],
        own("orderId", O::Order, 404),
    ),
    route(
        Method::GET,
        "/orders/{orderId}/events",
        S::Order,
        &[Customer, Admin],
        own("orderId", O::Order, 404),
    ),
    route(
        Method::POST,
        "/orders/{orderId}/cancel",
        S::Order,
        &[Customer],
        own("orderId", O::Order, 404),
    ),
    route(
        Method::POST,
        "/orders/{orderId}/confirm-receipt",
        S::Order,
        &[Customer],
        own("orderId", O::Order, 404),
    ),
    route(Method::GET, "/mypage/orders", S::Order, &[Customer], None),
    route(Method::GET, "/admin/sagas/stuck", S::Order, &[Admin], None),
    route(
        Method::GET,
        "/mypage/orders/{orderId}",
        S::Order,
        &[Customer],
        own("orderId", O::Order, 404),
    ),
    route(
        Method::GET,
        "/payments",
        S::Payment,
        &[Customer, Admin],
        None,
    ),
    route(
        Method::GET,
        "/payments/{orderId}",
        S::Payment,
        &[Customer, Admin],
        own("orderId", O::Order, 404),
    ),
    route(
        Method::GET,
        "/deliveries/available",
        S::Delivery,
        &[Rider],
        None,
    ),
    // Before `/deliveries/{deliveryId}`, which its path also fits.
    route(
        Method::GET,
        "/deliveries/events",
        S::Delivery,
        &[Rider],
        None,
    ),
    route(
        Method::GET,
        "/deliveries/{deliveryId}",
        S::Delivery,
        &[Rider, Admin],
        own("deliveryId", O::Delivery, 404),
    ),
    route(
        Method::POST,
        "/deliveries/{deliveryId}/pick",
        S::Delivery,
        &[Rider],
        own("deliveryId", O::Delivery, 409),
    ),
    route(
        Method::POST,
        "/deliveries/{deliveryId}/complete",
        S::Delivery,
        &[Rider],
        own("deliveryId", O::Delivery, 403),
    ),
    route(
        Method::GET,
        "/riders/{riderId}/stats",
        S::Delivery,
        &[Rider, Admin],
        own("riderId", O::Rider, 403),
    ),
    route(
        Method::GET,
        "/notifications",
        S::Notification,
        &[Customer],
        None,
    ),
    route(Method::GET, "/customers/me", S::Customer, &[Customer], None),
    route(Method::POST, "/reviews", S::Review, &[Customer], None),
    route(
        Method::DELETE,
        "/reviews/{reviewId}",
        S::Review,
        &[Customer],
        own("reviewId", O::Review, 404),
    ),
];

impl PublicRoute {
    /// Whether `path` (without its query) has this route's shape.
    /// A live stream (Server-Sent Events): its answer is relayed as it comes, for as long as it
    /// lasts. Streams are the routes named `.../events`.
    pub fn streams(&self) -> bool {
        self.path.ends_with("/events")
    }

    pub fn matches_path(&self, path: &str) -> bool {
        let mut actual = path.strip_prefix('/').unwrap_or(path).split('/');
        let mut expected = self.path.strip_prefix('/').unwrap_or(self.path).split('/');
        loop {
            match (expected.next(), actual.next()) {
                (None, None) => return true,
                (Some(template), Some(segment)) => {
                    let placeholder = template.starts_with('{');
                    if segment.is_empty() || (!placeholder && template != segment) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }

    /// The path with each placeholder replaced by `value(name)`.
    pub fn fill(&self, mut value: impl FnMut(&str) -> String) -> String {
        self.path
            .split('/')
            .map(|segment| match segment.strip_prefix('{') {
                Some(name) => value(name.trim_end_matches('}')),
                None => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// What the table says of a request.
#[derive(Debug)]
pub enum Lookup {
    Found(&'static PublicRoute),
    /// The path is public, but not with this method: the methods it takes, for `Allow`.
    WrongMethod(Vec<Method>),
    NotPublic,
}

/// Tells the request's span which public route a request goes to: the gateway relays every path
/// through one catch-all, whose template would name them all alike.
pub async fn name_route(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Lookup::Found(route) = lookup(request.method(), request.uri().path()) {
        request
            .extensions_mut()
            .insert(platform::trace::Route(route.path));
    }
    next.run(request).await
}

pub fn lookup(method: &Method, path: &str) -> Lookup {
    let mut allowed = Vec::new();
    for route in &PUBLIC {
        if route.matches_path(path) {
            // HEAD is GET without the body.
            if route.method == *method || (*method == Method::HEAD && route.method == Method::GET) {
                return Lookup::Found(route);
            }
            allowed.push(route.method.clone());
            if route.method == Method::GET {
                allowed.push(Method::HEAD);
            }
        }
    }
    if allowed.is_empty() {
        Lookup::NotPublic
    } else {
        Lookup::WrongMethod(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_is_listed_once_and_matches_its_own_shape() {
        for (index, route) in PUBLIC.iter().enumerate() {
            let filled = route.fill(|name| format!("x-{name}"));
            assert!(route.matches_path(&filled), "{}", route.path);
            for other in &PUBLIC[..index] {
                assert!(
                    !(other.method == route.method && other.path == route.path),
                    "{} {} twice",
                    route.method,
                    route.path
                );
            }
        }
    }

    #[test]
    fn lookups_tell_unknown_paths_from_wrong_methods() {
        assert!(matches!(
            lookup(&Method::GET, "/stores/s-1/reviews"),
            Lookup::Found(route) if route.service == ServiceName::Review
        ));
        assert!(matches!(
            lookup(&Method::GET, "/stores/s-1"),
            Lookup::Found(route) if route.service == ServiceName::Store
        ));
        assert!(matches!(lookup(&Method::HEAD, "/stores"), Lookup::Found(_)));
        assert!(matches!(
            lookup(&Method::POST, "/payments"),
            Lookup::WrongMethod(allowed) if allowed == [Method::GET, Method::HEAD]
        ));
        assert!(matches!(
            lookup(&Method::DELETE, "/orders/o-1"),
            Lookup::WrongMethod(allowed) if allowed == [Method::GET, Method::HEAD]
        ));
        for path in [
            "/internal/payments",
            "/internal/orders/o-1",
            "/metrics",
            "/stores/s-1/x",
            "/stores//orders",
            "/storesx",
            "/",
        ] {
            assert!(
                matches!(lookup(&Method::GET, path), Lookup::NotPublic),
                "{path}"
            );
        }
    }
}

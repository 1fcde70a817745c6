//! The public API, described: one OpenAPI 3.1 document merged from each service's routes and the
//! gateway's own, served at `/openapi.json`, with Swagger UI at `/docs` (its files compiled in,
//! nothing fetched at build or run time). Each service describes its handlers where they are
//! written (`#[utoipa::path]` on the handler, its request and response types deriving
//! `ToSchema`), so the document changes with the code; a test holds it to the route table.

use axum::Router;
use platform::problem::Problem;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, ContentBuilder, RefOr, ResponseBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "baedal",
        description = "Food delivery: customers order and pay, store owners accept and cook, \
                       riders nearby deliver. Every error is `application/problem+json` with a \
                       stable `code`. Log in at `POST /auth/login` and send the token as \
                       `Authorization: Bearer <token>`.",
        version = env!("CARGO_PKG_VERSION"),
    ),
    modifiers(&Bearer),
)]
struct GatewayDoc;

/// The bearer scheme every secured operation names.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The whole public API.
pub fn document() -> openapi::OpenApi {
    let mut doc = GatewayDoc::openapi();
    for part in [
        crate::accounts::openapi(),
        platform::http::openapi(),
        store::api::openapi(),
        order::api::openapi(),
        payment::api::openapi(),
        delivery::api::openapi(),
        notification::api::openapi(),
        customer::api::openapi(),
        review::api::openapi(),
    ] {
        doc.merge(part);
    }
    add_gateway_problems(&mut doc);
    doc
}

/// The routes anyone may call without a token.
const PUBLIC_PATHS: [&str; 3] = ["/auth/login", "/healthz", "/readyz"];

/// What the gateway itself may answer on any route before a service sees the request: a bad or
/// missing token on a secured one, the rate limit, and a service that cannot be reached.
fn add_gateway_problems(doc: &mut openapi::OpenApi) {
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    platform::problem::CONTENT_TYPE,
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(openapi::Ref::from_schema_name("Problem"))))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let secured = !PUBLIC_PATHS.contains(&path.as_str());
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut operation.responses.responses;
            if secured {
                responses.entry("401".into()).or_insert_with(|| {
                    problem(
                        "no valid bearer token, or its account is disabled (`code`: invalid-token)",
                    )
                });
            }
            responses.entry("429".into()).or_insert_with(|| {
                problem("too many requests from this client; retry after `Retry-After` seconds (`code`: rate-limited)")
            });
            responses.entry("503".into()).or_insert_with(|| {
                problem("the service behind this route is unavailable; try again later (`code`: service-unavailable)")
            });
        }
    }
    // The gateway's responses name the schema; make sure it is there even if no route did.
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .entry("Problem".into())
        .or_insert_with(<Problem as utoipa::PartialSchema>::schema);
}

/// `/openapi.json` and Swagger UI at `/docs`.
pub fn routes() -> Router {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", document()))
}

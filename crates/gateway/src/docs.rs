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
                       `Authorization: Bearer <token>`. No text may hold NUL (U+0000): a body \
                       with one is 422 `invalid-body`, a path 400 `invalid-path`.",
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

/// What may be answered on any route before its handler decides: a bad or missing token on a
/// secured one, the rate limit, a service that cannot be reached, a path parameter or query the
/// relay refuses, and a body that is not JSON of the right shape. Where the route already
/// describes the status, its description gains these codes.
fn add_gateway_problems(doc: &mut openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let secured = !PUBLIC_PATHS.contains(&path.as_str());
        let has_path_params = path.contains('{');
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
            let has_query = operation.parameters.iter().flatten().any(|p| {
                matches!(p, RefOr::T(p) if matches!(p.parameter_in, openapi::path::ParameterIn::Query))
            });
            let has_body = operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            if secured {
                add_problem(
                    responses,
                    "401",
                    "no valid bearer token, or its account is disabled (`code`: invalid-token)",
                );
            }
            if has_path_params {
                add_problem(
                    responses,
                    "400",
                    "a path segment holds a backslash or an encoded separator (`code`: invalid-path)",
                );
            }
            if has_query {
                add_problem(
                    responses,
                    "400",
                    "a query parameter is missing, unknown or not of its type (`code`: invalid-query)",
                );
            }
            if has_body {
                add_problem(
                    responses,
                    "400",
                    "the body is not JSON (`code`: malformed-json, unreadable-body)",
                );
                add_problem(
                    responses,
                    "413",
                    "the body is larger than the limit (`code`: body-too-large)",
                );
                add_problem(
                    responses,
                    "415",
                    "the body is not `application/json` (`code`: expected-json)",
                );
                add_problem(
                    responses,
                    "422",
                    "the body does not have the documented shape (`code`: invalid-body)",
                );
            }
            add_problem(
                responses,
                "429",
                "too many requests from this client; retry after `Retry-After` seconds (`code`: rate-limited)",
            );
            add_problem(
                responses,
                "503",
                "the service behind this route is unavailable; try again later (`code`: service-unavailable)",
            );
        }
    }
    // The gateway's responses name the schema; make sure it is there even if no route did.
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .entry("Problem".into())
        .or_insert_with(<Problem as utoipa::PartialSchema>::schema);
}

/// Adds a problem response, or adds its description to the one the route gives that status.
fn add_problem(
    responses: &mut std::collections::BTreeMap<String, RefOr<openapi::Response>>,
    status: &str,
    description: &str,
) {
    match responses.get_mut(status) {
        Some(RefOr::T(response)) => {
            if !response.description.contains(description) {
                response.description = format!("{}; or {description}", response.description);
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert(
                status.to_owned(),
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
                ),
            );
        }
    }
}

/// `/openapi.json` and Swagger UI at `/docs`.
pub fn routes() -> Router {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", document()))
}

//! The public API, described: one OpenAPI 3.1 document merged from each service's routes and the
//! gateway's own, served at `/openapi.json`, with Swagger UI at `/docs` (its files compiled in,
//! nothing fetched at build or run time). The events have a document of their own,
//! `/asyncapi.json` (`crate::asyncapi`). Each service describes its handlers where they are
//! written (`#[utoipa::path]` on the handler, its request and response types deriving
//! `ToSchema`), so the document changes with the code; a test holds it to the route table.
//!
//! What every route shares is written here once, not on each handler: the bearer security (a
//! public route says `security(())`), the path parameters (each `{name}` is one segment the relay
//! takes), the problem body of every error response, and the problems the gateway itself answers.

use axum::{
    Router,
    body::Bytes,
    http::{Method, header},
    routing::get,
};
use platform::problem::Problem;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, ContentBuilder, ObjectBuilder, RefOr, Required, ResponseBuilder, Type,
        path::{Parameter, ParameterBuilder, ParameterIn},
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
    security(("bearer" = [])),
    modifiers(&Bearer),
)]
struct GatewayDoc;

/// The bearer scheme every operation needs unless it says otherwise.
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

/// The parts of the public API: the gateway's own routes, the platform's and each service's.
/// They are merged by schema name, a later part's schema replacing an earlier one's, so a name
/// must mean one schema in every part that has it (a test holds them to it).
pub fn parts() -> [openapi::OpenApi; 9] {
    [
        crate::accounts::openapi(),
        platform::http::openapi(),
        store::api::openapi(),
        order::api::openapi(),
        payment::api::openapi(),
        delivery::api::openapi(),
        notification::api::openapi(),
        customer::api::openapi(),
        review::api::openapi(),
    ]
}

/// The whole public API.
pub fn document() -> openapi::OpenApi {
    let mut doc = GatewayDoc::openapi();
    for part in parts() {
        doc.merge(part);
    }
    finish(&mut doc);
    doc
}

/// What a path segment may hold: anything the relay passes on (no `/` or `\\`, not `.` or `..`).
const PATH_SEGMENT: &str = r"^[^/\\]*[^/\\.][^/\\]*$";

/// Fills in what every route shares. Every `{name}` of a path is a required path parameter of
/// one segment. Every error response is a problem. And the route gets what may be answered
/// before its handler decides: a bad or missing token on a secured route, the rate limit, a
/// service that cannot be reached, a path or query the relay refuses, and a body that is not JSON
/// of the right shape. Where the route already describes the status, its description gains these
/// codes.
fn finish(doc: &mut openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let segments: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, operation) in [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ] {
            let Some(operation) = operation else {
                continue;
            };
            let route = crate::routes::PUBLIC
                .iter()
                .find(|route| route.method == method && route.path == path);
            let parameters = operation.parameters.get_or_insert_with(Vec::new);
            for (index, name) in segments.iter().enumerate() {
                let described = parameters
                    .iter()
                    .any(|p| matches!(p, RefOr::T(p) if p.name == *name));
                if !described {
                    parameters.insert(index, path_parameter(name));
                }
            }
            let has_query = parameters
                .iter()
                .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query)));
            let has_body = operation.request_body.is_some();
            // No `security` of its own: the document's bearer (a public route says `security(())`).
            let secured = operation.security.is_none();
            let responses = &mut operation.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let RefOr::T(response) = response
                    && !status.starts_with('2')
                    && response.content.is_empty()
                {
                    response.content.insert(
                        platform::problem::CONTENT_TYPE.into(),
                        RefOr::T(problem_content()),
                    );
                }
            }
            if secured {
                add_problem(
                    responses,
                    "401",
                    "no valid bearer token, or its account is disabled (`code`: invalid-token)",
                );
            }
            // Who may call it is the route table's to say.
            if let Some(route) = route
                && (!route.roles.is_empty() || route.owned.is_some())
            {
                add_problem(responses, "403", &forbidden(route));
            }
            if !segments.is_empty() {
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
    // The problem content names the schema; make sure it is there even if no route did.
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .entry("Problem".into())
        .or_insert_with(<Problem as utoipa::PartialSchema>::schema);
}

/// The 403 of a route, from the route table: the roles it takes, and whose object it is.
fn forbidden(route: &crate::routes::PublicRoute) -> String {
    let mut why = Vec::new();
    if !route.roles.is_empty() {
        let roles: Vec<String> = route.roles.iter().map(|r| r.to_string()).collect();
        why.push(format!("only for {}", roles.join(", ")));
    }
    if let Some(owned) = &route.owned
        && owned.others_get == 403
    {
        why.push(format!("`{{{}}}` is someone else's", owned.param));
    }
    format!("{} (`code`: forbidden)", why.join("; or "))
}

fn path_parameter(name: &str) -> RefOr<Parameter> {
    RefOr::T(
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(PATH_SEGMENT)),
            ))
            .build(),
    )
}

fn problem_content() -> openapi::Content {
    ContentBuilder::new()
        .schema(Some(RefOr::Ref(openapi::Ref::from_schema_name("Problem"))))
        .build()
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
                        .content(platform::problem::CONTENT_TYPE, problem_content())
                        .build(),
                ),
            );
        }
    }
}

/// `/openapi.json` and Swagger UI at `/docs`, and the events' AsyncAPI document at
/// `/asyncapi.json`. Both documents are built once, at startup.
pub fn routes() -> Router {
    let events = Bytes::from(
        serde_json::to_vec(&crate::asyncapi::document()).expect("the document serializes"),
    );
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document()))
        .route(
            "/asyncapi.json",
            get(move || {
                let events = events.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], events) }
            }),
        )
}

//! The one HTTP error type of every baedal service: RFC 9457 `application/problem+json` with a
//! stable `code`. Client mistakes are 4xx with a detail that says what to fix; server faults are an
//! opaque 500 whose cause is logged in full, never sent.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// The body clients receive, and the body services decode from each other.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` here: the `code` names it).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong and, for a client mistake, what to fix.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The stable, machine-readable name of the problem (`store-not-found`, ...).
    pub code: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Seconds a client should wait before retrying (503 fallbacks).
    pub retry_after: Option<u32>,
    /// The methods a 405's resource takes (RFC 9110 requires `Allow` on it).
    pub allow: Option<String>,
    /// Logged, never sent.
    source: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
            allow: None,
            source: None,
        }
    }

    /// A 405's `Allow` header: the methods the resource takes.
    pub fn allow(mut self, methods: impl Into<String>) -> Self {
        self.allow = Some(methods.into());
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// The fallback answer when a dependency is down or its breaker is open.
    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(5),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
        }
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "")
        }
    }

    pub fn problem(&self) -> Problem {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        Problem {
            kind: format!("urn:baedal:problem:{}", self.code),
            title,
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(code = self.code, error = ?source, "request failed")
                }
                None => tracing::warn!(code = self.code, detail = %self.detail, "request failed"),
            }
        }
        let mut response = (self.status, Json(self.problem())).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(error)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::internal(error)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let (status, code) = match &rejection {
            JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
            JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed-json"),
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected-json")
            }
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body-too-large")
            }
            _ => (rejection.status(), "unreadable-body"),
        };
        Self::new(status, code, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request("invalid-path", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("invalid-query", rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body_of(error: ApiError) -> (StatusCode, String, Problem) {
        let response = error.into_response();
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (
            status,
            content_type,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn client_errors_say_what_is_wrong() {
        let (status, content_type, problem) = body_of(ApiError::conflict(
            "already-reviewed",
            "one review per order",
        ))
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(content_type, CONTENT_TYPE);
        assert_eq!(problem.code, "already-reviewed");
        assert_eq!(problem.status, 409);
        assert_eq!(problem.detail, "one review per order");
        assert_eq!(problem.kind, "urn:baedal:problem:already-reviewed");
    }

    #[tokio::test]
    async fn server_errors_hide_their_cause() {
        let (status, _, problem) = body_of(ApiError::internal(anyhow::anyhow!(
            "password=hunter2 leaked"
        )))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(problem.code, "internal");
        assert!(problem.detail.is_empty());
    }

    #[tokio::test]
    async fn fallbacks_tell_when_to_retry() {
        let response = ApiError::unavailable("payment-unavailable", "try again").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}

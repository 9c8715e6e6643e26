//! API errors and their `application/problem+json` responses (RFC 9457).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::Role;

/// Why an API request failed. Each variant's doc names its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no token, or a token nobody issued.
    #[error("authentication required")]
    Unauthenticated,
    /// 403: the token's role is below the one named.
    #[error("this action needs the {0:?} role")]
    Forbidden(Role),
    /// 404: the named thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 400: a query parameter or body is invalid; the message says which.
    #[error("{0}")]
    BadRequest(String),
    /// 409: the action conflicts with the current state (e.g. a discarded dead letter).
    #[error("{0}")]
    Conflict(String),
    /// 422: the corrected record fails validation; the message says why.
    #[error("{0}")]
    Unprocessable(String),
    /// 503: a dependency (NATS, the CRM) is unavailable; retrying later is safe.
    #[error("{0}")]
    Unavailable(String),
    /// 500: anything unexpected; details are logged, not returned.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if is_outage(&error) {
            tracing::warn!(error = %error, "The event log is unavailable.");
            return Self::Unavailable(
                "the event log (Postgres) is unavailable; retry later".into(),
            );
        }
        Self::Internal(anyhow::Error::new(error).context("Database error"))
    }
}

/// True when the error says Postgres cannot be reached or is going away, not
/// that the query was wrong: no connection within the acquire timeout, a
/// broken socket, or a server shutting down (SQLSTATE classes 08 and 57P).
fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// An RFC 9457 problem document as this API writes it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// `urn:crmerp:problem:<code>`.
    pub r#type: String,
    /// Short, fixed per code.
    pub title: &'a str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: &'a str,
}

impl<'a> Problem<'a> {
    /// A problem with the type derived from `code`.
    pub fn new(status: StatusCode, code: &'a str, title: &'a str, detail: String) -> Self {
        Self {
            r#type: format!("urn:crmerp:problem:{code}"),
            title,
            status: status.as_u16(),
            detail,
            code,
        }
    }

    /// The response, with the problem media type.
    pub fn into_response_with(self, status: StatusCode) -> Response {
        let mut response = (status, axum::Json(self)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            ),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", "Bad request"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::Unprocessable(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Dependency unavailable",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Unauthenticated => {
                "Send a valid token as `Authorization: Bearer <token>`.".into()
            }
            Self::Forbidden(role) => format!(
                "This action needs the {} role or higher.",
                format!("{role:?}").to_lowercase()
            ),
            Self::Internal(_) => "Something went wrong; it has been logged.".into(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        if let Self::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "Request failed.");
        } else if status.is_server_error() {
            tracing::warn!(code, "Request failed: {self}.");
        }
        metrics::counter!("crmerp_monitoring_api_errors_total", "code" => code).increment(1);
        let mut response =
            Problem::new(status, code, title, self.detail()).into_response_with(status);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"crmerp-monitoring\""),
            );
        }
        response
    }
}

/// The answer when a handler panics: a 500 problem instead of a dropped
/// connection (for [`tower_http::catch_panic::CatchPanicLayer::custom`]).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "A request handler panicked.");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

/// Rewrites error responses the framework wrote itself (a query string that
/// does not deserialize, a path that is not UTF-8, a body over the limit, a
/// wrong method) into problem+json, keeping their status and headers.
pub async fn framework_errors_as_problems(response: Response) -> Response {
    let status = response.status();
    let already = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if already || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Framework rejections are one short sentence; more is not worth echoing.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let (code, title) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "Bad request"),
        StatusCode::NOT_FOUND => ("not_found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Payload too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "Unsupported media type"),
        StatusCode::UNPROCESSABLE_ENTITY => ("validation_failed", "Validation failed"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "Dependency unavailable"),
        s if s.is_server_error() => ("internal", "Internal error"),
        _ => ("bad_request", "Bad request"),
    };
    metrics::counter!("crmerp_monitoring_api_errors_total", "code" => code).increment(1);
    let detail = if text.is_empty() {
        title.to_owned()
    } else {
        text
    };
    let mut problem = Problem::new(status, code, title, detail).into_response_with(status);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

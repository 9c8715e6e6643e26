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
        Self::Internal(anyhow::Error::new(error).context("Database error"))
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
}

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
        let problem = Problem {
            r#type: format!("urn:crmerp:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: self.detail(),
            code,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"crmerp-monitoring\""),
            );
        }
        response
    }
}

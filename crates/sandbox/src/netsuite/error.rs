//! NetSuite-shaped error responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Content type of NetSuite error bodies.
const ERROR_CONTENT_TYPE: &str = "application/vnd.oracle.resource+json; type=error";

/// An error answered in NetSuite's shape:
/// `{"type","title","status","o:errorDetails":[{"detail","o:errorCode","o:errorPath"?}]}`.
#[derive(Debug, Clone)]
pub(crate) struct NsError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    path: Option<String>,
    retry_after_secs: Option<u64>,
}

impl NsError {
    /// An error with a status, NetSuite error code and detail.
    pub(crate) fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            path: None,
            retry_after_secs: None,
        }
    }

    /// Sets `o:errorPath`.
    pub(crate) fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// 400 `USER_ERROR`.
    pub(crate) fn user_error(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "USER_ERROR", detail)
    }

    /// 400 `INVALID_KEY_OR_REF` for a reference field pointing at nothing.
    pub(crate) fn invalid_reference(field: &str, key: &str, path: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_KEY_OR_REF",
            format!("Invalid {field} reference key {key}."),
        )
        .at(path)
    }

    /// 400 `INVALID_PARAMETER`.
    pub(crate) fn invalid_parameter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", detail)
    }

    /// 404 `NONEXISTENT_ID`.
    pub(crate) fn nonexistent() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NONEXISTENT_ID",
            "The record instance does not exist. Provide a valid record instance ID.",
        )
    }

    /// 401 `INVALID_LOGIN`.
    pub(crate) fn invalid_login() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_LOGIN",
            "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI \
             at Setup > Users/Roles > User Management > View Login Audit Trail.",
        )
    }

    /// 429 `CONCURRENCY_LIMIT_EXCEEDED`.
    pub(crate) fn concurrency_limit() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "CONCURRENCY_LIMIT_EXCEEDED",
            "Concurrent request limit exceeded. Request blocked.",
        )
    }

    /// The error a fault with this status is answered with.
    pub(crate) fn for_status(status: StatusCode, retry_after_secs: Option<u64>) -> Self {
        let mut error = match status.as_u16() {
            400 => Self::user_error("Invalid request."),
            401 => Self::invalid_login(),
            403 => Self::new(
                status,
                "INSUFFICIENT_PERMISSION",
                "Permission Violation: You need a higher level of permission to perform this action.",
            ),
            404 => Self::nonexistent(),
            429 => Self::concurrency_limit(),
            500..=599 => Self::new(
                status,
                "UNEXPECTED_ERROR",
                format!(
                    "An unexpected error occurred. Error ID: {}",
                    uuid::Uuid::new_v4().simple()
                ),
            ),
            _ => Self::new(
                status,
                "USER_ERROR",
                status.canonical_reason().unwrap_or("Error"),
            ),
        };
        error.retry_after_secs = retry_after_secs;
        error
    }
}

/// The RFC link NetSuite puts in `type` for a status.
fn type_url(status: StatusCode) -> String {
    let section = match status.as_u16() {
        400 => "15.5.1",
        401 => "15.5.2",
        403 => "15.5.4",
        404 => "15.5.5",
        405 => "15.5.6",
        409 => "15.5.10",
        415 => "15.5.16",
        500 => "15.6.1",
        502 => "15.6.3",
        503 => "15.6.4",
        504 => "15.6.5",
        429 => return "https://www.rfc-editor.org/rfc/rfc6585.html#section-4".to_owned(),
        _ => "15",
    };
    format!("https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}")
}

impl IntoResponse for NsError {
    fn into_response(self) -> Response {
        let mut detail = Map::new();
        detail.insert("detail".to_owned(), json!(self.detail));
        detail.insert("o:errorCode".to_owned(), json!(self.code));
        if let Some(path) = self.path {
            detail.insert("o:errorPath".to_owned(), json!(path));
        }
        let body = json!({
            "type": type_url(self.status),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "o:errorDetails": [Value::Object(detail)],
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(ERROR_CONTENT_TYPE),
        );
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Renders an injected fault as a NetSuite error.
pub(crate) fn render_fault(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    NsError::for_status(status, retry_after_secs).into_response()
}

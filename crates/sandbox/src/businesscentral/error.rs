//! Business Central-shaped OData errors:
//! `{"error":{"code":"BadRequest_…","message":"…  CorrelationId:  <guid>."}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered in Business Central's shape.
#[derive(Debug, Clone)]
pub(crate) struct BcError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl BcError {
    /// An error with a status, BC error code and message.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// 400 `BadRequest` (malformed request, unknown property, bad query).
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 404 `BadRequest_ResourceNotFound` for a path segment that names nothing.
    pub(crate) fn no_segment(segment: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BadRequest_ResourceNotFound",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// 404 `Internal_RecordNotFound` for a key that names no record.
    pub(crate) fn record_not_found(table: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Internal_RecordNotFound",
            format!("The {table} does not exist. Identification fields and values: Id"),
        )
    }

    /// 400 `Application_DialogException`: a field's value is not in its related table.
    pub(crate) fn related_missing(field: &str, table: &str, value: &str, related: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Application_DialogException",
            format!(
                "The field {field} of table {table} contains a value ({value}) that cannot be found in the related table ({related})."
            ),
        )
    }

    /// 401 `Authentication_InvalidCredentials`.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Authentication_InvalidCredentials",
            "The server has rejected the client credentials.",
        )
    }

    /// The error a fault with this status is answered with.
    pub(crate) fn for_status(status: StatusCode, retry_after_secs: Option<u64>) -> Self {
        let mut error = match status.as_u16() {
            401 => Self::unauthenticated(),
            403 => Self::new(
                status,
                "Authorization_InsufficientPermissions",
                "You do not have the following permissions on TableData Sales Header: Insert",
            ),
            404 => Self::no_segment("companies"),
            409 => Self::new(
                status,
                "Request_EntityChanged",
                "Another user has already changed the record.",
            ),
            429 => Self::new(
                status,
                "Application_TooManyRequests",
                "Too many requests reached.  Actual (601).  Maximum (600).",
            ),
            503 => Self::new(
                status,
                "Internal_ServiceUnavailable",
                "The service is temporarily unavailable.",
            ),
            500..=599 => Self::new(
                status,
                "Internal_ServerError",
                "An unexpected error has occurred.",
            ),
            _ => Self::bad_request(status.canonical_reason().unwrap_or("Bad Request")),
        };
        error.retry_after_secs = retry_after_secs;
        error
    }
}

impl IntoResponse for BcError {
    fn into_response(self) -> Response {
        let message = format!(
            "{}  CorrelationId:  {}.",
            self.message,
            uuid::Uuid::new_v4()
        );
        let body = json!({ "error": { "code": self.code, "message": message } });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", error=\"invalid_token\"",
                ),
            );
        }
        response
    }
}

/// Renders an injected fault as a Business Central error.
pub(crate) fn render_fault(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    BcError::for_status(status, retry_after_secs).into_response()
}

//! Salesforce-shaped errors: a top-level JSON array of
//! `{"message","errorCode","fields"?}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answered in Salesforce's shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SfError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) fields: Vec<String>,
}

impl SfError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub(crate) fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }

    pub(crate) fn session() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    }

    pub(crate) fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    pub(crate) fn malformed_id(id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_ID",
            format!("Id value {id} is not valid"),
        )
    }

    pub(crate) fn invalid_field(object: &str, field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            format!("No such column '{field}' on sobject of type {object}"),
        )
        .with_fields(vec![field.to_owned()])
    }

    pub(crate) fn json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", message)
    }

    pub(crate) fn limit() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
    }

    /// The array body.
    pub(crate) fn body(&self) -> Value {
        let mut entry = json!({ "message": self.message, "errorCode": self.code });
        if !self.fields.is_empty() {
            entry["fields"] = json!(self.fields);
        }
        json!([entry])
    }
}

impl IntoResponse for SfError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Renders an injected fault as Salesforce would answer that status.
pub(crate) fn render_fault(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    let error = match status.as_u16() {
        401 => SfError::session(),
        403 => SfError::limit(),
        404 => SfError::not_found(),
        503 => SfError::new(
            status,
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable",
        ),
        s if s >= 500 => SfError::new(
            status,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-123456789)",
        ),
        _ => SfError::new(
            status,
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record",
        ),
    };
    let mut response = SfError { status, ..error }.into_response();
    if let Some(secs) = retry_after_secs
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

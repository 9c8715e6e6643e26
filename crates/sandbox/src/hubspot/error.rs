//! HubSpot-shaped error responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error answered in HubSpot's shape:
/// `{"status":"error","message","correlationId","category","errors"?,"context"?}`.
///
/// Boxed so that `Result<_, HsError>` stays small.
#[derive(Debug, Clone)]
pub(crate) struct HsError(Box<Details>);

#[derive(Debug, Clone)]
struct Details {
    status: StatusCode,
    category: &'static str,
    message: String,
    errors: Vec<Value>,
    context: Option<Value>,
    extra: Map<String, Value>,
    retry_after_secs: Option<u64>,
}

impl HsError {
    /// An error with a status, category and message.
    pub(crate) fn new(
        status: StatusCode,
        category: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self(Box::new(Details {
            status,
            category,
            message: message.into(),
            errors: Vec::new(),
            context: None,
            extra: Map::new(),
            retry_after_secs: None,
        }))
    }

    /// Adds entries to the `errors` array.
    pub(crate) fn with_errors(mut self, errors: Vec<Value>) -> Self {
        self.0.errors = errors;
        self
    }

    /// Sets the top-level `context` object.
    pub(crate) fn with_context(mut self, context: Value) -> Self {
        self.0.context = Some(context);
        self
    }

    /// 401: missing or wrong bearer token.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and \
             you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    }

    /// 404: no object with this id.
    pub(crate) fn object_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "Object not found.  objectId are usually numeric.",
        )
        .with_context(json!({ "id": [id] }))
    }

    /// 404: an unknown path.
    pub(crate) fn route_not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("Unable to find a route for {path}"),
        )
    }

    /// 400: a validation failure.
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 400: the body is not the JSON the endpoint expects.
    pub(crate) fn invalid_json(error: &serde_json::Error) -> Self {
        Self::validation(format!(
            "Invalid input JSON on line {}, column {}: {error}",
            error.line(),
            error.column()
        ))
    }

    /// 400: the object type in the path is not one the portal has.
    pub(crate) fn unknown_object_type(name: &str) -> Self {
        Self::validation(format!("Unable to infer object type from: {name}"))
    }

    /// 429: over the ten-second or daily limit.
    pub(crate) fn rate_limited(policy: &'static str, retry_after_secs: Option<u64>) -> Self {
        let message = match policy {
            "DAILY" => "You have reached your daily limit.",
            "SECONDLY" => "You have reached your secondly limit.",
            _ => "You have reached your ten_secondly_rolling limit.",
        };
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITS", message);
        error
            .0
            .extra
            .insert("errorType".to_owned(), json!("RATE_LIMIT"));
        error.0.extra.insert("policyName".to_owned(), json!(policy));
        error.0.retry_after_secs = retry_after_secs;
        error
    }

    /// The error a fault with this status is answered with.
    pub(crate) fn for_status(status: StatusCode, retry_after_secs: Option<u64>) -> Self {
        let mut error = match status.as_u16() {
            429 => return Self::rate_limited("TEN_SECONDLY_ROLLING", retry_after_secs),
            400 => Self::validation("Invalid request."),
            401 => Self::unauthenticated(),
            403 => Self::new(
                status,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call.",
            ),
            404 => Self::new(status, "OBJECT_NOT_FOUND", "resource not found"),
            409 => Self::new(status, "CONFLICT", "Conflict."),
            500..=599 => Self::new(
                status,
                "INTERNAL_ERROR",
                "internal error; please retry the request",
            ),
            _ => Self::new(
                status,
                "ERROR",
                status.canonical_reason().unwrap_or("error"),
            ),
        };
        error.0.retry_after_secs = retry_after_secs;
        error
    }
}

impl IntoResponse for HsError {
    fn into_response(self) -> Response {
        let details = *self.0;
        let mut body = Map::new();
        body.insert("status".to_owned(), json!("error"));
        body.insert("message".to_owned(), json!(details.message));
        body.insert(
            "correlationId".to_owned(),
            json!(uuid::Uuid::new_v4().to_string()),
        );
        body.insert("category".to_owned(), json!(details.category));
        if !details.errors.is_empty() {
            body.insert("errors".to_owned(), Value::Array(details.errors));
        }
        if let Some(context) = details.context {
            body.insert("context".to_owned(), context);
        }
        body.extend(details.extra);
        let mut response = (details.status, axum::Json(Value::Object(body))).into_response();
        if let Some(seconds) = details.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Renders an injected fault as a HubSpot error.
pub(crate) fn render_fault(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    HsError::for_status(status, retry_after_secs).into_response()
}

//! Ingress errors and their `application/problem+json` responses (RFC 9457).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a webhook was rejected. Each variant's doc names its status.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// 401: no signature header we understand.
    #[error("missing signature")]
    MissingSignature,
    /// 401: the signature does not match the body.
    #[error("invalid signature")]
    InvalidSignature,
    /// 401: the signed timestamp is too old (or in the future).
    #[error("stale or invalid timestamp")]
    StaleTimestamp,
    /// 401: a signature version this endpoint does not accept (HubSpot's
    /// `X-HubSpot-Signature-Version` other than v1/v2 without a v3 signature).
    #[error("unsupported signature version {0:?}")]
    UnsupportedSignatureVersion(String),
    /// 401: the request's credentials (Basic auth, a configured key, the sending
    /// organisation) are missing or wrong; for vendors that sign nothing.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 400: the body is not the vendor's JSON shape.
    #[error("malformed body: {0}")]
    Malformed(String),
    /// 413: the body exceeds the configured limit.
    #[error("body too large")]
    TooLarge,
    /// 408: the body did not arrive within the body-read timeout.
    #[error("body not received in time")]
    RequestTimeout,
    /// 415: a signed webhook whose `Content-Type` is not JSON, from a vendor
    /// that always sends JSON.
    #[error("unsupported content type {0:?}")]
    UnsupportedMediaType(String),
    /// 415: a form-encoded callback (Twilio) whose `Content-Type` is not
    /// `application/x-www-form-urlencoded`.
    #[error("unsupported content type {0:?}")]
    NotForm(String),
    /// 409: a webhook id seen before with a different payload; the original
    /// is kept.
    #[error("webhook id reused with a different payload")]
    IdConflict,
    /// 429: the source sent more than its rate limit; retry after the given seconds.
    #[error("rate limit of {source_name} exceeded")]
    RateLimited {
        /// The webhook source.
        source_name: &'static str,
        /// Seconds until a request would be accepted.
        retry_after: u64,
    },
    /// 404: this source is not configured in this deployment.
    #[error("source not configured")]
    SourceNotConfigured,
    /// 503: JetStream did not acknowledge; the sender should retry.
    #[error("event store unavailable")]
    Unavailable,
}

#[derive(Serialize)]
struct Problem<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
}

impl IngressError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::MissingSignature => (
                StatusCode::UNAUTHORIZED,
                "missing_signature",
                "Missing signature",
            ),
            Self::InvalidSignature => (
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "Invalid signature",
            ),
            Self::StaleTimestamp => (
                StatusCode::UNAUTHORIZED,
                "stale_timestamp",
                "Stale timestamp",
            ),
            Self::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            ),
            Self::UnsupportedSignatureVersion(_) => (
                StatusCode::UNAUTHORIZED,
                "unsupported_signature_version",
                "Unsupported signature version",
            ),
            Self::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_body", "Malformed body"),
            Self::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "Request timeout",
            ),
            Self::UnsupportedMediaType(_) | Self::NotForm(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::IdConflict => (
                StatusCode::CONFLICT,
                "webhook_id_conflict",
                "Webhook id conflict",
            ),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Rate limited",
            ),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "Body too large",
            ),
            Self::SourceNotConfigured => (
                StatusCode::NOT_FOUND,
                "source_not_configured",
                "Source not configured",
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "event_store_unavailable",
                "Event store unavailable",
            ),
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::MissingSignature => "The request carries no signature this endpoint accepts.".into(),
            Self::InvalidSignature => "The signature does not match the request. Check the client secret and the public URL.".into(),
            Self::StaleTimestamp => "The signed timestamp is more than 5 minutes away from now.".into(),
            Self::InvalidCredentials => "The request's credentials or sender do not match this endpoint's configuration.".into(),
            Self::UnsupportedSignatureVersion(version) => format!("Signature version {version:?} is not accepted: send v3 (X-HubSpot-Signature-v3 with X-HubSpot-Request-Timestamp), or v1/v2 where allowed."),
            Self::Malformed(why) => format!("The body is not a valid webhook payload: {why}"),
            Self::RequestTimeout => "The request body did not arrive within the configured time.".into(),
            Self::UnsupportedMediaType(content_type) => format!("Content-Type {content_type:?} is not accepted; this endpoint takes application/json."),
            Self::NotForm(content_type) => format!("Content-Type {content_type:?} is not accepted; this endpoint takes application/x-www-form-urlencoded."),
            Self::IdConflict => "This webhook id was already received with a different payload; the original is kept. Send a new id for a new event.".into(),
            Self::RateLimited { source_name, retry_after } => format!("Too many requests from {source_name}; retry after {retry_after} s. Nothing was stored from this request."),
            Self::TooLarge => "The body exceeds the configured limit.".into(),
            Self::SourceNotConfigured => "This webhook source is not configured in this deployment.".into(),
            Self::Unavailable => "The event could not be stored durably. Retry later; nothing was lost.".into(),
        }
    }
}

impl IntoResponse for IngressError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        if status.is_server_error() {
            tracing::error!(code, "Webhook not accepted: {self}.");
        } else if status == StatusCode::TOO_MANY_REQUESTS {
            // A flood would flood the log too; the metric below counts them.
            tracing::debug!(code, "Webhook rejected: {self}.");
        } else {
            tracing::warn!(code, status = status.as_u16(), "Webhook rejected: {self}.");
        }
        metrics::counter!("crmerp_ingress_rejected_total", "code" => code).increment(1);
        let problem = Problem {
            r#type: format!("urn:crmerp:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: self.detail(),
            code,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let headers = response.headers_mut();
        match &self {
            Self::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::RateLimited { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            // The rest of the body is unread: the connection cannot carry another request.
            Self::RequestTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// A failed signature check (HubSpot and Standard Webhooks share the type).
impl From<crmerp_connector::standard_webhooks::SignatureError> for IngressError {
    fn from(error: crmerp_connector::standard_webhooks::SignatureError) -> Self {
        use crmerp_connector::standard_webhooks::SignatureError;
        match error {
            SignatureError::Missing(_) => Self::MissingSignature,
            SignatureError::Stale { .. } => Self::StaleTimestamp,
            SignatureError::Malformed(_) | SignatureError::Mismatch => Self::InvalidSignature,
        }
    }
}

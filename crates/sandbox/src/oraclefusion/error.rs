//! Oracle REST (ADF) error answers: `application/vnd.oracle.adf.error+json`
//! `{"title","status","o:errorDetails":[{"detail","o:errorCode"}]}`; 401 with
//! an empty body and a Basic challenge.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error in Oracle's REST framework shape.
#[derive(Debug, Clone)]
pub(crate) struct OraError {
    status: StatusCode,
    code: String,
    detail: String,
    retry_after_secs: Option<u64>,
}

impl OraError {
    /// 400 with an error code and detail.
    pub(crate) fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: code.to_owned(),
            detail: detail.into(),
            retry_after_secs: None,
        }
    }

    /// 404 for an unknown resource or key.
    pub(crate) fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: String::new(),
            detail: "The requested resource was not found.".to_owned(),
            retry_after_secs: None,
        }
    }

    fn for_status(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
        if status == StatusCode::UNAUTHORIZED {
            return unauthorized();
        }
        Self {
            status,
            code: String::new(),
            detail: status.canonical_reason().unwrap_or("Error").to_owned(),
            retry_after_secs,
        }
        .into_response()
    }
}

impl IntoResponse for OraError {
    fn into_response(self) -> Response {
        let mut detail = serde_json::Map::new();
        detail.insert("detail".into(), json!(self.detail));
        if !self.code.is_empty() {
            detail.insert("o:errorCode".into(), json!(self.code));
        }
        let body = json!({
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16().to_string(),
            "o:errorDetails": [detail],
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.oracle.adf.error+json"),
        );
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// 401 without a body, as Fusion answers.
pub(crate) fn unauthorized() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Oracle Fusion Applications\""),
    );
    response
}

/// Renders an injected fault.
pub(crate) fn render_fault(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    OraError::for_status(status, retry_after_secs)
}

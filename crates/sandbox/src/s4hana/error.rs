//! SAP Gateway-shaped errors: JSON
//! `{"error":{"code","message":{"lang","value"},"innererror":{…,"errordetails":[…]}}}`,
//! the HTML logon error for 401 and the plain-text CSRF failure.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered in SAP Gateway's JSON shape.
#[derive(Debug, Clone)]
pub(crate) struct SapError {
    status: StatusCode,
    code: String,
    message: String,
    service: &'static str,
    retry_after_secs: Option<u64>,
}

impl SapError {
    /// An error with a status, message class/number and text.
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            service: "",
            retry_after_secs: None,
        }
    }

    /// 400 with a message.
    pub(crate) fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `Resource not found`.
    pub(crate) fn not_found(segment: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "/IWBEP/CM_MGW_RT/020",
            format!("Resource not found for segment '{segment}'"),
        )
    }

    /// Names the service in `innererror.application`.
    pub(crate) fn in_service(mut self, service: &'static str) -> Self {
        self.service = service;
        self
    }

    /// The error a fault with this status is answered with.
    pub(crate) fn for_status(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
        if status == StatusCode::UNAUTHORIZED {
            return unauthorized();
        }
        let mut error = match status.as_u16() {
            403 => Self::new(
                status,
                "/IWFND/CM_CONSUMER/101",
                "No service found for namespace '/SAP/', name 'API_SALES_ORDER_SRV', version '0001'",
            ),
            404 => Self::not_found("A_SalesOrder"),
            429 => Self::new(
                status,
                "/IWFND/CM_BEC/076",
                "Too many requests; try again later",
            ),
            500..=599 => Self::new(
                status,
                "/IWFND/CM_BEC/026",
                "SM59 RFC destination ... backend system not reachable",
            ),
            _ => Self::bad_request(
                "/IWBEP/CM_MGW_RT/000",
                status.canonical_reason().unwrap_or("Error"),
            ),
        };
        error.retry_after_secs = retry_after_secs;
        error.into_response()
    }
}

impl IntoResponse for SapError {
    fn into_response(self) -> Response {
        let transaction = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
        let timestamp = chrono::Utc::now().format("%Y%m%d%H%M%S.%f").to_string();
        let body = json!({ "error": {
            "code": self.code,
            "message": { "lang": "en", "value": self.message },
            "innererror": {
                "application": { "component_id": "SD-SLS-API", "service_namespace": "/SAP/",
                                  "service_id": self.service, "service_version": "0001" },
                "transactionid": transaction,
                "timestamp": timestamp,
                "Error_Resolution": { "SAP_Transaction": "For backend administrators: use ADT feed reader \"SAP Gateway Error Log\" or run transaction /IWFND/ERROR_LOG on SAP Gateway hub system and search for entries with the timestamp above for more details",
                                      "SAP_Note": "See SAP Note 1797736 for error analysis (https://service.sap.com/sap/support/notes/1797736)" },
                "errordetails": [{ "code": self.code, "message": self.message, "propertyref": "", "severity": "error", "target": "" }]
            }
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// 401: SAP answers an HTML logon error page and a Basic challenge.
pub(crate) fn unauthorized() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "<html><head><title>Logon Error Message</title></head><body><h1>Logon failed</h1></body></html>",
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"SAP NetWeaver Application Server [S4H/100]\""),
    );
    response
}

/// 403 with `x-csrf-token: Required`: the token is missing, stale or not of this session.
pub(crate) fn csrf_required() -> Response {
    let mut response = (StatusCode::FORBIDDEN, "CSRF token validation failed").into_response();
    let headers = response.headers_mut();
    headers.insert("x-csrf-token", HeaderValue::from_static("Required"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Renders an injected fault as an SAP error.
pub(crate) fn render_fault(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    SapError::for_status(status, retry_after_secs)
}

//! NetSuite error bodies refined into [`ConnectorError`], and `Location` parsing.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::SYSTEM;
use crate::http_client::{VendorResponse, classify_status};
use crate::{ConnectorError, ErrorCategory, ErrorKind};

/// Resolution for a reference NetSuite does not know (item, customer, subsidiary…).
pub(crate) const FIX_ERP_REFERENCE: &str = "fix_erp_reference";
/// The longest vendor text kept in [`ConnectorError::message`]; the body is in `detail`.
const MAX_MESSAGE_CHARS: usize = 300;

/// NetSuite's RFC 7807-style error body.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    title: Option<String>,
    #[serde(rename = "o:errorDetails", default)]
    details: Vec<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    detail: Option<String>,
    #[serde(rename = "o:errorCode", default)]
    code: Option<String>,
}

/// Classifies a non-2xx NetSuite response: status first, then `o:errorCode`.
pub(crate) fn classify(
    endpoint: &str,
    response: &VendorResponse,
    now: DateTime<Utc>,
) -> ConnectorError {
    use ErrorCategory as C;
    use ErrorKind as K;
    let mut err = classify_status(SYSTEM, endpoint, response, now);
    let body: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
    let details = body
        .as_ref()
        .map(|b| b.details.as_slice())
        .unwrap_or_default();
    let has = |code: &str| details.iter().any(|d| d.code.as_deref() == Some(code));
    let status = response.status.as_u16();

    let refined = if status == 429 || has("CONCURRENCY_LIMIT_EXCEEDED") {
        Some((K::Transient, C::RateLimited, None))
    } else if status >= 500 {
        Some((K::Transient, C::Unavailable, None))
    } else if matches!(status, 401 | 403) || has("INVALID_LOGIN") || has("INVALID_LOGIN_ATTEMPT") {
        Some((K::Auth, C::Unauthorized, Some("check_erp_credentials")))
    } else if has("NONEXISTENT_ID") {
        Some((K::Permanent, C::NotFound, None))
    } else if details.iter().any(is_duplicate) {
        Some((K::Permanent, C::Duplicate, None))
    } else if has("INVALID_KEY_OR_REF") {
        Some((K::Permanent, C::Validation, Some(FIX_ERP_REFERENCE)))
    } else if has("USER_ERROR") {
        Some((K::Permanent, C::Validation, None))
    } else {
        None
    };
    if let Some((kind, category, resolution)) = refined {
        err.kind = kind;
        err.category = category;
        if let Some(code) = resolution {
            err.resolution = Some(code.to_owned());
        }
    }

    let title = body
        .as_ref()
        .and_then(|b| b.title.as_deref())
        .unwrap_or_default();
    let first = details.first();
    let code = first.and_then(|d| d.code.as_deref()).unwrap_or_default();
    let text = first.and_then(|d| d.detail.as_deref()).unwrap_or_default();
    let vendor: String = [title, code, text]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(": ")
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if !vendor.is_empty() {
        err.message = format!("{}: {vendor}", err.message);
    }
    err
}

/// A duplicate record, e.g. a concurrent create with the same external id
/// (`DUP_RCRD` "This record already exists"), or a repeated idempotency key.
fn is_duplicate(detail: &ErrorDetail) -> bool {
    let code = detail.code.as_deref().unwrap_or_default();
    code.starts_with("DUP_")
        || code == "IDEMPOTENCY_ERROR"
        || detail
            .detail
            .as_deref()
            .is_some_and(|d| d.to_ascii_lowercase().contains("already exists"))
}

/// The new record's id: the last path segment of the `Location` of a 204 create.
///
/// Without it the record may still exist, so the error is transient: the retry
/// looks the record up by external id instead of creating it again.
pub(crate) fn location_id(
    response: &VendorResponse,
    endpoint: &str,
) -> Result<String, ConnectorError> {
    let fail = |why: &str| {
        ConnectorError::new(
            ErrorKind::Transient,
            ErrorCategory::Protocol,
            SYSTEM,
            endpoint,
            format!("create answered without a usable Location header: {why}"),
        )
        .with_status(response.status.as_u16())
    };
    let location = response.header("location").ok_or_else(|| fail("missing"))?;
    parse_location_id(location).ok_or_else(|| fail(location))
}

/// Last non-empty path segment of an absolute or relative URL; internal ids are
/// letters and digits only.
pub(crate) fn parse_location_id(location: &str) -> Option<String> {
    let base = url::Url::parse("http://location.invalid/").ok()?;
    let url = base.join(location.trim()).ok()?;
    let id = url.path_segments()?.rfind(|s| !s.is_empty())?;
    (id.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| id.to_owned())
}

#[cfg(test)]
mod tests;

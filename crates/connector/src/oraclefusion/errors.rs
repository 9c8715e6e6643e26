//! Oracle REST (ADF) error bodies refined into [`ConnectorError`].

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::SYSTEM;
use crate::http_client::{VendorResponse, classify_status};
use crate::{ConnectorError, ErrorCategory, ErrorKind};

const MAX_MESSAGE_CHARS: usize = 300;

/// `application/vnd.oracle.adf.error+json` (REST framework 4+):
/// `{"title","status","detail"?,"o:errorCode"?,"o:errorDetails":[{"detail","o:errorCode","o:errorPath"?}]}`.
/// Older framework versions answer plain text, kept as detail.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(rename = "o:errorDetails", default)]
    details: Vec<Detail>,
}

#[derive(Debug, Deserialize)]
struct Detail {
    #[serde(default)]
    detail: String,
    #[serde(rename = "o:errorCode", default)]
    code: String,
}

/// Classifies a non-2xx Oracle answer.
pub(crate) fn classify(
    endpoint: &str,
    response: &VendorResponse,
    now: DateTime<Utc>,
) -> ConnectorError {
    let mut err = classify_status(SYSTEM, endpoint, response, now);
    if matches!(response.status.as_u16(), 401 | 403) {
        err.resolution = Some("check_erp_credentials".to_owned());
    }
    let text = response.text();
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(body) => {
            let first = body.details.first();
            (
                first.map(|d| d.code.clone()).unwrap_or_default(),
                first
                    .map(|d| d.detail.clone())
                    .or(body.detail)
                    .or(body.title)
                    .unwrap_or_default(),
            )
        }
        Err(_) => (String::new(), text.trim().to_owned()),
    };
    if response.status.is_client_error()
        && !matches!(response.status.as_u16(), 401 | 403 | 404 | 408 | 429)
    {
        let lower = message.to_ascii_lowercase();
        if lower.contains("already exists") {
            err.kind = ErrorKind::Permanent;
            err.category = ErrorCategory::Duplicate;
        } else if lower.contains("item")
            && (lower.contains("isn't valid")
                || lower.contains("not valid")
                || lower.contains("doesn't exist"))
        {
            err.kind = ErrorKind::Permanent;
            err.category = ErrorCategory::UnknownItem;
            let sku = quoted(&message).unwrap_or_default();
            err.resolution = Some(format!("create_item_in_erp:{sku}"));
        }
    }
    let vendor: String = [code.as_str(), message.as_str()]
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

/// The first value in double quotes, e.g. the item in `The item "AS54888" isn't valid`.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('"')? + 1;
    let end = message[start..].find('"')? + start;
    Some(&message[start..end])
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use super::*;

    fn response(status: u16, body: &str) -> VendorResponse {
        VendorResponse {
            status: StatusCode::from_u16(status).expect("status"),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
            truncated: false,
        }
    }

    #[test]
    fn adf_errors_are_classified() {
        let item = response(
            400,
            r#"{"title":"Bad Request","status":"400","o:errorDetails":[{"detail":"The item \"AS-9\" isn't valid in the organization Vision Operations. (FOM-2023417)","o:errorCode":"FOM-2023417"}]}"#,
        );
        let err = classify("POST x", &item, Utc::now());
        assert_eq!(err.category, ErrorCategory::UnknownItem);
        assert_eq!(err.resolution.as_deref(), Some("create_item_in_erp:AS-9"));
        let dup = response(
            400,
            r#"{"title":"Bad Request","status":"400","o:errorDetails":[{"detail":"A sales order with source transaction hubspot-deal-1 from source system CRMERP already exists.","o:errorCode":"FOM-2016030"}]}"#,
        );
        assert_eq!(
            classify("POST x", &dup, Utc::now()).category,
            ErrorCategory::Duplicate
        );
        let plain = response(
            400,
            "An attribute cannot be set. The attribute BuyingPartyIdX is not found.",
        );
        let err = classify("POST x", &plain, Utc::now());
        assert_eq!(err.category, ErrorCategory::Validation);
        assert!(err.message.contains("BuyingPartyIdX"));
        assert_eq!(
            classify("GET x", &response(401, ""), Utc::now()).kind,
            ErrorKind::Auth
        );
        assert!(classify("GET x", &response(503, "busy"), Utc::now()).is_transient());
    }
}

//! Salesforce error bodies (a top-level JSON array) and the `Sforce-Limit-Info`
//! header, refined into [`ConnectorError`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::SYSTEM;
use crate::http_client::{VendorResponse, classify_status};
use crate::http_kit::RatePolicy;
use crate::{ConnectorError, ErrorCategory, ErrorKind};

/// Header carrying `api-usage=used/max` of the org's rolling 24-hour allowance.
pub(crate) const LIMIT_INFO: &str = "sforce-limit-info";
/// How long to hold calls back once the org's API allowance is spent: the
/// allowance is a rolling 24 hours, so calls come back gradually, not at a reset.
pub(crate) const LIMIT_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// The longest vendor message kept in [`ConnectorError::message`].
const MAX_MESSAGE_CHARS: usize = 300;

/// One element of Salesforce's error array.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiError {
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) error_code: String,
    #[serde(default)]
    pub(crate) fields: Vec<String>,
}

/// The first error of a body, when it is Salesforce's array (or a single object,
/// as composite sub-responses sometimes carry).
pub(crate) fn first_error(body: &[u8]) -> Option<ApiError> {
    serde_json::from_slice::<Vec<ApiError>>(body)
        .ok()
        .and_then(|errors| errors.into_iter().next())
        .or_else(|| serde_json::from_slice::<ApiError>(body).ok())
}

/// Classifies a non-2xx answer by status, then by Salesforce's `errorCode`.
pub(crate) fn classify(
    endpoint: &str,
    response: &VendorResponse,
    now: DateTime<Utc>,
) -> ConnectorError {
    let err = classify_status(SYSTEM, endpoint, response, now);
    refine(err, first_error(&response.body))
}

/// Refines a status-classified error with the vendor's error code.
pub(crate) fn refine(mut err: ConnectorError, api: Option<ApiError>) -> ConnectorError {
    use ErrorCategory as C;
    use ErrorKind as K;
    let Some(api) = api else {
        return err;
    };
    let refined = match api.error_code.as_str() {
        // 403, but the allowance comes back: not an auth problem.
        "REQUEST_LIMIT_EXCEEDED" | "TXN_SECURITY_NO_ACCESS_LIMIT" => {
            Some((K::Transient, C::RateLimited, None))
        }
        // A 429 stays a rate limit whatever the code: its Retry-After is the wait.
        "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE" | "QUERY_TIMEOUT"
            if err.category != C::RateLimited =>
        {
            Some((K::Transient, C::Unavailable, None))
        }
        "INVALID_SESSION_ID" | "INVALID_AUTH_HEADER" | "API_DISABLED_FOR_ORG" => {
            Some((K::Auth, C::Unauthorized, Some("check_crm_credentials")))
        }
        code if code.starts_with("INSUFFICIENT_ACCESS") => {
            Some((K::Auth, C::Unauthorized, Some("grant_crm_permissions")))
        }
        "NOT_FOUND" | "ENTITY_IS_DELETED" => Some((K::Permanent, C::NotFound, None)),
        "DUPLICATE_VALUE" | "DUPLICATES_DETECTED" => Some((K::Permanent, C::Duplicate, None)),
        "REQUIRED_FIELD_MISSING"
        | "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        | "INVALID_FIELD"
        | "INVALID_FIELD_FOR_INSERT_UPDATE"
        | "STRING_TOO_LONG"
        | "MALFORMED_ID"
        | "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        | "FIELD_INTEGRITY_EXCEPTION" => Some((K::Permanent, C::Validation, Some("fix_crm_data"))),
        _ => None,
    };
    if let Some((kind, category, resolution)) = refined {
        err.kind = kind;
        err.category = category;
        if let Some(code) = resolution {
            let code = match (code, api.fields.first()) {
                ("fix_crm_data", Some(field)) => format!("fix_crm_field:{field}"),
                (code, _) => code.to_owned(),
            };
            err.resolution = Some(code);
        }
    }
    if err.category == C::RateLimited && err.retry_after.is_none() {
        err.retry_after = Some(LIMIT_BACKOFF);
    }
    if err.kind == K::Auth && err.resolution.is_none() {
        err.resolution = Some("check_crm_credentials".into());
    }
    if !api.message.is_empty() {
        let short: String = api.message.chars().take(MAX_MESSAGE_CHARS).collect();
        err.message = format!("{}: {} {short}", err.message, api.error_code);
    }
    err
}

/// `(used, max)` from `api-usage=18/15000`.
pub(crate) fn api_usage(header: &str) -> Option<(u64, u64)> {
    header.split(',').find_map(|part| {
        let (used, max) = part.trim().strip_prefix("api-usage=")?.split_once('/')?;
        Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
    })
}

/// Salesforce's API allowance for the kit's gate: a spent allowance (the
/// `Sforce-Limit-Info` usage header, or `REQUEST_LIMIT_EXCEEDED`) holds every
/// call back for [`LIMIT_BACKOFF`], failing fast without a call meanwhile.
pub(crate) fn rate_policy() -> RatePolicy {
    RatePolicy {
        max_wait: Duration::ZERO,
        default_window: LIMIT_BACKOFF,
        vendor_hold: allowance_spent,
        spent_message: "the org's API request allowance is spent",
    }
}

fn allowance_spent(response: &VendorResponse) -> Option<Duration> {
    response
        .header(LIMIT_INFO)
        .and_then(api_usage)
        .is_some_and(|(used, max)| max > 0 && used >= max)
        .then(|| {
            tracing::warn!(
                system = SYSTEM,
                "Salesforce API allowance spent; holding calls back."
            );
            LIMIT_BACKOFF
        })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use super::*;
    use crate::http_kit::RateGate;

    fn response(status: u16, body: &str) -> VendorResponse {
        VendorResponse {
            status: StatusCode::from_u16(status).expect("status"),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
            truncated: false,
        }
    }

    #[test]
    fn request_limit_exceeded_is_transient_not_auth() {
        // Recorded shape from the REST API developer guide ("Status codes and error responses").
        let body =
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        let err = classify("GET /x", &response(403, body), Utc::now());
        assert_eq!(err.kind, ErrorKind::Transient);
        assert_eq!(err.category, ErrorCategory::RateLimited);
        assert_eq!(err.retry_after, Some(LIMIT_BACKOFF));
        assert_eq!(err.detail, body);
    }

    #[test]
    fn array_errors_map_codes_and_keep_fields() {
        let body = r#"[{"message":"Required fields are missing: [Name]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Name"]}]"#;
        let err = classify("POST /x", &response(400, body), Utc::now());
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert_eq!(err.category, ErrorCategory::Validation);
        assert_eq!(err.resolution.as_deref(), Some("fix_crm_field:Name"));
        assert!(err.message.contains("REQUIRED_FIELD_MISSING"), "{err}");

        let body = r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        let err = classify("GET /x", &response(401, body), Utc::now());
        assert_eq!(err.kind, ErrorKind::Auth);

        let body =
            r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#;
        let err = classify("GET /x", &response(404, body), Utc::now());
        assert_eq!(err.category, ErrorCategory::NotFound);

        let body = r#"[{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]"#;
        assert!(classify("PATCH /x", &response(400, body), Utc::now()).is_transient());
    }

    #[tokio::test]
    async fn usage_header_parses_and_spent_allowance_blocks() {
        assert_eq!(api_usage("api-usage=18/15000"), Some((18, 15000)));
        assert_eq!(
            api_usage("per-app-api-usage=1/10(appName=x), api-usage=7/9"),
            Some((7, 9))
        );
        let gate = RateGate::new(rate_policy());
        assert!(gate.remaining().is_none());
        let mut spent = response(200, "{}");
        spent
            .headers
            .insert(LIMIT_INFO, "api-usage=15000/15000".parse().expect("header"));
        gate.observe(&spent, None);
        let err = gate.wait(SYSTEM, "GET /x").await.expect_err("blocked");
        assert_eq!(err.category, ErrorCategory::RateLimited);
    }
}

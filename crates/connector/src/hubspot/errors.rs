//! HubSpot error bodies and rate-limit headers, refined into [`ConnectorError`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::SYSTEM;
use crate::http_client::{VendorResponse, classify_status};
use crate::http_kit::RatePolicy;
use crate::{ConnectorError, ErrorCategory, ErrorKind};

/// Requests left in the current rolling window.
const REMAINING: &str = "x-hubspot-ratelimit-remaining";
/// Length of the rolling window, in milliseconds.
const INTERVAL_MS: &str = "x-hubspot-ratelimit-interval-milliseconds";
/// Requests left in the current second.
const SECONDLY_REMAINING: &str = "x-hubspot-ratelimit-secondly-remaining";
/// Wait assumed when HubSpot says "none left" without naming the window (its
/// standard window is ten seconds).
const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
/// The longest vendor message kept in [`ConnectorError::message`]; the full body is in `detail`.
const MAX_MESSAGE_CHARS: usize = 300;

/// HubSpot's standard error body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    policy_name: Option<String>,
}

/// Classifies a non-2xx HubSpot response by status, then by HubSpot's `category`.
pub(crate) fn classify(
    endpoint: &str,
    response: &VendorResponse,
    now: DateTime<Utc>,
) -> ConnectorError {
    let mut err = classify_status(SYSTEM, endpoint, response, now);
    let body: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
    let category = body
        .as_ref()
        .and_then(|b| b.category.as_deref())
        .unwrap_or("");
    match category {
        "RATE_LIMITS" => {
            err.kind = ErrorKind::Transient;
            err.category = ErrorCategory::RateLimited;
        }
        "VALIDATION_ERROR" => {
            err.kind = ErrorKind::Permanent;
            err.category = ErrorCategory::Validation;
            err.resolution = Some("fix_crm_data".into());
        }
        "OBJECT_NOT_FOUND" => {
            err.kind = ErrorKind::Permanent;
            err.category = ErrorCategory::NotFound;
        }
        "INVALID_AUTHENTICATION" | "EXPIRED_AUTHENTICATION" => {
            err.kind = ErrorKind::Auth;
            err.category = ErrorCategory::Unauthorized;
        }
        "MISSING_SCOPES" => {
            err.kind = ErrorKind::Auth;
            err.category = ErrorCategory::Unauthorized;
            err.resolution = Some("grant_crm_scopes".into());
        }
        "CONFLICT" => {
            err.kind = ErrorKind::Permanent;
            err.category = ErrorCategory::Duplicate;
        }
        _ => {}
    }
    if err.kind == ErrorKind::Auth && err.resolution.is_none() {
        err.resolution = Some("check_crm_credentials".into());
    }
    if err.category == ErrorCategory::RateLimited && err.retry_after.is_none() {
        let daily = body
            .as_ref()
            .and_then(|b| b.policy_name.as_deref())
            .is_some_and(|p| p.eq_ignore_ascii_case("DAILY"));
        // A spent daily quota will not come back within a rolling window.
        err.retry_after = if daily {
            Some(Duration::from_secs(3600))
        } else {
            Some(interval(response).unwrap_or(DEFAULT_WINDOW))
        };
    }
    if let Some(message) = body.and_then(|b| b.message).filter(|m| !m.is_empty()) {
        let short: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        err.message = format!("{}: {short}", err.message);
    }
    err
}

fn interval(response: &VendorResponse) -> Option<Duration> {
    response
        .header(INTERVAL_MS)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
}

/// HubSpot's rate limits for the kit's gate: a spent rolling window (its
/// `x-hubspot-ratelimit-*` headers) or second holds calls back; waits longer
/// than `max_wait` fail fast.
pub(crate) fn rate_policy(max_wait: Duration) -> RatePolicy {
    RatePolicy {
        max_wait,
        default_window: DEFAULT_WINDOW,
        vendor_hold: hold,
        spent_message: "HubSpot rate-limit window spent; not calling until it resets",
    }
}

fn hold(response: &VendorResponse) -> Option<Duration> {
    let window = (response.header(REMAINING).map(str::trim) == Some("0"))
        .then(|| interval(response).unwrap_or(DEFAULT_WINDOW));
    let second = (response.header(SECONDLY_REMAINING).map(str::trim) == Some("0"))
        .then_some(Duration::from_secs(1));
    window.max(second)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use tokio::time::Instant;

    use super::*;
    use crate::http_kit::RateGate;

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> VendorResponse {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().expect("header"));
        }
        VendorResponse {
            status: StatusCode::from_u16(status).expect("status"),
            headers: map,
            body: Bytes::from(body.to_owned()),
            truncated: false,
        }
    }

    fn body(category: &str, message: &str) -> String {
        format!(
            r#"{{"status":"error","message":"{message}","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf","category":"{category}"}}"#
        )
    }

    #[test]
    fn hubspot_categories_refine_the_status() {
        let cases = [
            (
                400,
                "VALIDATION_ERROR",
                ErrorKind::Permanent,
                ErrorCategory::Validation,
            ),
            (
                404,
                "OBJECT_NOT_FOUND",
                ErrorKind::Permanent,
                ErrorCategory::NotFound,
            ),
            (
                401,
                "INVALID_AUTHENTICATION",
                ErrorKind::Auth,
                ErrorCategory::Unauthorized,
            ),
            (
                403,
                "MISSING_SCOPES",
                ErrorKind::Auth,
                ErrorCategory::Unauthorized,
            ),
            (
                409,
                "CONFLICT",
                ErrorKind::Permanent,
                ErrorCategory::Duplicate,
            ),
            (
                429,
                "RATE_LIMITS",
                ErrorKind::Transient,
                ErrorCategory::RateLimited,
            ),
            (502, "", ErrorKind::Transient, ErrorCategory::Unavailable),
        ];
        for (status, category, kind, expected) in cases {
            let resp = response(
                status,
                &[],
                &body(category, "Property values were not valid"),
            );
            let err = classify("GET /crm/v3/objects/deals/{id}", &resp, Utc::now());
            assert_eq!((err.kind, err.category), (kind, expected), "{category}");
            assert_eq!(err.detail, resp.text());
        }
        let resp = response(403, &[], &body("MISSING_SCOPES", "x"));
        let err = classify("GET /x", &resp, Utc::now());
        assert_eq!(err.resolution.as_deref(), Some("grant_crm_scopes"));
        assert!(err.message.ends_with(": x"));
    }

    #[test]
    fn rate_limit_wait_comes_from_headers() {
        let resp = response(
            429,
            &[(INTERVAL_MS, "10000"), (REMAINING, "0")],
            &body("RATE_LIMITS", "You have reached your secondly limit."),
        );
        let err = classify("GET /x", &resp, Utc::now());
        assert_eq!(err.retry_after, Some(Duration::from_millis(10_000)));
        let resp = response(429, &[("retry-after", "3"), (INTERVAL_MS, "10000")], "");
        let err = classify("GET /x", &resp, Utc::now());
        assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
        let daily = r#"{"status":"error","message":"daily","correlationId":"c","category":"RATE_LIMITS","policyName":"DAILY"}"#;
        let err = classify("GET /x", &response(429, &[], daily), Utc::now());
        assert_eq!(err.retry_after, Some(Duration::from_secs(3600)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_waits_out_a_spent_window() {
        let gate = RateGate::new(rate_policy(Duration::from_secs(10)));
        assert_eq!(gate.remaining(), None);
        gate.observe(
            &response(200, &[(REMAINING, "0"), (INTERVAL_MS, "2000")], "{}"),
            None,
        );
        let started = Instant::now();
        gate.wait(SYSTEM, "GET /x").await.expect("waits");
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(gate.remaining(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_fails_fast_beyond_the_maximum_wait() {
        let gate = RateGate::new(rate_policy(Duration::from_secs(10)));
        gate.observe(
            &response(200, &[(REMAINING, "0"), (INTERVAL_MS, "60000")], "{}"),
            None,
        );
        let err = gate.wait(SYSTEM, "GET /x").await.expect_err("too long");
        assert_eq!(err.category, ErrorCategory::RateLimited);
        assert_eq!(err.retry_after, Some(Duration::from_secs(60)));
    }
}

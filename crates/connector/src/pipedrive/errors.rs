//! Pipedrive error bodies and `x-ratelimit-*` headers, refined into [`ConnectorError`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::SYSTEM;
use crate::http_client::{VendorResponse, classify_status};
use crate::http_kit::{RatePolicy, no_vendor_hold};
use crate::{ConnectorError, ErrorCategory, ErrorKind};

/// Seconds until the window resets.
const RESET: &str = "x-ratelimit-reset";
/// Pipedrive's burst window: 2 seconds.
const DEFAULT_WINDOW: Duration = Duration::from_secs(2);

/// `{"success":false,"error":"…","error_info":"…","data":null}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
}

/// Classifies a non-2xx Pipedrive answer; the body stays verbatim as detail.
pub(crate) fn classify(
    endpoint: &str,
    response: &VendorResponse,
    now: DateTime<Utc>,
) -> ConnectorError {
    let mut err = classify_status(SYSTEM, endpoint, response, now);
    if err.category == ErrorCategory::RateLimited && err.retry_after.is_none() {
        err.retry_after = Some(reset(response).unwrap_or(DEFAULT_WINDOW));
    }
    match err.kind {
        ErrorKind::Auth => err.resolution = Some("check_crm_credentials".into()),
        ErrorKind::Permanent if err.category == ErrorCategory::Validation => {
            err.resolution = Some("fix_crm_data".into());
        }
        _ => {}
    }
    if let Some(message) = serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .and_then(|b| b.error)
        .filter(|m| !m.is_empty())
    {
        let short: String = message.chars().take(300).collect();
        err.message = format!("{}: {short}", err.message);
    }
    err
}

fn reset(response: &VendorResponse) -> Option<Duration> {
    response
        .header(RESET)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Pipedrive's limits for the kit's gate: its `x-ratelimit-*` headers are the
/// common convention the gate reads; without a reset the burst window is assumed.
pub(crate) fn rate_policy(max_wait: Duration) -> RatePolicy {
    RatePolicy {
        max_wait,
        default_window: DEFAULT_WINDOW,
        vendor_hold: no_vendor_hold,
        spent_message: "rate-limit window spent",
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use super::*;
    use crate::http_kit::RateGate;

    /// Requests left in the current window (read by the kit's gate).
    const REMAINING: &str = "x-ratelimit-remaining";

    fn response(status: u16, body: &str, headers: &[(&'static str, &str)]) -> VendorResponse {
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

    #[test]
    fn documented_error_bodies_are_classified() {
        // Shapes from the Pipedrive API reference ("Responses": 401, 404, 429).
        let err = classify(
            "GET /x",
            &response(
                401,
                r#"{"success":false,"error":"unauthorized access","errorCode":401,"error_info":"Please check developers.pipedrive.com for more information about Pipedrive API."}"#,
                &[],
            ),
            Utc::now(),
        );
        assert_eq!(err.kind, ErrorKind::Auth);
        assert!(err.message.contains("unauthorized access"));
        let err = classify(
            "GET /x",
            &response(
                404,
                r#"{"success":false,"error":"Deal not found","error_info":"Please check developers.pipedrive.com for more information about Pipedrive API.","data":null,"additional_data":null}"#,
                &[],
            ),
            Utc::now(),
        );
        assert_eq!(err.category, ErrorCategory::NotFound);
        let err = classify(
            "GET /x",
            &response(
                429,
                r#"{"success":false,"error":"Request over limit"}"#,
                &[(RESET, "3")],
            ),
            Utc::now(),
        );
        assert!(err.is_transient());
        assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_window_is_waited_out_or_refused() {
        let spent = response(200, "{}", &[(REMAINING, "0"), (RESET, "2")]);
        let impatient = RateGate::new(rate_policy(Duration::from_millis(100)));
        impatient.observe(&spent, None);
        assert!(impatient.wait(SYSTEM, "GET /x").await.is_err());
        let patient = RateGate::new(rate_policy(Duration::from_secs(5)));
        patient.observe(&spent, None);
        assert!(patient.wait(SYSTEM, "GET /x").await.is_ok());
    }
}

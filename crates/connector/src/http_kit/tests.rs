//! The kit's request loop against a tiny local axum server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::json;

use super::*;
use crate::http_client::classify_status;
use crate::oauth2::{ClientCredentialsConfig, TokenCache};
use crate::test_support::serve;
use crate::{ErrorCategory, ErrorKind};

const SYSTEM: &str = "kit-test";
const DEAL: Endpoint = crate::endpoint!(GET "/deals/{id}");

fn classify(endpoint: &str, response: &VendorResponse, now: DateTime<Utc>) -> ConnectorError {
    classify_status(SYSTEM, endpoint, response, now)
}

/// A token endpoint handing out `tok-0`, `tok-1`, … and `/deals/{id}`, which
/// accepts only the tokens `accepts` lets through.
async fn server(accepts: fn(&str) -> bool) -> (String, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&issued);
    let app = Router::new()
        .route(
            "/token",
            post(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    axum::Json(json!({"access_token": format!("tok-{n}"), "expires_in": 3600}))
                }
            }),
        )
        .route(
            "/deals/{id}",
            get(move |headers: HeaderMap| async move {
                let token = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default();
                if accepts(token) {
                    (StatusCode::OK, "{}")
                } else {
                    (StatusCode::UNAUTHORIZED, "{}")
                }
            }),
        );
    (format!("http://{}", serve(app).await), issued)
}

fn oauth_client(url: &str) -> VendorClient<HeaderAuth> {
    let config = ClientCredentialsConfig {
        token_url: format!("{url}/token"),
        client_id: "app".into(),
        client_secret: "s3cret".into(),
        scope: None,
        refresh_margin_secs: 60,
    };
    let http = reqwest::Client::new();
    let tokens = TokenCache::client_credentials(SYSTEM, config, http.clone());
    VendorClient::new(SYSTEM, http, HeaderAuth::Bearer(tokens), classify)
}

#[tokio::test]
async fn a_rejected_token_is_renewed_once_then_the_call_succeeds() {
    let (url, issued) = server(|token| token == "tok-1").await;
    let client = oauth_client(&url);
    let calls = CallLog::new();
    client
        .send(&calls, &DEAL, &format!("{url}/deals/42"), |r| r)
        .await
        .expect("renewed");
    let statuses: Vec<u32> = calls.snapshot().iter().map(|c| c.http_status).collect();
    assert_eq!(statuses, vec![200, 401, 200, 200]);
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_second_rejection_is_an_auth_error_without_a_third_try() {
    let (url, issued) = server(|_| false).await;
    let client = oauth_client(&url);
    let calls = CallLog::new();
    let err = client
        .send(&calls, &DEAL, &format!("{url}/deals/42"), |r| r)
        .await
        .expect_err("rejected twice");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert_eq!(err.http_status, 401);
    let deal_calls = calls
        .snapshot()
        .iter()
        .filter(|c| c.endpoint == DEAL.label())
        .count();
    assert_eq!(deal_calls, 2, "one call, one repeat after the renewal");
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_fixed_credential_is_not_retried() {
    let (url, _) = server(|_| false).await;
    let auth = HeaderAuth::static_bearer("k", "test.token").expect("header");
    let client = VendorClient::new(SYSTEM, reqwest::Client::new(), auth, classify);
    let calls = CallLog::new();
    let err = client
        .send(&calls, &DEAL, &format!("{url}/deals/42"), |r| r)
        .await
        .expect_err("rejected");
    assert_eq!(err.kind, ErrorKind::Auth);
    assert_eq!(calls.snapshot().len(), 1);
}

#[tokio::test]
async fn the_call_log_and_errors_carry_the_template_not_the_path() {
    let (url, _) = server(|_| true).await;
    let client = VendorClient::new(SYSTEM, reqwest::Client::new(), NoAuth, classify);
    let calls = CallLog::new();
    client
        .send(&calls, &DEAL, &format!("{url}/deals/4711"), |r| r)
        .await
        .expect("answered");
    let call = calls.last().expect("recorded");
    assert_eq!(call.endpoint, "GET /deals/{id}");
    assert_eq!(call.system, SYSTEM);
    assert_eq!(DEAL.template(), "/deals/{id}");
    assert_eq!(DEAL.method(), reqwest::Method::GET);

    let err = client
        .send(&calls, &DEAL, &format!("{url}/nowhere/4711"), |r| r)
        .await
        .expect_err("404");
    assert_eq!(err.endpoint, "GET /deals/{id}");
    assert_eq!(err.category, ErrorCategory::NotFound);
}

#[tokio::test]
async fn the_rate_gate_waits_out_retry_after() {
    let hits = Arc::new(std::sync::Mutex::new(Vec::<tokio::time::Instant>::new()));
    let seen = Arc::clone(&hits);
    let app = Router::new().route(
        "/deals/{id}",
        get(move || {
            let seen = Arc::clone(&seen);
            async move {
                let mut seen = seen.lock().expect("lock");
                seen.push(tokio::time::Instant::now());
                if seen.len() == 1 {
                    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "{}")
                } else {
                    (StatusCode::OK, [("retry-after", "0")], "{}")
                }
            }
        }),
    );
    let url = format!("http://{}", serve(app).await);
    let policy = RatePolicy {
        max_wait: Duration::from_secs(5),
        default_window: Duration::from_secs(10),
        vendor_hold: no_vendor_hold,
        spent_message: "window spent",
    };
    let client = VendorClient::new(SYSTEM, reqwest::Client::new(), NoAuth, classify)
        .with_rate_gate(RateGate::new(policy));
    let calls = CallLog::new();
    let err = client
        .send(&calls, &DEAL, &format!("{url}/deals/1"), |r| r)
        .await
        .expect_err("429");
    assert_eq!(err.category, ErrorCategory::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(1)));
    client
        .send(&calls, &DEAL, &format!("{url}/deals/1"), |r| r)
        .await
        .expect("after the wait");
    let hits = hits.lock().expect("lock").clone();
    assert_eq!(hits.len(), 2);
    assert!(
        hits[1] - hits[0] >= Duration::from_millis(950),
        "the second call waited for Retry-After: {:?}",
        hits[1] - hits[0]
    );

    // A wait beyond the maximum fails fast, without a call.
    let strict = RateGate::new(RatePolicy {
        max_wait: Duration::ZERO,
        ..policy
    });
    let spent = VendorResponse {
        status: reqwest::StatusCode::OK,
        headers: [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "30")]
            .into_iter()
            .map(|(k, v)| (k.parse().expect("name"), v.parse().expect("value")))
            .collect(),
        body: bytes::Bytes::new(),
        truncated: false,
    };
    strict.observe(&spent, None);
    let err = strict.wait(SYSTEM, "GET /x").await.expect_err("fails fast");
    assert_eq!(err.message, "window spent");
    assert!(err.retry_after.is_some_and(|d| d > Duration::from_secs(25)));
}

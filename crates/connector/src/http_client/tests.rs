use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap as AxumHeaders, StatusCode as AxumStatus};
use axum::routing::get;
use chrono::TimeZone;

use super::*;

fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> VendorResponse {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, value.parse().expect("header value"));
    }
    VendorResponse {
        status: StatusCode::from_u16(status).expect("status"),
        headers: map,
        body: Bytes::from(body.to_owned()),
        truncated: false,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0)
        .single()
        .expect("valid time")
}

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    assert_eq!(
        parse_retry_after("120", now()),
        Some(Duration::from_secs(120))
    );
    assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
    // RFC 9110's own example date, 30 s after `now`.
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now()),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now()), None);
    assert_eq!(parse_retry_after("-5", now()), None);
}

#[test]
fn statuses_map_to_kinds_and_categories() {
    let cases = [
        (429, ErrorKind::Transient, ErrorCategory::RateLimited),
        (408, ErrorKind::Transient, ErrorCategory::Unavailable),
        (500, ErrorKind::Transient, ErrorCategory::Unavailable),
        (503, ErrorKind::Transient, ErrorCategory::Unavailable),
        (401, ErrorKind::Auth, ErrorCategory::Unauthorized),
        (403, ErrorKind::Auth, ErrorCategory::Unauthorized),
        (404, ErrorKind::Permanent, ErrorCategory::NotFound),
        (409, ErrorKind::Permanent, ErrorCategory::Duplicate),
        (400, ErrorKind::Permanent, ErrorCategory::Validation),
        (422, ErrorKind::Permanent, ErrorCategory::Validation),
        (302, ErrorKind::Permanent, ErrorCategory::Protocol),
    ];
    for (status, kind, category) in cases {
        let err = classify_status("x", "GET /y", &response(status, &[], "body"), now());
        assert_eq!(
            (err.kind, err.category, err.http_status),
            (kind, category, status)
        );
        assert_eq!(err.detail, "body");
    }
}

#[test]
fn classification_keeps_retry_after_and_truncates_detail() {
    let long = "x".repeat(20 * 1024);
    let err = classify_status(
        "x",
        "GET /y",
        &response(429, &[("retry-after", "7")], &long),
        now(),
    );
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(err.detail.len(), crate::error::MAX_DETAIL_BYTES);
}

#[test]
fn segments_are_rfc3986_encoded() {
    assert_eq!(
        encode_segment("eid:hubspot-deal 7/ä"),
        "eid%3Ahubspot-deal%207%2F%C3%A4"
    );
    assert_eq!(encode_segment("A-z_0.9~"), "A-z_0.9~");
}

#[tokio::test]
async fn execute_records_the_call_and_returns_any_status() {
    let router = Router::new().route(
        "/items/{id}",
        get(|| async { (AxumStatus::NOT_FOUND, "{\"missing\":true}") }),
    );
    let addr = crate::test_support::serve(router).await;
    let client = build_client(&HttpTimeouts::default()).expect("client");
    let calls = CallLog::new();
    let resp = execute(
        &calls,
        "test",
        "GET /items/{id}",
        client.get(format!("http://{addr}/items/42")),
    )
    .await
    .expect("a response");
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(resp.text(), "{\"missing\":true}");
    let call = calls.last().expect("recorded");
    assert_eq!(
        (
            call.system.as_str(),
            call.endpoint.as_str(),
            call.http_status
        ),
        ("test", "GET /items/{id}", 404)
    );
}

#[tokio::test]
async fn oversized_bodies_are_cut_and_refused_as_json() {
    let router = Router::new().route("/big", get(|| async { "7".repeat(MAX_BODY_BYTES + 10) }));
    let addr = crate::test_support::serve(router).await;
    let client = build_client(&HttpTimeouts::default()).expect("client");
    let resp = execute(
        &CallLog::new(),
        "test",
        "GET /big",
        client.get(format!("http://{addr}/big")),
    )
    .await
    .expect("a response");
    assert!(resp.truncated);
    assert_eq!(resp.body.len(), MAX_BODY_BYTES);
    let err = resp
        .json::<serde_json::Value>("test", "GET /big")
        .expect_err("cut body");
    assert_eq!(err.category, ErrorCategory::Protocol);
}

#[tokio::test]
async fn slow_vendors_time_out_as_transient() {
    let router = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let addr = crate::test_support::serve(router).await;
    let timeouts = HttpTimeouts {
        connect_timeout_ms: 1_000,
        request_timeout_ms: 100,
    };
    let client = build_client(&timeouts).expect("client");
    let calls = CallLog::new();
    let err = execute(
        &calls,
        "test",
        "GET /slow",
        client.get(format!("http://{addr}/slow")),
    )
    .await
    .expect_err("timeout");
    assert_eq!(
        (err.kind, err.category, err.http_status),
        (ErrorKind::Transient, ErrorCategory::Timeout, 0)
    );
    assert_eq!(calls.last().expect("recorded").http_status, 0);
}

#[tokio::test]
async fn refused_connections_are_transient() {
    // Bind, learn the port, then close it so the connect is refused.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client = build_client(&HttpTimeouts::default()).expect("client");
    let err = execute(
        &CallLog::new(),
        "test",
        "GET /",
        client.get(format!("http://{addr}/")),
    )
    .await
    .expect_err("refused");
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Transient, ErrorCategory::Connection)
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let router = Router::new().route(
        "/moved",
        get(|| async {
            let mut headers = AxumHeaders::new();
            headers.insert(
                "location",
                "http://127.0.0.1:9/elsewhere".parse().expect("value"),
            );
            (AxumStatus::FOUND, headers, "")
        }),
    );
    let addr = crate::test_support::serve(router).await;
    let client = build_client(&HttpTimeouts::default()).expect("client");
    let resp = execute(
        &CallLog::new(),
        "test",
        "GET /moved",
        client.get(format!("http://{addr}/moved")),
    )
    .await
    .expect("a response");
    assert_eq!(resp.status, StatusCode::FOUND);
    let err = classify_status("test", "GET /moved", &resp, Utc::now());
    assert_eq!(err.category, ErrorCategory::Protocol);
}

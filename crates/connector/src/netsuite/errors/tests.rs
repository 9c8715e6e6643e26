use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::*;

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

/// Shaped like NetSuite's documented error body.
fn body(status: u16, title: &str, code: &str, detail: &str) -> String {
    format!(
        r#"{{"type":"https://www.w3.org/Protocols/rfc9110.html#status.{status}","title":"{title}","status":{status},"o:errorDetails":[{{"detail":"{detail}","o:errorCode":"{code}","o:errorPath":"item.items[0].item"}}]}}"#
    )
}

fn classify_body(status: u16, title: &str, code: &str, detail: &str) -> ConnectorError {
    let resp = response(status, &[], &body(status, title, code, detail));
    classify(
        "POST /services/rest/record/v1/salesOrder",
        &resp,
        Utc::now(),
    )
}

#[test]
fn netsuite_codes_refine_the_status() {
    use ErrorCategory as C;
    use ErrorKind as K;
    let cases = [
        (
            429,
            "Too Many Requests",
            "CONCURRENCY_LIMIT_EXCEEDED",
            K::Transient,
            C::RateLimited,
        ),
        (
            400,
            "Bad Request",
            "CONCURRENCY_LIMIT_EXCEEDED",
            K::Transient,
            C::RateLimited,
        ),
        (
            500,
            "Internal Server Error",
            "UNEXPECTED_ERROR",
            K::Transient,
            C::Unavailable,
        ),
        (
            401,
            "Unauthorized",
            "INVALID_LOGIN",
            K::Auth,
            C::Unauthorized,
        ),
        (
            400,
            "Bad Request",
            "INVALID_LOGIN_ATTEMPT",
            K::Auth,
            C::Unauthorized,
        ),
        (
            404,
            "Not Found",
            "NONEXISTENT_ID",
            K::Permanent,
            C::NotFound,
        ),
        (
            400,
            "Bad Request",
            "NONEXISTENT_ID",
            K::Permanent,
            C::NotFound,
        ),
        (
            400,
            "Bad Request",
            "INVALID_KEY_OR_REF",
            K::Permanent,
            C::Validation,
        ),
        (
            400,
            "Bad Request",
            "USER_ERROR",
            K::Permanent,
            C::Validation,
        ),
        (400, "Bad Request", "DUP_RCRD", K::Permanent, C::Duplicate),
        (
            400,
            "Conflict",
            "IDEMPOTENCY_ERROR",
            K::Permanent,
            C::Duplicate,
        ),
    ];
    for (status, title, code, kind, category) in cases {
        let err = classify_body(status, title, code, "Some detail.");
        assert_eq!(
            (err.kind, err.category),
            (kind, category),
            "{status} {code}"
        );
        assert_eq!(err.http_status, status);
    }
}

#[test]
fn details_are_kept_verbatim_and_summarised_in_the_message() {
    let raw = body(
        400,
        "Bad Request",
        "INVALID_KEY_OR_REF",
        "Invalid item reference key 45.",
    );
    let err = classify("POST /x", &response(400, &[], &raw), Utc::now());
    assert_eq!(err.detail, raw);
    assert_eq!(err.resolution.as_deref(), Some(FIX_ERP_REFERENCE));
    assert!(
        err.message
            .ends_with("Bad Request: INVALID_KEY_OR_REF: Invalid item reference key 45.")
    );
    let err = classify_body(
        400,
        "Bad Request",
        "USER_ERROR",
        "This record already exists.",
    );
    assert_eq!(err.category, ErrorCategory::Duplicate);
}

#[test]
fn unparsable_bodies_fall_back_to_the_status() {
    let err = classify(
        "GET /x",
        &response(503, &[("retry-after", "4")], "<html>down</html>"),
        Utc::now(),
    );
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Transient, ErrorCategory::Unavailable)
    );
    assert_eq!(err.retry_after, Some(Duration::from_secs(4)));
    assert_eq!(err.detail, "<html>down</html>");
    let err = classify("GET /x", &response(403, &[], ""), Utc::now());
    assert_eq!(
        (err.kind, err.resolution.as_deref()),
        (ErrorKind::Auth, Some("check_erp_credentials"))
    );
}

#[test]
fn location_ids_are_the_last_path_segment() {
    let cases = [
        (
            "https://1234567.suitetalk.api.netsuite.com/services/rest/record/v1/salesOrder/647",
            Some("647"),
        ),
        (
            "https://1234567.suitetalk.api.netsuite.com/services/rest/record/v1/customer/1088/",
            Some("1088"),
        ),
        ("/services/rest/record/v1/salesOrder/12?x=1", Some("12")),
        ("https://x.test", None),
        (
            "https://x.test/services/rest/record/v1/salesOrder/eid:ABC",
            None,
        ),
        ("", None),
    ];
    for (location, expected) in cases {
        assert_eq!(
            parse_location_id(location).as_deref(),
            expected,
            "{location}"
        );
    }
}

#[test]
fn a_missing_location_is_a_transient_protocol_error() {
    let err = location_id(&response(204, &[], ""), "POST /x").expect_err("missing");
    assert_eq!(
        (err.kind, err.category, err.http_status),
        (ErrorKind::Transient, ErrorCategory::Protocol, 204)
    );
    let ok = response(
        204,
        &[("location", "https://h/services/rest/record/v1/customer/5")],
        "",
    );
    assert_eq!(location_id(&ok, "POST /x").expect("id"), "5");
}

//! Shared outbound HTTP plumbing: one bounded client, one timed and recorded
//! call helper, and the status-based error classification vendors refine.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::ConfigError;
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// The largest response body read from a vendor, in bytes; the rest is dropped.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Everything outside RFC 3986 "unreserved" (`A-Za-z0-9-._~`) is percent-encoded.
pub const RFC3986_RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Connect and whole-request timeouts of one vendor's HTTP client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HttpTimeouts {
    /// TCP + TLS connect timeout in milliseconds (default 5000).
    pub connect_timeout_ms: u64,
    /// Whole-request timeout, body included, in milliseconds (default 30000).
    pub request_timeout_ms: u64,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 5_000,
            request_timeout_ms: 30_000,
        }
    }
}

impl HttpTimeouts {
    /// Rejects zero timeouts, naming the offending key under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if self.connect_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                format!("{prefix}.connect_timeout_ms"),
                "must be greater than 0",
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                format!("{prefix}.request_timeout_ms"),
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// Builds a client with bounded timeouts that never follows redirects: a vendor
/// redirect is unexpected, and following one could leak the Authorization header.
/// It reaches any address: the registry builds vendor clients with
/// [`crate::outbound::build_guarded_client`], which also refuses non-public ones.
pub fn build_client(timeouts: &HttpTimeouts) -> Result<reqwest::Client, reqwest::Error> {
    client_builder(timeouts).build()
}

/// The settings every vendor client shares (see [`build_client`]).
pub(crate) fn client_builder(timeouts: &HttpTimeouts) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(timeouts.connect_timeout_ms))
        .timeout(Duration::from_millis(timeouts.request_timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("crmerp-connector/", env!("CARGO_PKG_VERSION")))
}

/// A vendor's answer with its body read (at most [`MAX_BODY_BYTES`]).
#[derive(Debug, Clone)]
pub struct VendorResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, possibly cut at [`MAX_BODY_BYTES`].
    pub body: Bytes,
    /// True when the body was longer than [`MAX_BODY_BYTES`] and was cut.
    pub truncated: bool,
}

impl VendorResponse {
    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Parses a successful body as JSON; a cut or unparsable body is a protocol error.
    pub fn json<T: DeserializeOwned>(
        &self,
        system: &'static str,
        endpoint: &str,
    ) -> Result<T, ConnectorError> {
        if self.truncated {
            return Err(protocol_error(
                system,
                endpoint,
                format!("response body larger than {MAX_BODY_BYTES} bytes"),
            )
            .with_status(self.status.as_u16()));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            protocol_error(system, endpoint, format!("unparsable response body: {e}"))
                .with_status(self.status.as_u16())
                .with_detail(&self.text())
        })
    }
}

/// Sends `request`, records it in `calls` under the low-cardinality `endpoint`
/// template, and reads the body. Any HTTP status is returned as `Ok`; only
/// transport failures (timeout, connection, broken body) are errors.
///
/// The call log keeps no response body: authentication calls come this way
/// and their answers hold credentials. Data calls go through the
/// [`crate::http_kit::VendorClient`], which keeps it.
///
/// Each call is a `vendor.call` client span, and the request carries its W3C
/// `traceparent` (through the global propagator), so the vendor call sits in
/// the deal's trace and a tracing-aware vendor can continue it.
pub async fn execute(
    calls: &CallLog,
    system: &'static str,
    endpoint: &str,
    request: RequestBuilder,
) -> Result<VendorResponse, ConnectorError> {
    execute_call(calls, system, endpoint, request, false).await
}

/// [`execute`], keeping the response body (up to 10 KB) in the call log.
pub(crate) async fn execute_keeping_body(
    calls: &CallLog,
    system: &'static str,
    endpoint: &str,
    request: RequestBuilder,
) -> Result<VendorResponse, ConnectorError> {
    execute_call(calls, system, endpoint, request, true).await
}

async fn execute_call(
    calls: &CallLog,
    system: &'static str,
    endpoint: &str,
    request: RequestBuilder,
    keep_body: bool,
) -> Result<VendorResponse, ConnectorError> {
    use tracing::Instrument as _;

    struct TraceHeaders<'a>(&'a mut HeaderMap);
    impl opentelemetry::propagation::Injector for TraceHeaders<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(key.as_bytes()),
                reqwest::header::HeaderValue::from_str(&value),
            ) {
                self.0.insert(name, value);
            }
        }
    }

    let span = tracing::info_span!("vendor.call", otel.kind = "client", system, endpoint);
    // Entering the span makes its context current for the propagator.
    let request = span.in_scope(|| {
        let mut headers = HeaderMap::new();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject(&mut TraceHeaders(&mut headers));
        });
        request.headers(headers)
    });
    execute_traced(calls, system, endpoint, request, keep_body)
        .instrument(span)
        .await
}

async fn execute_traced(
    calls: &CallLog,
    system: &'static str,
    endpoint: &str,
    request: RequestBuilder,
    keep_body: bool,
) -> Result<VendorResponse, ConnectorError> {
    let started = Instant::now();
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => {
            let elapsed = started.elapsed();
            calls.record(system, endpoint, 0, elapsed);
            tracing::debug!(system, endpoint, elapsed_ms = elapsed.as_millis(), error = %err, "Vendor call failed without a response.");
            return Err(transport_error(system, endpoint, &err));
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_bounded(response).await;
    let elapsed = started.elapsed();
    let kept: &[u8] = match &body {
        Ok((bytes, _)) if keep_body => bytes,
        _ => &[],
    };
    calls.record_with_body(system, endpoint, status.as_u16(), elapsed, kept);
    tracing::debug!(
        system,
        endpoint,
        status = status.as_u16(),
        elapsed_ms = elapsed.as_millis(),
        "Vendor call answered."
    );
    let (body, truncated) =
        body.map_err(|err| transport_error(system, endpoint, &err).with_status(status.as_u16()))?;
    Ok(VendorResponse {
        status,
        headers,
        body,
        truncated,
    })
}

/// Reads at most [`MAX_BODY_BYTES`], so a misbehaving vendor cannot exhaust memory.
async fn read_bounded(mut response: reqwest::Response) -> Result<(Bytes, bool), reqwest::Error> {
    let mut buf = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - buf.len();
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            return Ok((Bytes::from(buf), true));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((Bytes::from(buf), false))
}

/// Classifies a failure that produced no usable response.
pub fn transport_error(
    system: &'static str,
    endpoint: &str,
    err: &reqwest::Error,
) -> ConnectorError {
    if let Some(refused) = crate::outbound::refusal(err) {
        // A policy refusal never heals by retrying: the configuration must change.
        return ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Connection,
            system,
            endpoint,
            refused.to_string(),
        );
    }
    let (kind, category, message) = if err.is_timeout() {
        (
            ErrorKind::Transient,
            ErrorCategory::Timeout,
            "no answer within the timeout",
        )
    } else if err.is_connect() {
        (
            ErrorKind::Transient,
            ErrorCategory::Connection,
            "could not connect",
        )
    } else if err.is_builder() {
        // An unbuildable request (bad URL, bad header) will never work as configured.
        (
            ErrorKind::Permanent,
            ErrorCategory::Protocol,
            "could not build the request",
        )
    } else {
        // Resets and broken bodies mid-flight: the connection, not the request, failed.
        (
            ErrorKind::Transient,
            ErrorCategory::Connection,
            "connection failed during the exchange",
        )
    };
    ConnectorError::new(
        kind,
        category,
        system,
        endpoint,
        format!("{message}: {err}"),
    )
}

/// A vendor answer we cannot interpret.
pub fn protocol_error(
    system: &'static str,
    endpoint: &str,
    message: impl Into<String>,
) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Permanent,
        ErrorCategory::Protocol,
        system,
        endpoint,
        message,
    )
}

/// Classifies a non-2xx response by status alone; vendor modules refine it from
/// the vendor's error codes. The body is kept verbatim (truncated) as detail.
pub fn classify_status(
    system: &'static str,
    endpoint: &str,
    response: &VendorResponse,
    now: DateTime<Utc>,
) -> ConnectorError {
    use ErrorCategory as C;
    use ErrorKind as K;
    let status = response.status.as_u16();
    let (kind, category, message) = match status {
        429 => (K::Transient, C::RateLimited, "rate limited"),
        408 => (
            K::Transient,
            C::Unavailable,
            "request timed out at the vendor",
        ),
        500..=599 => (K::Transient, C::Unavailable, "vendor unavailable"),
        401 | 403 => (K::Auth, C::Unauthorized, "credentials rejected"),
        404 => (K::Permanent, C::NotFound, "not found"),
        409 => (
            K::Permanent,
            C::Duplicate,
            "conflict with an existing record",
        ),
        400..=499 => (K::Permanent, C::Validation, "request rejected"),
        300..=399 => (K::Permanent, C::Protocol, "unexpected redirect"),
        _ => (K::Permanent, C::Protocol, "unexpected status"),
    };
    let retry_after = response
        .headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    ConnectorError::new(kind, category, system, endpoint, message)
        .with_status(status)
        .with_detail(&response.text())
        .with_retry_after(retry_after)
}

/// Parses `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
/// A date in the past means "now" (zero wait).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Percent-encodes one URL path segment (RFC 3986 unreserved characters kept).
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, RFC3986_RESERVED).to_string()
}

#[cfg(test)]
mod tests;

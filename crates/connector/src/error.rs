//! One error type for every vendor, classified for retry decisions.

use std::fmt;
use std::time::Duration;

/// The largest vendor error detail kept, in bytes.
pub const MAX_DETAIL_BYTES: usize = 10 * 1024;

/// Whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The same request may succeed later (5xx, 429, timeouts, connection errors).
    Transient,
    /// The request can never succeed as it is (validation, not found, duplicate).
    Permanent,
    /// Credentials were rejected: retrying each event cannot fix it, but the flow
    /// should pause and alert rather than dead-letter every event.
    Auth,
}

/// Machine-readable error category, stable across vendors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    /// 429 or a vendor concurrency limit.
    RateLimited,
    /// 5xx or a vendor "try later" code.
    Unavailable,
    /// No answer within the timeout.
    Timeout,
    /// Connection refused, reset or DNS failure.
    Connection,
    /// The vendor rejected the payload.
    Validation,
    /// A referenced record does not exist.
    NotFound,
    /// The record already exists (duplicate external reference).
    Duplicate,
    /// Credentials rejected (401/403).
    Unauthorized,
    /// The record lacks data the flow needs (our own validation).
    MissingData,
    /// An item/SKU is unknown to the ERP.
    UnknownItem,
    /// The vendor answered something we cannot parse.
    Protocol,
    /// Another worker holds the record's claim (or the claim store did not
    /// answer): nothing is wrong with the vendor, the attempt is retried.
    Contended,
}

impl ErrorCategory {
    /// The stable snake_case name used in outcomes, dead letters and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::Validation => "validation",
            Self::NotFound => "not_found",
            Self::Duplicate => "duplicate",
            Self::Unauthorized => "unauthorized",
            Self::MissingData => "missing_data",
            Self::UnknownItem => "unknown_item",
            Self::Protocol => "protocol",
            Self::Contended => "contended",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure of a vendor call (or of our validation of vendor data).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{system} {endpoint}: {message} ({category}, http {http_status})")]
pub struct ConnectorError {
    /// Retry decision.
    pub kind: ErrorKind,
    /// Machine-readable category.
    pub category: ErrorCategory,
    /// System name, e.g. "netsuite".
    pub system: &'static str,
    /// Method and path template, e.g. "POST /services/rest/record/v1/salesOrder".
    pub endpoint: String,
    /// HTTP status, 0 when no response was received.
    pub http_status: u16,
    /// Short human-readable message.
    pub message: String,
    /// The vendor's error body, verbatim, truncated to [`MAX_DETAIL_BYTES`].
    pub detail: String,
    /// How long the vendor asked us to wait, if it said.
    pub retry_after: Option<Duration>,
    /// Recommended resolution code for an operator, e.g. `create_item_in_erp:SKU-1`.
    pub resolution: Option<String>,
}

impl ConnectorError {
    /// A new error with no detail, retry hint or resolution.
    pub fn new(
        kind: ErrorKind,
        category: ErrorCategory,
        system: &'static str,
        endpoint: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            category,
            system,
            endpoint: endpoint.into(),
            http_status: 0,
            message: message.into(),
            detail: String::new(),
            retry_after: None,
            resolution: None,
        }
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = status;
        self
    }

    /// Sets the vendor detail, truncated to [`MAX_DETAIL_BYTES`].
    pub fn with_detail(mut self, detail: &str) -> Self {
        self.detail = truncate_detail(detail).to_owned();
        self
    }

    /// Sets the vendor's requested wait.
    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// Sets the recommended resolution code.
    pub fn with_resolution(mut self, code: impl Into<String>) -> Self {
        self.resolution = Some(code.into());
        self
    }

    /// True when a retry may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}

/// Cuts `text` to at most [`MAX_DETAIL_BYTES`] bytes on a character boundary.
pub fn truncate_detail(text: &str) -> &str {
    if text.len() <= MAX_DETAIL_BYTES {
        return text;
    }
    let mut end = MAX_DETAIL_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_char_boundaries() {
        let long = "é".repeat(MAX_DETAIL_BYTES);
        let cut = truncate_detail(&long);
        assert!(cut.len() <= MAX_DETAIL_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate_detail("short"), "short");
    }
}

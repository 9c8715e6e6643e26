//! Deal validation (the rule lives in `crmerp-rules`, shared with monitoring's
//! corrections) and its failure as a connector-style error.

use crmerp_connector::{ConnectorError, ErrorCategory, ErrorKind};
pub use crmerp_rules::deal::{Invalid, validate_deal};

/// An invalid deal as a permanent connector-style error, so the runtime treats it uniformly.
pub fn invalid_error(invalid: Invalid, system: &'static str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Permanent,
        ErrorCategory::MissingData,
        system,
        "validate deal",
        invalid.reason,
    )
    .with_resolution(invalid.resolution)
}

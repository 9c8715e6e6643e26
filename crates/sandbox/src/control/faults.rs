//! Fault injection: make matching vendor requests fail, stall or drop their connection.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::util::lock;

/// A fault to inject into vendor requests, as posted to `POST /__sandbox/faults`.
///
/// With the default `body` (`vendor`), `status` selects the behaviour: `0` drops the connection
/// without answering, a 2xx status only adds `latency_ms` and then serves the request normally
/// (then holds the answer `respond_after_ms`: applied, but late), and any other status answers
/// with the vendor's own error body for that status. The other `body` modes answer without
/// serving the request (nothing is applied): `malformed` and `oversized` with a 2xx `status`,
/// `redirect` with a 3xx `status` and a `location`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// HTTP status to answer with; `0` drops the connection.
    pub status: u16,
    /// Probability in `[0, 1]` that a matching request is faulted.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Delay before the fault (or, for 2xx, before serving the request).
    #[serde(default)]
    pub latency_ms: u64,
    /// Value of a `Retry-After` header (seconds) on the faulted response.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Only requests whose path starts with this prefix are faulted.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Stop after this many injected faults.
    #[serde(default)]
    pub count: Option<u64>,
    /// Only requests with this HTTP method are faulted (e.g. `POST`, so the
    /// look-up before a create is not).
    #[serde(default)]
    pub method: Option<String>,
    /// What the faulted answer carries (default `vendor`).
    #[serde(default)]
    pub body: FaultBody,
    /// `Location` of a `redirect` answer.
    #[serde(default)]
    pub location: Option<String>,
    /// With a 2xx `status` and the `vendor` body: serve the request, then hold
    /// the answer this long (a create applied whose answer comes too late).
    #[serde(default)]
    pub respond_after_ms: u64,
}

/// The body of a faulted answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultBody {
    /// The vendor's own answer: its error body, or the real answer for a 2xx.
    #[default]
    Vendor,
    /// A JSON content type with a cut-off, unparsable JSON body.
    Malformed,
    /// A JSON body of [`OVERSIZED_BODY_BYTES`].
    Oversized,
    /// An empty answer with `Location: <location>`.
    Redirect,
}

/// Size of an `oversized` answer: well past any client's sensible read limit.
pub const OVERSIZED_BODY_BYTES: usize = 4 * 1024 * 1024;

fn default_rate() -> f64 {
    1.0
}

impl FaultSpec {
    /// Checks the values, returning a message for the caller when they make no sense.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.status != 0 && !(200..=599).contains(&self.status) {
            return Err(format!(
                "status must be 0 or an HTTP status in 200..=599, got {}",
                self.status
            ));
        }
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!("rate must be within [0, 1], got {}", self.rate));
        }
        if let Some(method) = &self.method
            && axum::http::Method::from_bytes(method.as_bytes()).is_err()
        {
            return Err(format!("method {method:?} is not an HTTP method"));
        }
        let success = (200..300).contains(&self.status);
        match self.body {
            FaultBody::Vendor => {}
            FaultBody::Malformed | FaultBody::Oversized if !success => {
                return Err(format!(
                    "a {:?} body needs a 2xx status, got {}",
                    self.body, self.status
                ));
            }
            FaultBody::Malformed | FaultBody::Oversized => {}
            FaultBody::Redirect => {
                if !(300..400).contains(&self.status) {
                    return Err(format!(
                        "a redirect needs a 3xx status, got {}",
                        self.status
                    ));
                }
                if self.location.as_deref().is_none_or(str::is_empty) {
                    return Err("a redirect needs a location".to_owned());
                }
            }
        }
        if self.respond_after_ms > 0 && !(success && self.body == FaultBody::Vendor) {
            return Err("respond_after_ms needs a 2xx status and the vendor body".to_owned());
        }
        Ok(())
    }
}

/// The active fault and how many times it fired.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FaultStatus {
    /// The active fault, if any.
    pub(crate) fault: Option<FaultSpec>,
    /// Faults injected since it was set.
    pub(crate) injected: u64,
    /// Faults left before it stops (`null` when unbounded or none is set).
    pub(crate) remaining: Option<u64>,
}

#[derive(Debug, Default)]
struct Active {
    spec: Option<FaultSpec>,
    injected: u64,
}

/// Holds the current fault and decides per request whether it fires.
#[derive(Debug, Default)]
pub(crate) struct FaultInjector {
    armed: AtomicBool,
    active: Mutex<Active>,
}

impl FaultInjector {
    /// Replaces the active fault.
    pub(crate) fn set(&self, spec: FaultSpec) {
        let mut active = lock(&self.active);
        *active = Active {
            spec: Some(spec),
            injected: 0,
        };
        self.armed.store(true, Ordering::Release);
    }

    /// Removes the active fault.
    pub(crate) fn clear(&self) {
        let mut active = lock(&self.active);
        *active = Active::default();
        self.armed.store(false, Ordering::Release);
    }

    /// Describes the active fault.
    pub(crate) fn status(&self) -> FaultStatus {
        let active = lock(&self.active);
        FaultStatus {
            fault: active.spec.clone(),
            injected: active.injected,
            remaining: active
                .spec
                .as_ref()
                .and_then(|spec| spec.count)
                .map(|count| count.saturating_sub(active.injected)),
        }
    }

    /// Returns the fault to inject into a `method` request for `path`, if one fires.
    pub(crate) fn decide(&self, method: &str, path: &str) -> Option<FaultSpec> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut active = lock(&self.active);
        let spec = active.spec.as_ref()?;
        if spec
            .path_prefix
            .as_deref()
            .is_some_and(|prefix| !path.starts_with(prefix))
            || spec
                .method
                .as_deref()
                .is_some_and(|only| !only.eq_ignore_ascii_case(method))
        {
            return None;
        }
        if spec.count.is_some_and(|count| active.injected >= count) {
            return None;
        }
        if spec.rate < 1.0 && rand::random::<f64>() >= spec.rate {
            return None;
        }
        let spec = spec.clone();
        active.injected += 1;
        Some(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(status: u16) -> FaultSpec {
        FaultSpec {
            status,
            rate: 1.0,
            latency_ms: 0,
            retry_after_secs: None,
            path_prefix: None,
            count: None,
            method: None,
            body: FaultBody::Vendor,
            location: None,
            respond_after_ms: 0,
        }
    }

    #[test]
    fn honours_the_method() {
        let faults = FaultInjector::default();
        faults.set(FaultSpec {
            method: Some("post".to_owned()),
            ..spec(503)
        });
        assert!(faults.decide("GET", "/x").is_none());
        assert!(faults.decide("POST", "/x").is_some());
    }

    #[test]
    fn body_modes_need_fitting_statuses() {
        let with = |status, body, location: Option<&str>| FaultSpec {
            body,
            location: location.map(str::to_owned),
            ..spec(status)
        };
        assert!(with(200, FaultBody::Oversized, None).validate().is_ok());
        assert!(with(503, FaultBody::Malformed, None).validate().is_err());
        assert!(with(302, FaultBody::Redirect, None).validate().is_err());
        assert!(
            with(200, FaultBody::Redirect, Some("http://x"))
                .validate()
                .is_err()
        );
        assert!(
            with(307, FaultBody::Redirect, Some("http://x"))
                .validate()
                .is_ok()
        );
        let late = FaultSpec {
            respond_after_ms: 10,
            ..spec(503)
        };
        assert!(late.validate().is_err());
        assert!(
            FaultSpec {
                method: Some("NOT A METHOD".to_owned()),
                ..spec(503)
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn honours_prefix_and_count() {
        let faults = FaultInjector::default();
        assert!(faults.decide("GET", "/x").is_none());
        faults.set(FaultSpec {
            path_prefix: Some("/crm".to_owned()),
            count: Some(2),
            ..spec(503)
        });
        assert!(faults.decide("GET", "/other").is_none());
        assert!(faults.decide("GET", "/crm/v3").is_some());
        assert!(faults.decide("GET", "/crm/v3").is_some());
        assert!(faults.decide("GET", "/crm/v3").is_none());
        assert_eq!(faults.status().remaining, Some(0));
        faults.clear();
        assert!(faults.status().fault.is_none());
    }

    #[test]
    fn rejects_nonsense() {
        assert!(spec(42).validate().is_err());
        assert!(
            FaultSpec {
                rate: 2.0,
                ..spec(503)
            }
            .validate()
            .is_err()
        );
        assert!(spec(0).validate().is_ok());
    }
}

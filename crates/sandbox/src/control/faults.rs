//! Fault injection: make matching vendor requests fail, stall or drop their connection.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::util::lock;

/// A fault to inject into vendor requests, as posted to `POST /__sandbox/faults`.
///
/// `status` selects the behaviour: `0` drops the connection without answering, a 2xx status only
/// adds `latency_ms` and then serves the request normally, and any other status answers with the
/// vendor's own error body for that status.
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
}

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

    /// Returns the fault to inject into a request for `path`, if one fires.
    pub(crate) fn decide(&self, path: &str) -> Option<FaultSpec> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut active = lock(&self.active);
        let spec = active.spec.as_ref()?;
        if spec
            .path_prefix
            .as_deref()
            .is_some_and(|prefix| !path.starts_with(prefix))
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
        }
    }

    #[test]
    fn honours_prefix_and_count() {
        let faults = FaultInjector::default();
        assert!(faults.decide("/x").is_none());
        faults.set(FaultSpec {
            path_prefix: Some("/crm".to_owned()),
            count: Some(2),
            ..spec(503)
        });
        assert!(faults.decide("/other").is_none());
        assert!(faults.decide("/crm/v3").is_some());
        assert!(faults.decide("/crm/v3").is_some());
        assert!(faults.decide("/crm/v3").is_none());
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

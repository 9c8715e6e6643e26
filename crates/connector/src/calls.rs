//! A record of the vendor calls made while processing one event.

use std::sync::Mutex;
use std::time::Duration;

use crmerp_proto::VendorCall;

/// Collects every vendor call of one processing attempt, for the outcome event.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<VendorCall>>,
}

impl CallLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one call. `http_status` is 0 when no response was received.
    pub fn record(&self, system: &str, endpoint: &str, http_status: u16, elapsed: Duration) {
        let call = VendorCall {
            system: system.to_owned(),
            endpoint: endpoint.to_owned(),
            http_status: u32::from(http_status),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        };
        // A poisoned lock only means another recorder panicked; the data is still usable.
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.push(call);
    }

    /// Every call recorded so far, oldest first.
    pub fn snapshot(&self) -> Vec<VendorCall> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The most recent call, if any.
    pub fn last(&self) -> Option<VendorCall> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
    }
}

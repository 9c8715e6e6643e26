//! A record of the vendor calls made while processing one event.

use std::sync::Mutex;
use std::time::Duration;

use crmerp_proto::VendorCall;

use crate::truncate_detail;

/// Collects every vendor call of one processing attempt, for the outcome event.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<VendorCall>>,
}

/// Methods that only read; the result of an operation that creates is its first successful write.
fn is_read(endpoint: &str) -> bool {
    let method = endpoint
        .split_once(' ')
        .map_or(endpoint, |(method, _)| method);
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

impl CallLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<VendorCall>> {
        // A poisoned lock only means another recorder panicked; the data is still usable.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one call. `http_status` is 0 when no response was received.
    pub fn record(&self, system: &str, endpoint: &str, http_status: u16, elapsed: Duration) {
        self.record_with_body(system, endpoint, http_status, elapsed, &[]);
    }

    /// Records one call with its response body, kept up to 10 KB (lossy UTF-8).
    /// The body is stored as the vendor sent it: whoever publishes it redacts it.
    pub fn record_with_body(
        &self,
        system: &str,
        endpoint: &str,
        http_status: u16,
        elapsed: Duration,
        body: &[u8],
    ) {
        let text = String::from_utf8_lossy(body);
        let call = VendorCall {
            system: system.to_owned(),
            endpoint: endpoint.to_owned(),
            http_status: u32::from(http_status),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            response_body: truncate_detail(&text).to_owned(),
            result: false,
        };
        self.lock().push(call);
    }

    /// How many calls are recorded so far: a start for [`CallLog::mark_result_since`].
    pub fn position(&self) -> usize {
        self.lock().len()
    }

    /// Marks the call that produced the attempt's result among those recorded
    /// since `from` (a [`CallLog::position`]): the first successful write (a
    /// create), else the last call (a look-up). Any earlier mark is cleared.
    pub fn mark_result_since(&self, from: usize) {
        let mut calls = self.lock();
        let Some(since) = calls.get(from..) else {
            return;
        };
        let chosen = since
            .iter()
            .position(|c| !is_read(&c.endpoint) && (200..300).contains(&c.http_status))
            .or_else(|| since.len().checked_sub(1))
            .map(|i| from + i);
        for (i, call) in calls.iter_mut().enumerate() {
            call.result = Some(i) == chosen;
        }
    }

    /// The call marked as the attempt's result, if any.
    pub fn result(&self) -> Option<VendorCall> {
        self.lock().iter().find(|c| c.result).cloned()
    }

    /// Every call recorded so far, oldest first.
    pub fn snapshot(&self) -> Vec<VendorCall> {
        self.lock().clone()
    }

    /// The most recent call, if any.
    pub fn last(&self) -> Option<VendorCall> {
        self.lock().last().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(calls: &[(&str, u16)]) -> CallLog {
        let log = CallLog::new();
        for (endpoint, status) in calls {
            log.record_with_body("erp", endpoint, *status, Duration::from_millis(3), b"{}");
        }
        log
    }

    #[test]
    fn the_result_of_a_create_is_its_first_successful_write() {
        let calls = log(&[
            ("GET /deals/{id}", 200),
            ("GET /orders?ref={ref}", 200),
            ("GET /items?sku={sku}", 200),
            ("POST /orders", 201),
            ("GET /orders/{id}", 200),
            ("PATCH /deals/{id}", 200),
        ]);
        calls.mark_result_since(2);
        let result = calls.result().map(|c| c.endpoint);
        assert_eq!(result.as_deref(), Some("POST /orders"));
        assert_eq!(calls.snapshot().iter().filter(|c| c.result).count(), 1);
    }

    #[test]
    fn the_result_of_a_look_up_is_its_last_call_and_a_new_mark_replaces_the_old() {
        let calls = log(&[("GET /deals/{id}", 200), ("GET /orders?ref={ref}", 200)]);
        calls.mark_result_since(0);
        assert_eq!(
            calls.result().map(|c| c.endpoint).as_deref(),
            Some("GET /orders?ref={ref}")
        );
        calls.record("erp", "POST /orders", 500, Duration::ZERO);
        calls.mark_result_since(2);
        assert_eq!(
            calls.result().map(|c| (c.endpoint, c.http_status)),
            Some(("POST /orders".to_owned(), 500))
        );
        assert_eq!(calls.snapshot().iter().filter(|c| c.result).count(), 1);
        // Nothing recorded since the start: no result.
        calls.mark_result_since(3);
        assert!(calls.result().is_none());
    }

    #[test]
    fn bodies_are_kept_up_to_10_kb() {
        let calls = CallLog::new();
        calls.record_with_body("erp", "POST /orders", 201, Duration::ZERO, &[b'x'; 20_000]);
        calls.record("erp", "POST /token", 200, Duration::ZERO);
        let kept = calls.snapshot();
        assert_eq!(kept[0].response_body.len(), 10 * 1024);
        assert_eq!(kept[1].response_body, "");
    }
}

//! What every simulator's outbound notifications share: attempts retried on the
//! configured schedule until one is accepted, and a bounded delivery log.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use crate::config::RetryPolicy;
use crate::util::lock;

/// Deliveries kept in a log.
const LOG_CAPACITY: usize = 10_000;

/// Runs `attempt(n)` (0-based) until it answers `Some(true)` (accepted) or
/// `None` (nothing to deliver to any more), the attempts are spent, or
/// `shutdown` fires; waits the policy's delay between attempts.
pub(crate) async fn with_retry<F, Fut>(
    retry: RetryPolicy,
    shutdown: &CancellationToken,
    mut attempt: F,
) where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Option<bool>>,
{
    for n in 0..retry.max_attempts.max(1) {
        let accepted = tokio::select! {
            accepted = attempt(n) => accepted,
            () = shutdown.cancelled() => return,
        };
        if accepted != Some(false) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(retry.delay_after(n)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Sends one request: `(status, error, body)`; `error` is set for transport
/// failures and non-2xx answers.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
) -> (Option<u16>, Option<String>, String) {
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let error = (!status.is_success()).then(|| format!("HTTP {status}"));
            (Some(status.as_u16()), error, body)
        }
        Err(error) => (None, Some(error.to_string()), String::new()),
    }
}

/// The last [`LOG_CAPACITY`] delivery records, oldest first.
pub(crate) struct DeliveryLog<T> {
    entries: Mutex<VecDeque<T>>,
}

impl<T> Default for DeliveryLog<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl<T: Clone> DeliveryLog<T> {
    /// Appends a record, dropping the oldest when full.
    pub(crate) fn push(&self, record: T) {
        let mut entries = lock(&self.entries);
        if entries.len() >= LOG_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(record);
    }

    /// Every record.
    pub(crate) fn all(&self) -> Vec<T> {
        lock(&self.entries).iter().cloned().collect()
    }

    /// Empties the log.
    pub(crate) fn clear(&self) {
        lock(&self.entries).clear();
    }
}

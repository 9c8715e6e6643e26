//! One rate gate for every vendor: it learns from each answer how long calls
//! must be held back and, before the next call, waits that out or fails fast.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::http_client::VendorResponse;
use crate::{ConnectorError, ErrorCategory, ErrorKind};

/// Requests left in the current window (the common `X-RateLimit-*` convention).
const REMAINING: &str = "x-ratelimit-remaining";
/// Seconds until the window resets.
const RESET: &str = "x-ratelimit-reset";

/// How one vendor signals and wants us to treat its rate limits.
#[derive(Debug, Clone, Copy)]
pub struct RatePolicy {
    /// Waits up to this long are sat out; longer ones fail fast as rate limited
    /// (the flow reschedules instead of blocking a worker). Zero: never wait.
    pub max_wait: Duration,
    /// The hold when the vendor says "none left" without saying for how long.
    pub default_window: Duration,
    /// Vendor-specific headers beyond `Retry-After` and `X-RateLimit-*`: the
    /// hold they ask for, if any.
    pub vendor_hold: fn(&VendorResponse) -> Option<Duration>,
    /// The message of the fail-fast error.
    pub spent_message: &'static str,
}

/// Holds calls back while a vendor says its limit is spent. Shared by every
/// task using one connector value; no global state.
///
/// It learns from a rate-limited error (its `retry_after`, which the
/// classification took from `Retry-After` or the vendor's own headers),
/// from `X-RateLimit-Remaining: 0` (until `X-RateLimit-Reset`), and from the
/// policy's vendor headers; the longest hold wins.
#[derive(Debug)]
pub struct RateGate {
    policy: RatePolicy,
    blocked_until: Mutex<Option<Instant>>,
}

/// A policy without vendor-specific headers.
pub fn no_vendor_hold(_: &VendorResponse) -> Option<Duration> {
    None
}

impl RateGate {
    /// A gate following `policy`.
    pub fn new(policy: RatePolicy) -> Self {
        Self {
            policy,
            blocked_until: Mutex::new(None),
        }
    }

    /// How long calls must still wait, if at all.
    pub fn remaining(&self) -> Option<Duration> {
        let until = (*self.lock())?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    /// Waits out a spent window, or fails fast (transient, rate limited, with
    /// the wait as `retry_after`) when it is longer than the policy's maximum.
    pub async fn wait(&self, system: &'static str, endpoint: &str) -> Result<(), ConnectorError> {
        let Some(wait) = self.remaining() else {
            return Ok(());
        };
        if wait > self.policy.max_wait {
            return Err(ConnectorError::new(
                ErrorKind::Transient,
                ErrorCategory::RateLimited,
                system,
                endpoint,
                self.policy.spent_message,
            )
            .with_retry_after(Some(wait)));
        }
        tracing::debug!(
            system,
            endpoint,
            wait_ms = wait.as_millis(),
            "Waiting for the vendor's rate-limit window."
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Learns from an answer and, for a non-2xx one, its classified error.
    pub fn observe(&self, response: &VendorResponse, error: Option<&ConnectorError>) {
        let from_error = error
            .filter(|e| e.category == ErrorCategory::RateLimited)
            .map(|e| e.retry_after.unwrap_or(self.policy.default_window));
        let from_headers = (response
            .header(REMAINING)
            .and_then(|v| v.trim().parse::<u64>().ok())
            == Some(0))
        .then(|| {
            response
                .header(RESET)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(self.policy.default_window, Duration::from_secs)
        });
        let hold = [
            from_error,
            from_headers,
            (self.policy.vendor_hold)(response),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(hold) = hold {
            tracing::debug!(
                hold_ms = hold.as_millis(),
                "Vendor rate limit spent; holding calls back."
            );
            self.block_for(hold);
        }
    }

    fn block_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = self.lock();
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // A poisoned lock only means another task panicked; the instant is still valid.
        self.blocked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

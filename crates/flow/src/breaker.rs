//! The circuit breaker: pause fetching while a vendor is plainly down or
//! rejects our credentials, instead of burning every event's retries.
//!
//! One breaker per vendor system. It opens after `threshold` consecutive
//! outage failures (5xx, timeouts, connection errors) or at once on a rejected
//! credential (401/403), and closes when a probe succeeds. While any breaker is
//! open the runtime fetches nothing; events wait in JetStream, in order.

use std::collections::HashMap;
use std::sync::Mutex;

use crmerp_connector::{ConnectorError, ErrorCategory, ErrorKind};
use tokio::sync::watch;

/// A breaker that changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The vendor system.
    pub system: String,
    /// True when it opened.
    pub open: bool,
    /// The last error's message (open) or a note (close).
    pub reason: String,
    /// The last error's category.
    pub category: String,
    /// Consecutive failures when it opened.
    pub consecutive: u32,
}

#[derive(Debug, Default)]
struct SystemState {
    consecutive: u32,
    open: bool,
}

/// Breakers of every vendor one flow talks to.
#[derive(Debug)]
pub struct Breakers {
    threshold: u32,
    systems: Mutex<HashMap<String, SystemState>>,
    open_count: watch::Sender<usize>,
}

impl Breakers {
    /// Breakers that open after `threshold` consecutive outage failures.
    pub fn new(threshold: u32) -> Self {
        Self {
            threshold,
            systems: Mutex::new(HashMap::new()),
            open_count: watch::Sender::new(0),
        }
    }

    /// Records a failure; returns the transition when a breaker opened.
    pub fn record_failure(&self, error: &ConnectorError) -> Option<Transition> {
        let trips_at_once = error.kind == ErrorKind::Auth;
        let counts = trips_at_once
            || (error.kind == ErrorKind::Transient
                && matches!(
                    error.category,
                    ErrorCategory::Unavailable | ErrorCategory::Timeout | ErrorCategory::Connection
                ));
        let mut systems = self.lock();
        let state = systems.entry(error.system.to_owned()).or_default();
        if !counts {
            // A vendor that answers with a business error is up.
            state.consecutive = 0;
            return None;
        }
        state.consecutive = state.consecutive.saturating_add(1);
        if state.open || !(trips_at_once || state.consecutive >= self.threshold) {
            return None;
        }
        state.open = true;
        let consecutive = state.consecutive;
        self.publish_count(&systems);
        Some(Transition {
            system: error.system.to_owned(),
            open: true,
            reason: error.message.clone(),
            category: error.category.as_str().to_owned(),
            consecutive,
        })
    }

    /// Records that `system` answered normally.
    pub fn record_success(&self, system: &str) {
        let mut systems = self.lock();
        if let Some(state) = systems.get_mut(system)
            && !state.open
        {
            state.consecutive = 0;
        }
    }

    /// Closes `system`'s breaker after a successful probe; returns the transition.
    pub fn close(&self, system: &str) -> Option<Transition> {
        let mut systems = self.lock();
        let state = systems.get_mut(system)?;
        if !state.open {
            return None;
        }
        state.open = false;
        state.consecutive = 0;
        self.publish_count(&systems);
        Some(Transition {
            system: system.to_owned(),
            open: false,
            reason: "probe succeeded; resuming".to_owned(),
            category: String::new(),
            consecutive: 0,
        })
    }

    /// The systems whose breaker is open.
    pub fn open_systems(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, s)| s.open)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// True when any breaker is open (the flow is paused).
    pub fn any_open(&self) -> bool {
        *self.open_count.borrow() > 0
    }

    /// Resolves when no breaker is open.
    pub async fn wait_all_closed(&self) {
        let mut receiver = self.open_count.subscribe();
        // `wait_for` only fails when the sender is gone, and `self` owns it.
        let _ = receiver.wait_for(|open| *open == 0).await;
    }

    fn publish_count(&self, systems: &HashMap<String, SystemState>) {
        let open = systems.values().filter(|s| s.open).count();
        self.open_count.send_replace(open);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SystemState>> {
        // A poisoned lock only means a panic elsewhere; the counters are still valid.
        self.systems.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: ErrorKind, category: ErrorCategory) -> ConnectorError {
        ConnectorError::new(kind, category, "netsuite", "POST /x", "down")
    }

    #[test]
    fn opens_after_threshold_outage_failures_and_closes_on_probe() {
        let breakers = Breakers::new(3);
        let outage = error(ErrorKind::Transient, ErrorCategory::Unavailable);
        assert!(breakers.record_failure(&outage).is_none());
        assert!(breakers.record_failure(&outage).is_none());
        let opened = breakers.record_failure(&outage).expect("opens");
        assert!(opened.open);
        assert_eq!(opened.consecutive, 3);
        assert!(breakers.any_open());
        assert!(breakers.record_failure(&outage).is_none(), "already open");
        assert_eq!(breakers.open_systems(), vec!["netsuite".to_owned()]);
        let closed = breakers.close("netsuite").expect("closes");
        assert!(!closed.open);
        assert!(!breakers.any_open());
        assert!(breakers.close("netsuite").is_none());
    }

    #[test]
    fn rejected_credentials_open_at_once() {
        let breakers = Breakers::new(5);
        let opened = breakers
            .record_failure(&error(ErrorKind::Auth, ErrorCategory::Unauthorized))
            .expect("opens");
        assert_eq!(opened.category, "unauthorized");
    }

    #[test]
    fn business_errors_and_successes_reset_the_count() {
        let breakers = Breakers::new(2);
        let outage = error(ErrorKind::Transient, ErrorCategory::Timeout);
        assert!(breakers.record_failure(&outage).is_none());
        breakers.record_success("netsuite");
        assert!(breakers.record_failure(&outage).is_none());
        assert!(
            breakers
                .record_failure(&error(ErrorKind::Permanent, ErrorCategory::Validation))
                .is_none()
        );
        assert!(breakers.record_failure(&outage).is_none());
        assert!(
            breakers
                .record_failure(&error(ErrorKind::Transient, ErrorCategory::RateLimited))
                .is_none()
        );
        assert!(!breakers.any_open());
    }

    #[tokio::test]
    async fn waiting_resolves_when_closed() {
        let breakers = std::sync::Arc::new(Breakers::new(1));
        breakers.record_failure(&error(ErrorKind::Transient, ErrorCategory::Connection));
        let waiter = {
            let b = std::sync::Arc::clone(&breakers);
            tokio::spawn(async move { b.wait_all_closed().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        breakers.close("netsuite");
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("resolves")
            .expect("joins");
    }
}

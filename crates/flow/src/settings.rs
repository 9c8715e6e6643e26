//! Consumer and retry settings of one flow, section `[flow]`.

use std::time::Duration;

use crmerp_service_kit::settings::HumanDuration;
use serde::{Deserialize, Deserializer};

/// Consumer and retry settings of one flow.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct FlowSettings {
    /// How long JetStream waits for an ack before redelivering. Long vendor
    /// calls send in-progress acks every `ack_wait / 3`.
    #[serde(with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub ack_wait: Duration,
    /// Deliveries before the message is dead-lettered (1 + retries).
    pub max_deliver: u32,
    /// Delay before retry 1, 2, ...; the last value repeats.
    #[serde(deserialize_with = "duration_list")]
    #[schemars(with = "Vec<HumanDuration>")]
    pub retry_schedule: Vec<Duration>,
    /// Unacknowledged messages the consumer may hold. Events waiting for a
    /// retry (NAKed with a delay) count: with this many waiting, no new event
    /// is delivered until one of their retries comes due, so size it above
    /// the retries an outage can leave waiting.
    pub max_ack_pending: i64,
    /// Messages processed at once by one replica.
    pub concurrency: usize,
    /// On shutdown, how long in-flight messages may take before they are NAKed.
    #[serde(with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub shutdown_grace: Duration,
    /// Delay before retrying a message whose outcome could not be published.
    #[serde(with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub publish_retry_delay: Duration,
    /// Consecutive outage failures (5xx, timeouts, connection errors) of one
    /// vendor that pause the flow; a rejected credential pauses it at once.
    #[serde(default = "default_breaker_threshold")]
    pub breaker_threshold: u32,
    /// While paused, how often the vendor is probed.
    #[serde(default = "default_probe_interval", with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub probe_interval: Duration,
    /// How long a create-type effect's claim outlives a holder that stopped
    /// renewing it (crashed, cut off). Must exceed the longest vendor request,
    /// so a live holder's effect finishes before anyone can take over.
    #[serde(default = "default_claim_ttl", with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub claim_ttl: Duration,
    /// How long a worker waits for another worker's claim on the same record
    /// before the attempt counts as a (transient) failure.
    #[serde(default = "default_claim_wait", with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub claim_wait: Duration,
}

fn default_claim_ttl() -> Duration {
    Duration::from_secs(120)
}

fn default_claim_wait() -> Duration {
    Duration::from_secs(180)
}

fn default_breaker_threshold() -> u32 {
    5
}

fn default_probe_interval() -> Duration {
    Duration::from_secs(10)
}

impl FlowSettings {
    /// The delay before the retry that follows delivery `attempt` (1-based).
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.retry_schedule
            .get(index)
            .or(self.retry_schedule.last())
            .copied()
            .unwrap_or(Duration::from_secs(30))
    }

    /// Checks the settings; the message names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_deliver == 0 {
            return Err("flow.max_deliver must be at least 1".into());
        }
        if self.retry_schedule.is_empty() {
            return Err("flow.retry_schedule must list at least one delay".into());
        }
        if self.concurrency == 0 {
            return Err("flow.concurrency must be at least 1".into());
        }
        if self.ack_wait < Duration::from_millis(300) {
            return Err("flow.ack_wait must be at least 300ms".into());
        }
        if self.breaker_threshold == 0 {
            return Err("flow.breaker_threshold must be at least 1".into());
        }
        if self.claim_ttl < Duration::from_secs(1) {
            return Err(
                "flow.claim_ttl must be at least 1s (JetStream message TTLs are whole seconds)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Checks that a holder's create call always ends well inside its claim,
    /// so no other worker can take over mid-call. One create may take up to
    /// three requests (a token fetch, a 401, the renewed retry) of at most
    /// `request_timeout` each, hence four times the timeout.
    pub fn validate_claim_for(&self, request_timeout: Duration) -> Result<(), String> {
        if self.claim_ttl < request_timeout * 4 {
            return Err(format!(
                "flow.claim_ttl ({:?}) must be at least four times the ERP's request timeout ({request_timeout:?})",
                self.claim_ttl
            ));
        }
        Ok(())
    }
}

pub(crate) mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// The configuration reference shows defaults as they are written (`10s`).
    pub fn serialize<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*duration))
    }
}

fn duration_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let items = Vec::<String>::deserialize(d)?;
    items
        .iter()
        .map(|item| humantime::parse_duration(item.trim()).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(schedule: &[u64]) -> FlowSettings {
        FlowSettings {
            ack_wait: Duration::from_secs(60),
            max_deliver: 6,
            retry_schedule: schedule.iter().map(|s| Duration::from_secs(*s)).collect(),
            max_ack_pending: 1000,
            concurrency: 8,
            shutdown_grace: Duration::from_secs(10),
            publish_retry_delay: Duration::from_secs(1),
            breaker_threshold: 5,
            probe_interval: Duration::from_secs(10),
            claim_ttl: Duration::from_secs(120),
            claim_wait: Duration::from_secs(180),
        }
    }

    #[test]
    fn retry_delay_follows_schedule_and_repeats_last() {
        let s = settings(&[30, 120, 600, 3600, 14400]);
        assert_eq!(s.retry_delay(1), Duration::from_secs(30));
        assert_eq!(s.retry_delay(5), Duration::from_secs(14400));
        assert_eq!(s.retry_delay(9), Duration::from_secs(14400));
    }

    #[test]
    fn validation_names_the_key() {
        let mut s = settings(&[]);
        assert!(s.validate().unwrap_err().contains("retry_schedule"));
        s.retry_schedule = vec![Duration::from_secs(1)];
        s.max_deliver = 0;
        assert!(s.validate().unwrap_err().contains("max_deliver"));
        s.max_deliver = 6;
        s.claim_ttl = Duration::from_millis(500);
        assert!(s.validate().unwrap_err().contains("claim_ttl"));
    }

    #[test]
    fn a_claim_must_outlive_the_longest_vendor_request() {
        let s = settings(&[30]);
        assert!(s.validate_claim_for(Duration::from_secs(30)).is_ok());
        let error = s.validate_claim_for(Duration::from_secs(31)).unwrap_err();
        assert!(error.contains("flow.claim_ttl"), "{error}");
    }
}

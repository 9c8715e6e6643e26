//! Configuration of the simulators, with the committed development defaults (each
//! simulator's own section lives in its module's `config.rs` where it has one).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// HubSpot private-app token accepted by default.
pub const DEV_HUBSPOT_TOKEN: &str = "pat-na1-dev-token";
/// HubSpot app client secret that signs webhooks by default.
pub const DEV_HUBSPOT_CLIENT_SECRET: &str = "dev-hubspot-client-secret";
/// HubSpot portal (account) id of the sandbox portal.
pub const DEV_HUBSPOT_PORTAL_ID: u64 = 62515;
/// HubSpot app id that webhook events carry.
pub const DEV_HUBSPOT_APP_ID: u64 = 1_160_452;
/// NetSuite account id, used as the OAuth realm.
pub const DEV_NETSUITE_ACCOUNT: &str = "1234567_SB1";
/// NetSuite integration consumer key.
pub const DEV_NETSUITE_CONSUMER_KEY: &str = "dev-ns-consumer-key";
/// NetSuite integration consumer secret.
pub const DEV_NETSUITE_CONSUMER_SECRET: &str = "dev-ns-consumer-secret";
/// NetSuite access token id.
pub const DEV_NETSUITE_TOKEN_ID: &str = "dev-ns-token-id";
/// NetSuite access token secret.
pub const DEV_NETSUITE_TOKEN_SECRET: &str = "dev-ns-token-secret";
/// Secret the NetSuite User Event script signs its POSTs with.
pub const DEV_NETSUITE_EVENTS_SECRET: &str = "dev-ns-events-secret";

/// Configuration of the whole sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// The HubSpot simulator.
    pub hubspot: HubSpotConfig,
    /// The NetSuite simulator.
    pub netsuite: NetSuiteConfig,
    /// The Dataverse (Dynamics 365) simulator.
    pub dynamics365: crate::dynamics365::config::Dynamics365Config,
    /// The Pipedrive simulator.
    pub pipedrive: crate::pipedrive::config::PipedriveConfig,
    /// The Salesforce simulator.
    pub salesforce: crate::salesforce::config::SalesforceConfig,
    /// The Business Central simulator.
    pub businesscentral: crate::businesscentral::config::BusinessCentralConfig,
    /// The SAP S/4HANA simulator.
    pub s4hana: crate::s4hana::config::S4HanaConfig,
    /// The Oracle Fusion simulator.
    pub oraclefusion: crate::oraclefusion::config::OracleFusionConfig,
    /// Directory holding one `<simulator>.json` per simulator; `None` keeps state in memory only.
    pub state_dir: Option<PathBuf>,
}

/// Configuration of the HubSpot simulator.
#[derive(Debug, Clone)]
pub struct HubSpotConfig {
    /// Bearer token (private-app token) that requests must carry.
    pub access_token: String,
    /// App client secret used to sign webhooks.
    pub client_secret: String,
    /// Portal id reported in webhook events.
    pub portal_id: u64,
    /// App id reported in webhook events.
    pub app_id: u64,
    /// Requests allowed per 10-second window before answering 429.
    pub rate_limit_per_interval: u32,
    /// Requests allowed per day before answering 429.
    pub daily_limit: u64,
    /// Requests allowed per second before answering 429 (`X-HubSpot-RateLimit-Secondly`).
    pub rate_limit_per_second: u32,
    /// The portal's company currency (`GET /account-info/v3/details`); `None`
    /// answers that call 403 `MISSING_SCOPES`, as for a token without the scope.
    pub company_currency: Option<String>,
    /// Webhook delivery settings.
    pub webhooks: WebhookConfig,
}

impl Default for HubSpotConfig {
    fn default() -> Self {
        Self {
            access_token: DEV_HUBSPOT_TOKEN.to_owned(),
            client_secret: DEV_HUBSPOT_CLIENT_SECRET.to_owned(),
            portal_id: DEV_HUBSPOT_PORTAL_ID,
            app_id: DEV_HUBSPOT_APP_ID,
            rate_limit_per_interval: 1_000_000,
            daily_limit: 1_000_000_000,
            rate_limit_per_second: 1_000_000,
            company_currency: Some("USD".to_owned()),
            webhooks: WebhookConfig::default(),
        }
    }
}

/// Where and how HubSpot webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// URL that receives the webhook POSTs; `None` disables delivery.
    pub target_url: Option<String>,
    /// Which signature headers are sent.
    pub signature: SignatureMode,
    /// Retry schedule for failed deliveries.
    pub retry: RetryPolicy,
    /// Timeout of one delivery attempt.
    pub request_timeout: Duration,
    /// Most events in one POST (HubSpot sends up to 100): events waiting while
    /// a delivery is under way go out together.
    pub max_events_per_request: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            target_url: None,
            signature: SignatureMode::Both,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(5),
            max_events_per_request: 100,
        }
    }
}

/// Which HubSpot webhook signature headers are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureMode {
    /// `X-HubSpot-Signature` (hex SHA-256 of secret + body), version `v1`.
    V1,
    /// `X-HubSpot-Signature-v3` (Base64 HMAC-SHA256) with `X-HubSpot-Request-Timestamp`.
    V3,
    /// All of the v1 and v3 headers.
    #[default]
    Both,
}

impl SignatureMode {
    /// Whether the v1 headers are sent.
    #[must_use]
    pub fn includes_v1(self) -> bool {
        matches!(self, Self::V1 | Self::Both)
    }

    /// Whether the v3 headers are sent.
    #[must_use]
    pub fn includes_v3(self) -> bool {
        matches!(self, Self::V3 | Self::Both)
    }
}

impl fmt::Display for SignatureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V1 => "v1",
            Self::V3 => "v3",
            Self::Both => "both",
        })
    }
}

/// The value is not one of `v1`, `v3` or `both`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown webhook signature mode {0:?}; expected v1, v3 or both")]
pub struct ParseSignatureModeError(String);

impl FromStr for SignatureMode {
    type Err = ParseSignatureModeError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "v1" => Ok(Self::V1),
            "v3" => Ok(Self::V3),
            "both" => Ok(Self::Both),
            _ => Err(ParseSignatureModeError(value.to_owned())),
        }
    }
}

/// Exponential retry schedule of webhook deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first one.
    pub max_attempts: u32,
    /// Delay before the first retry; each further retry doubles it.
    pub initial_delay: Duration,
    /// Upper bound of a single delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Delay to wait after the failed attempt number `attempt` (0-based).
    #[must_use]
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// Configuration of the NetSuite simulator.
#[derive(Debug, Clone)]
pub struct NetSuiteConfig {
    /// Account id; requests must use it as the OAuth `realm`.
    pub account: String,
    /// Integration consumer key.
    pub consumer_key: String,
    /// Integration consumer secret.
    pub consumer_secret: String,
    /// Access token id.
    pub token_id: String,
    /// Access token secret.
    pub token_secret: String,
    /// Allowed clock skew of `oauth_timestamp`, and how long nonces are remembered.
    pub timestamp_tolerance: Duration,
    /// Requests served at once before answering 429 `CONCURRENCY_LIMIT_EXCEEDED`; `None` is
    /// unlimited.
    pub concurrency_limit: Option<usize>,
    /// Where the User Event script's `afterSubmit` POSTs record changes.
    pub events: EventConfig,
    /// Secret the script signs its POSTs with (`X-Crmerp-Signature`).
    pub events_secret: String,
}

/// Where an ERP simulator sends its business events, and how it retries them.
#[derive(Debug, Clone)]
pub struct EventConfig {
    /// URL receiving the events; `None` sends none (settable at run time with
    /// `PUT /__sandbox/webhooks`).
    pub target_url: Option<String>,
    /// Retry schedule of failed deliveries.
    pub retry: RetryPolicy,
    /// Timeout of one delivery attempt.
    pub request_timeout: Duration,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            target_url: None,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl Default for NetSuiteConfig {
    fn default() -> Self {
        Self {
            account: DEV_NETSUITE_ACCOUNT.to_owned(),
            consumer_key: DEV_NETSUITE_CONSUMER_KEY.to_owned(),
            consumer_secret: DEV_NETSUITE_CONSUMER_SECRET.to_owned(),
            token_id: DEV_NETSUITE_TOKEN_ID.to_owned(),
            token_secret: DEV_NETSUITE_TOKEN_SECRET.to_owned(),
            timestamp_tolerance: Duration::from_secs(300),
            concurrency_limit: None,
            events: EventConfig::default(),
            events_secret: DEV_NETSUITE_EVENTS_SECRET.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        };
        assert_eq!(policy.delay_after(0), Duration::from_secs(1));
        assert_eq!(policy.delay_after(1), Duration::from_secs(2));
        assert_eq!(policy.delay_after(2), Duration::from_secs(4));
        assert_eq!(policy.delay_after(3), Duration::from_secs(5));
        assert_eq!(policy.delay_after(40), Duration::from_secs(5));
    }

    #[test]
    fn signature_mode_parses() {
        assert_eq!("V3".parse::<SignatureMode>().ok(), Some(SignatureMode::V3));
        assert!("v2".parse::<SignatureMode>().is_err());
    }
}

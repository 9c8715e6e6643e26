//! Ingress settings.

use std::collections::BTreeMap;
use std::time::Duration;

use crmerp_connector::{dynamics365, hubspot, pipedrive, salesforce};
use crmerp_service_kit::settings::{HumanDuration, NatsSettings};
use crmerp_service_kit::telemetry::TelemetrySettings;
use crmerp_service_kit::{ConfigError, load_settings};
use serde::{Deserialize, Serialize};

use crate::fulfilment_settings::{
    AfterShipIngress, BusinessCentralIngress, EasyPostIngress, NetSuiteIngress,
    OracleFusionIngress, S4HanaIngress, TwilioIngress,
};

const DEFAULTS: &str = include_str!("../defaults.toml");

/// Everything the ingress service reads from configuration.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Settings {
    /// NATS connection and stream shape.
    pub nats: NatsSettings,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// The HTTP side.
    pub ingress: IngressSettings,
    /// CRM settings; only the webhook-related keys are read here.
    pub crm: CrmSettings,
}

/// Section `[ingress]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct IngressSettings {
    /// Address to bind, e.g. `127.0.0.1:8080`.
    pub addr: String,
    /// The URL vendors call, as they see it (scheme, host, port, no trailing
    /// slash). Signature schemes that sign the URL need it, and behind a proxy
    /// it differs from the bound address. Unset: `http://<bound address>`.
    #[serde(default)]
    pub public_base_url: Option<String>,
    /// Largest accepted webhook body in bytes; larger ones get 413.
    pub body_limit: usize,
    /// Longest wait for a request's headers, from the connection's start or
    /// the end of the previous response (so it also bounds an idle keep-alive
    /// connection); past it the connection is closed.
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub header_read_timeout: Duration,
    /// Longest time to receive a whole webhook body once its headers are in;
    /// past it the answer is 408 and the connection is closed.
    #[serde(default = "default_body_read_timeout", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub body_read_timeout: Duration,
    /// Longest time a connection may make no progress on a pending read or
    /// write (e.g. a client that does not read its answer). Must exceed the
    /// longest request handling time (a JetStream publish).
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub idle_timeout: Duration,
    /// Most connections served at once; more are answered 503 and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Requests per second and burst each webhook source may send; more get 429.
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// Per-source overrides of `rate_limit`, by source (`hubspot`, `salesforce`, ...).
    #[serde(default)]
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// NetSuite SuiteScript posts (`POST /webhooks/netsuite`). Absent: 404.
    #[serde(default)]
    pub netsuite: Option<NetSuiteIngress>,
    /// Business Central notifications (`/webhooks/businesscentral`). Absent: 404.
    #[serde(default)]
    pub businesscentral: Option<BusinessCentralIngress>,
    /// SAP Business Events from Event Mesh (`POST /webhooks/s4hana`). Absent: 404.
    #[serde(default)]
    pub s4hana: Option<S4HanaIngress>,
    /// Oracle Fusion status callbacks (`POST /webhooks/oraclefusion`). Absent: 404.
    #[serde(default)]
    pub oraclefusion: Option<OracleFusionIngress>,
    /// AfterShip tracking webhooks (`POST /webhooks/aftership`). Absent: 404.
    #[serde(default)]
    pub aftership: Option<AfterShipIngress>,
    /// EasyPost webhooks (`POST /webhooks/easypost`). Absent: 404.
    #[serde(default)]
    pub easypost: Option<EasyPostIngress>,
    /// Twilio message status callbacks (`POST /webhooks/twilio`). Absent: 404.
    #[serde(default)]
    pub twilio: Option<TwilioIngress>,
}

/// A sustained rate and a burst, per webhook source.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests accepted at once after a quiet period.
    pub burst: u32,
}

/// High enough for the closed-loop benchmark on one source; it protects the
/// bus and the other sources from one runaway sender, not from normal load.
impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 2000,
            burst: 4000,
        }
    }
}

impl IngressSettings {
    /// The rate limit of `source`: its override, else the common one.
    pub fn rate_limit_of(&self, source: &str) -> RateLimit {
        self.rate_limits
            .get(source)
            .copied()
            .unwrap_or(self.rate_limit)
    }
}

fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_body_read_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_connections() -> usize {
    1024
}

/// Section `[crm]`: each vendor's section, read with the connector crate's
/// webhook settings type (other keys of the section are the API connector's).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CrmSettings {
    /// `[crm.hubspot]`. Absent: the route answers 404.
    pub hubspot: Option<hubspot::webhook::WebhookSettings>,
    /// `[crm.salesforce]`. Absent: its routes answer 404.
    pub salesforce: Option<salesforce::webhook::WebhookSettings>,
    /// `[crm.pipedrive]`. Absent: the route answers 404.
    pub pipedrive: Option<pipedrive::webhook::WebhookSettings>,
    /// `[crm.dynamics365]`. Absent: the route answers 404.
    pub dynamics365: Option<dynamics365::webhook::WebhookSettings>,
}

impl Settings {
    /// The compiled-in defaults (TOML), the lowest configuration layer.
    pub const DEFAULTS: &str = DEFAULTS;

    /// Loads settings from defaults, `CRMERP_CONFIG` and `CRMERP__*` variables.
    pub fn load() -> Result<Self, ConfigError> {
        let settings: Self = load_settings(DEFAULTS)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if let Some(url) = &self.ingress.public_base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return invalid("ingress.public_base_url must be an http(s) URL");
        }
        if self.ingress.body_limit == 0 {
            return invalid("ingress.body_limit must be positive");
        }
        let ingress = &self.ingress;
        if [
            ingress.header_read_timeout,
            ingress.body_read_timeout,
            ingress.idle_timeout,
        ]
        .contains(&Duration::ZERO)
        {
            return invalid("ingress timeouts must be positive");
        }
        if ingress.max_connections == 0 {
            return invalid("ingress.max_connections must be positive");
        }
        let sources = crate::sources::SOURCES.iter().map(|s| s.system);
        for name in ingress.rate_limits.keys() {
            if !sources.clone().any(|s| s == name) {
                return Err(ConfigError::Invalid(format!(
                    "ingress.rate_limits.{name}: no such webhook source"
                )));
            }
        }
        let limits = std::iter::once(&ingress.rate_limit).chain(ingress.rate_limits.values());
        if limits
            .into_iter()
            .any(|l| l.per_second == 0 || l.burst == 0)
        {
            return invalid("ingress rate limits need a positive per_second and burst");
        }
        // A configured vendor must be able to authenticate its requests.
        let vendor = |result: Result<(), crmerp_connector::ConfigError>| {
            result.map_err(|error| ConfigError::Invalid(error.to_string()))
        };
        if let Some(hubspot) = &self.crm.hubspot {
            vendor(hubspot.validate())?;
        }
        if let Some(pipedrive) = &self.crm.pipedrive {
            vendor(pipedrive.validate())?;
        }
        crate::fulfilment_settings::validate(
            ingress.netsuite.as_ref(),
            ingress.businesscentral.as_ref(),
            ingress.s4hana.as_ref(),
            ingress.oraclefusion.as_ref(),
            &[
                (
                    "netsuite.secret",
                    ingress.netsuite.as_ref().map(|s| &s.secret),
                ),
                (
                    "businesscentral.client_state",
                    ingress.businesscentral.as_ref().map(|s| &s.client_state),
                ),
                (
                    "s4hana.password",
                    ingress.s4hana.as_ref().map(|s| &s.password),
                ),
                (
                    "aftership.secret",
                    ingress.aftership.as_ref().map(|s| &s.secret),
                ),
                (
                    "easypost.secret",
                    ingress.easypost.as_ref().map(|s| &s.secret),
                ),
                (
                    "twilio.auth_token",
                    ingress.twilio.as_ref().map(|s| &s.auth_token),
                ),
            ],
        )
        .map_err(ConfigError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(crm: serde_json::Value) -> Settings {
        serde_json::from_value(serde_json::json!({
            "nats": { "url": "nats://127.0.0.1:4222" },
            "ingress": { "addr": "127.0.0.1:0", "body_limit": 1024 },
            "crm": crm,
        }))
        .expect("parses")
    }

    #[test]
    fn vendor_sections_are_read_with_the_connector_webhook_types() {
        // The API connector's keys sit in the same section and are not ours.
        let settings = settings(serde_json::json!({
            "hubspot": { "access_token": "t", "client_secret": "s", "won_stages": ["won"] },
            "salesforce": { "client_id": "c", "callout_secret": "whsec_x" },
        }));
        settings.validate().expect("valid");
        let hubspot = settings.crm.hubspot.as_ref().expect("configured");
        assert_eq!(hubspot.won_stages, ["won"]);
        assert!(hubspot.accept_v1_v2);
        let salesforce = settings.crm.salesforce.as_ref().expect("configured");
        assert!(salesforce.callout_secret().is_some());
        assert_eq!(salesforce.organization_id(), None);
        assert!(settings.crm.pipedrive.is_none());
    }

    #[test]
    fn hardening_limits_have_defaults_and_per_source_overrides() {
        let mut settings = settings(serde_json::json!({}));
        settings.validate().expect("valid");
        let ingress = &settings.ingress;
        assert_eq!(ingress.header_read_timeout, Duration::from_secs(10));
        assert_eq!(ingress.body_read_timeout, Duration::from_secs(30));
        assert_eq!(ingress.idle_timeout, Duration::from_secs(60));
        assert_eq!(ingress.max_connections, 1024);
        assert_eq!(ingress.rate_limit_of("hubspot"), RateLimit::default());

        let slow = RateLimit {
            per_second: 1,
            burst: 3,
        };
        settings
            .ingress
            .rate_limits
            .insert("salesforce".into(), slow);
        settings.validate().expect("valid");
        assert_eq!(settings.ingress.rate_limit_of("salesforce"), slow);
        assert_eq!(
            settings.ingress.rate_limit_of("hubspot"),
            RateLimit::default()
        );

        settings.ingress.rate_limits.insert("hubspto".into(), slow);
        let error = settings.validate().unwrap_err();
        assert!(error.to_string().contains("rate_limits.hubspto"), "{error}");
        settings.ingress.rate_limits.clear();
        settings.ingress.rate_limit.per_second = 0;
        assert!(settings.validate().is_err());
        settings.ingress.rate_limit = RateLimit::default();
        settings.ingress.body_read_timeout = Duration::ZERO;
        assert!(settings.validate().is_err());
    }

    #[test]
    fn fulfilment_sources_have_rate_limits_and_need_their_secrets() {
        let mut settings = settings(serde_json::json!({}));
        let slow = RateLimit {
            per_second: 1,
            burst: 1,
        };
        for source in [
            "netsuite",
            "businesscentral",
            "s4hana",
            "oraclefusion",
            "aftership",
            "easypost",
            "twilio",
        ] {
            settings.ingress.rate_limits.insert(source.into(), slow);
        }
        settings
            .validate()
            .expect("every fulfilment source has a rate limit");

        let ingress = |section: serde_json::Value| -> Settings {
            let mut value = serde_json::json!({
                "nats": { "url": "nats://127.0.0.1:4222" },
                "ingress": { "addr": "127.0.0.1:0", "body_limit": 1024 },
                "crm": {},
            });
            if let (Some(target), Some(extra)) =
                (value["ingress"].as_object_mut(), section.as_object())
            {
                target.extend(extra.clone());
            }
            serde_json::from_value(value).expect("parses")
        };
        for (section, key) in [
            (
                serde_json::json!({ "netsuite": { "secret": "" } }),
                "netsuite.secret",
            ),
            (
                serde_json::json!({ "twilio": { "auth_token": "" } }),
                "twilio.auth_token",
            ),
            (
                serde_json::json!({ "s4hana": { "user": "", "password": "p" } }),
                "s4hana.user",
            ),
            (
                serde_json::json!({ "oraclefusion": { "user": "u" } }),
                "oraclefusion",
            ),
        ] {
            let error = ingress(section).validate().unwrap_err();
            assert!(error.to_string().contains(key), "{error}");
        }
        ingress(serde_json::json!({ "oraclefusion": { "user": "u", "password": "p" } }))
            .validate()
            .expect("Basic alone is enough");
    }

    #[test]
    fn a_configured_vendor_without_its_webhook_secret_is_refused_by_key() {
        let error = settings(serde_json::json!({ "hubspot": { "won_stages": ["won"] } }))
            .validate()
            .unwrap_err();
        assert!(
            error.to_string().contains("hubspot.client_secret"),
            "{error}"
        );
        let error = settings(serde_json::json!({ "pipedrive": { "webhook_user": "u" } }))
            .validate()
            .unwrap_err();
        assert!(
            error.to_string().contains("pipedrive.webhook_password"),
            "{error}"
        );
    }
}

//! Ingress settings.

use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::telemetry::TelemetrySettings;
use crmerp_service_kit::{ConfigError, load_settings};
use secrecy::SecretString;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../defaults.toml");

/// Everything the ingress service reads from configuration.
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
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
}

/// Section `[crm]`.
#[derive(Debug, Deserialize)]
pub struct CrmSettings {
    /// HubSpot webhook settings, section `[crm.hubspot]`. Absent: the route answers 404.
    pub hubspot: Option<HubSpotWebhookSettings>,
    /// Salesforce inbound settings, section `[crm.salesforce]`. Absent: its routes answer 404.
    pub salesforce: Option<crate::SalesforceWebhookSettings>,
    /// Pipedrive webhook settings, section `[crm.pipedrive]`. Absent: the route answers 404.
    pub pipedrive: Option<crate::PipedriveWebhookSettings>,
    /// Dataverse webhook settings, section `[crm.dynamics365]`. Absent: the route answers 404.
    pub dynamics365: Option<crate::Dynamics365WebhookSettings>,
}

/// The webhook half of `[crm.hubspot]`.
#[derive(Debug, Deserialize)]
pub struct HubSpotWebhookSettings {
    /// The app's client secret, which signs webhooks.
    pub client_secret: SecretString,
    /// Deal stages that count as won.
    pub won_stages: Vec<String>,
    /// Accept the older v1/v2 signatures (HubSpot's Webhooks API still sends v1).
    #[serde(default = "yes")]
    pub accept_v1_v2: bool,
}

fn yes() -> bool {
    true
}

impl Settings {
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
        if let Some(hubspot) = &self.crm.hubspot
            && hubspot.won_stages.is_empty()
        {
            return invalid("crm.hubspot.won_stages must list at least one stage");
        }
        Ok(())
    }
}

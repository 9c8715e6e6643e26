//! Ingress settings.

use crmerp_connector::{dynamics365, hubspot, pipedrive, salesforce};
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::telemetry::TelemetrySettings;
use crmerp_service_kit::{ConfigError, load_settings};
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

/// Section `[crm]`: each vendor's section, read with the connector crate's
/// webhook settings type (other keys of the section are the API connector's).
#[derive(Debug, Deserialize)]
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
        Ok(())
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

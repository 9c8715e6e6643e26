//! Pipedrive connector and webhook settings, section `[crm.pipedrive]`.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::webhook::WebhookSettings;
use crate::config::{ConfigError, check_base_url, check_not_blank};
use crate::http_client::HttpTimeouts;

/// OAuth 2.0 for a Pipedrive app: the refresh-token grant, client authenticated
/// with HTTP Basic as Pipedrive requires.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipedriveOAuth {
    /// Token endpoint (default `https://oauth.pipedrive.com/oauth/token`).
    #[serde(default = "default_token_url")]
    pub token_url: String,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: SecretString,
    /// The refresh token from the installation's authorization-code exchange.
    pub refresh_token: SecretString,
}

fn default_token_url() -> String {
    "https://oauth.pipedrive.com/oauth/token".into()
}

/// Settings of the Pipedrive connector and of Pipedrive webhook verification.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PipedriveConfig {
    /// API base (default `https://api.pipedrive.com`; `https://{company}.pipedrive.com` works too).
    pub base_url: String,
    /// Personal API token, sent as `x-api-token`. Either this or `oauth`.
    pub api_token: SecretString,
    /// OAuth app credentials, used when `api_token` is empty.
    pub oauth: Option<PipedriveOAuth>,
    /// Deal custom-field key (the 40-character hash) receiving the ERP order number.
    pub write_back_field: String,
    /// Deal custom-field key receiving `synced` / `error`; empty to not write one.
    pub sync_status_field: String,
    /// Currency used when the deal has none (default `USD`).
    pub default_currency: String,
    /// Webhook credentials: `webhook_user`, `webhook_password`.
    #[serde(flatten)]
    pub webhook: WebhookSettings,
    /// Longest wait, in ms, for a spent rate-limit window before failing as rate limited.
    pub max_rate_limit_wait_ms: u64,
    /// HTTP timeouts.
    pub timeouts: HttpTimeouts,
}

impl Default for PipedriveConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.pipedrive.com".into(),
            api_token: SecretString::default(),
            oauth: None,
            write_back_field: String::new(),
            sync_status_field: String::new(),
            default_currency: "USD".into(),
            webhook: WebhookSettings::default(),
            max_rate_limit_wait_ms: 10_000,
            timeouts: HttpTimeouts::default(),
        }
    }
}

impl PipedriveConfig {
    /// Checks every setting the API connector needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base_url("pipedrive.base_url", &self.base_url)?;
        if self.api_token.expose_secret().trim().is_empty() {
            let Some(oauth) = &self.oauth else {
                return Err(ConfigError::missing(
                    "pipedrive.api_token (or [crm.pipedrive.oauth])",
                ));
            };
            check_base_url("pipedrive.oauth.token_url", &oauth.token_url)?;
            check_not_blank("pipedrive.oauth.client_id", &oauth.client_id)?;
            for (key, secret) in [
                ("pipedrive.oauth.client_secret", &oauth.client_secret),
                ("pipedrive.oauth.refresh_token", &oauth.refresh_token),
            ] {
                if secret.expose_secret().trim().is_empty() {
                    return Err(ConfigError::missing(key));
                }
            }
        }
        check_not_blank("pipedrive.write_back_field", &self.write_back_field)?;
        let currency = &self.default_currency;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::invalid(
                "pipedrive.default_currency",
                "must be an ISO 4217 code such as USD",
            ));
        }
        self.timeouts.validate("pipedrive.timeouts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_missing_setting() {
        let cfg = PipedriveConfig::default();
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Missing { key }) if key.starts_with("pipedrive.api_token"))
        );
        let cfg: PipedriveConfig = serde_json::from_str(
            r#"{"oauth":{"client_id":"c","client_secret":"s","refresh_token":""},"write_back_field":"f"}"#,
        )
        .expect("parses");
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing("pipedrive.oauth.refresh_token"))
        );
        let cfg: PipedriveConfig = serde_json::from_str(r#"{"api_token":"t"}"#).expect("parses");
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing("pipedrive.write_back_field"))
        );
        let cfg: PipedriveConfig =
            serde_json::from_str(r#"{"api_token":"t","write_back_field":"f"}"#).expect("parses");
        assert!(cfg.validate().is_ok());
        assert!(!format!("{cfg:?}").contains("\"t\""));
    }

    #[test]
    fn webhook_keys_sit_in_the_vendor_section() {
        let cfg: PipedriveConfig =
            serde_json::from_str(r#"{"api_token":"t","webhook_user":"u","webhook_password":"p"}"#)
                .expect("parses");
        assert_eq!(cfg.webhook.webhook_user, "u");
        cfg.webhook.validate().expect("valid");
        let cfg: PipedriveConfig =
            serde_json::from_str(r#"{"api_token":"t","webhook_user":"u"}"#).expect("parses");
        assert_eq!(
            cfg.webhook.validate(),
            Err(ConfigError::missing("pipedrive.webhook_password"))
        );
    }
}

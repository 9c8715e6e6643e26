//! Pipedrive connector and webhook settings, section `[crm.pipedrive]`.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::fulfilment::FulfilmentFields;
use super::webhook::WebhookSettings;
use crate::config::{ConfigError, check_base_url, check_currency, check_not_blank};
use crate::credentials::CredentialSlot;
use crate::http_client::HttpTimeouts;

/// OAuth 2.0 for a Pipedrive app: the refresh-token grant, client authenticated
/// with HTTP Basic as Pipedrive requires.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipedriveOAuth {
    /// Token endpoint (default `https://oauth.pipedrive.com/oauth/token`).
    #[serde(default = "default_token_url")]
    pub token_url: String,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    #[schemars(with = "crate::config::Secret")]
    pub client_secret: SecretString,
    /// The refresh token from the installation's authorization-code exchange.
    #[schemars(with = "crate::config::Secret")]
    pub refresh_token: SecretString,
}

fn default_token_url() -> String {
    "https://oauth.pipedrive.com/oauth/token".into()
}

/// Settings of the Pipedrive connector and of Pipedrive webhook verification.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct PipedriveConfig {
    /// API base (default `https://api.pipedrive.com`; `https://{company}.pipedrive.com` works too).
    pub base_url: String,
    /// Personal API token, sent as `x-api-token`. Either this or `oauth`.
    #[schemars(with = "crate::config::Secret")]
    pub api_token: SecretString,
    /// OAuth app credentials, used when `api_token` is empty.
    pub oauth: Option<PipedriveOAuth>,
    /// Deal-to-order's field maps, from `[deal_to_order.crm.pipedrive]`.
    #[serde(skip)]
    pub deal_to_order: DealToOrderFields,
    /// Where a rotated OAuth refresh token is kept across restarts and
    /// replicas (set by the service, not configuration).
    #[serde(skip)]
    #[schemars(skip)]
    pub credentials: CredentialSlot,
    /// Fulfilment-sync's field maps, from `[fulfilment_sync.crm.pipedrive]`.
    #[serde(skip)]
    pub fulfilment: FulfilmentFields,
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
            deal_to_order: DealToOrderFields::default(),
            credentials: CredentialSlot::new(),
            fulfilment: FulfilmentFields::default(),
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
        self.deal_to_order.validate()?;
        self.fulfilment.validate()?;
        self.timeouts.validate("pipedrive.timeouts")
    }
}

/// Deal-to-order's Pipedrive field maps: section `[deal_to_order.crm.pipedrive]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default)]
pub struct DealToOrderFields {
    /// Deal custom-field key (the 40-character hash) receiving the ERP order number.
    pub write_back_field: String,
    /// Deal custom-field key receiving `synced` / `error`; empty to not write one.
    pub sync_status_field: String,
    /// Currency used when the deal has none (default `USD`).
    pub default_currency: String,
}

/// Keys of [`DealToOrderFields`] that sat in `[crm.pipedrive]` before the split.
pub(crate) const MOVED: &[&str] = &["write_back_field", "sync_status_field", "default_currency"];

const SECTION: &str = "deal_to_order.crm.pipedrive";

impl Default for DealToOrderFields {
    fn default() -> Self {
        Self {
            write_back_field: String::new(),
            sync_status_field: String::new(),
            default_currency: "USD".into(),
        }
    }
}

impl DealToOrderFields {
    /// Checks every map; errors name keys under `deal_to_order.crm.pipedrive`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_not_blank(
            &format!("{SECTION}.write_back_field"),
            &self.write_back_field,
        )?;
        check_currency(
            &format!("{SECTION}.default_currency"),
            &self.default_currency,
        )
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
        let mut cfg: PipedriveConfig = serde_json::from_str(
            r#"{"oauth":{"client_id":"c","client_secret":"s","refresh_token":""}}"#,
        )
        .expect("parses");
        cfg.deal_to_order.write_back_field = "f".into();
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing("pipedrive.oauth.refresh_token"))
        );
        let cfg: PipedriveConfig = serde_json::from_str(r#"{"api_token":"t"}"#).expect("parses");
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing(
                "deal_to_order.crm.pipedrive.write_back_field"
            ))
        );
        let mut cfg: PipedriveConfig =
            serde_json::from_str(r#"{"api_token":"t"}"#).expect("parses");
        cfg.deal_to_order.write_back_field = "f".into();
        assert!(cfg.validate().is_ok());
        assert!(!format!("{cfg:?}").contains("\"t\""));
    }

    #[test]
    fn moved_lists_every_field_map_key() {
        crate::field_maps::assert_moved_keys::<DealToOrderFields>(MOVED);
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

//! Dynamics 365 / Dataverse connector and webhook settings, section `[crm.dynamics365]`.

use serde::{Deserialize, Serialize};

use super::fulfilment::FulfilmentFields;
use super::webhook::WebhookSettings;
use crate::config::{ConfigError, check_base_url, check_currency, check_not_blank};
use crate::http_client::HttpTimeouts;
use crate::oauth2::ClientCredentialsConfig;

/// Settings of the Dataverse connector and of its service-endpoint webhook.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dynamics365Config {
    /// Environment URL, e.g. `https://contoso.crm.dynamics.com`.
    pub base_url: String,
    /// Web API version (default `v9.2`).
    #[serde(default = "default_version")]
    pub api_version: String,
    /// Entra ID client credentials; `token_url` is
    /// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token` and `scope`
    /// `https://{org}.crm.dynamics.com/.default`.
    pub oauth: ClientCredentialsConfig,
    /// Deal-to-order's field maps, from `[deal_to_order.crm.dynamics365]`.
    #[serde(skip)]
    pub deal_to_order: DealToOrderFields,
    /// Fulfilment-sync's field maps, from `[fulfilment_sync.crm.dynamics365]`.
    #[serde(skip)]
    pub fulfilment: FulfilmentFields,
    /// Webhook authentication: `webhook_header_name`, `webhook_header_value`, `webhook_key`.
    #[serde(flatten)]
    pub webhook: WebhookSettings,
    /// HTTP timeouts.
    #[serde(default)]
    pub timeouts: HttpTimeouts,
}

fn default_version() -> String {
    "v9.2".into()
}

impl Dynamics365Config {
    /// Checks every setting the API connector needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base_url("dynamics365.base_url", &self.base_url)?;
        self.oauth.validate("dynamics365.oauth")?;
        let version = self.api_version.strip_prefix('v').unwrap_or("");
        if version.split('.').count() != 2 || !version.split('.').all(|p| p.parse::<u32>().is_ok())
        {
            return Err(ConfigError::invalid(
                "dynamics365.api_version",
                "must look like v9.2",
            ));
        }
        self.deal_to_order.validate()?;
        self.fulfilment.validate()?;
        self.timeouts.validate("dynamics365.timeouts")
    }
}

/// Deal-to-order's Dataverse field maps: section `[deal_to_order.crm.dynamics365]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DealToOrderFields {
    /// Opportunity column receiving the ERP order number (a custom column, e.g. `new_erpordernumber`).
    pub write_back_field: String,
    /// Opportunity column receiving `synced` / `error`; empty to not write one.
    pub sync_status_field: String,
    /// Currency used when the opportunity has none (default `USD`).
    pub default_currency: String,
}

/// Keys of [`DealToOrderFields`] that sat in `[crm.dynamics365]` before the split.
pub(crate) const MOVED: &[&str] = &["write_back_field", "sync_status_field", "default_currency"];

const SECTION: &str = "deal_to_order.crm.dynamics365";

impl Default for DealToOrderFields {
    fn default() -> Self {
        Self {
            write_back_field: "new_erpordernumber".into(),
            sync_status_field: String::new(),
            default_currency: "USD".into(),
        }
    }
}

impl DealToOrderFields {
    /// Checks every map; errors name keys under `deal_to_order.crm.dynamics365`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_not_blank(
            &format!("{SECTION}.write_back_field"),
            &self.write_back_field,
        )?;
        for (name, value) in [
            ("write_back_field", &self.write_back_field),
            ("sync_status_field", &self.sync_status_field),
        ] {
            if !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(ConfigError::invalid(
                    format!("{SECTION}.{name}"),
                    "must be a column logical name",
                ));
            }
        }
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
    fn validation_names_the_bad_setting() {
        let cfg: Dynamics365Config = serde_json::from_str(
            r#"{"base_url":"https://x.crm.dynamics.com","oauth":{"token_url":"https://login.microsoftonline.com/t/oauth2/v2.0/token","client_id":"c","client_secret":"s"}}"#,
        )
        .expect("parses");
        assert!(cfg.validate().is_ok());
        let mut bad = cfg.clone();
        bad.deal_to_order.write_back_field = "x;y".into();
        assert!(
            matches!(bad.validate(), Err(ConfigError::Invalid { key, .. }) if key == "deal_to_order.crm.dynamics365.write_back_field")
        );
        let err = serde_json::from_str::<Dynamics365Config>(r#"{"base_url":"https://x"}"#)
            .expect_err("oauth required");
        assert!(err.to_string().contains("oauth"));
    }

    #[test]
    fn moved_lists_every_field_map_key() {
        crate::field_maps::assert_moved_keys::<DealToOrderFields>(MOVED);
    }

    #[test]
    fn webhook_keys_sit_in_the_vendor_section_and_typos_are_still_refused() {
        let oauth = r#""oauth":{"token_url":"https://login.microsoftonline.com/t/oauth2/v2.0/token","client_id":"c","client_secret":"s"}"#;
        let cfg: Dynamics365Config = serde_json::from_str(&format!(
            r#"{{"base_url":"https://x.crm.dynamics.com",{oauth},"webhook_key":"k"}}"#
        ))
        .expect("parses");
        assert!(cfg.webhook.is_configured());
        let typo = serde_json::from_str::<Dynamics365Config>(&format!(
            r#"{{"base_url":"https://x.crm.dynamics.com",{oauth},"webhook_kye":"k"}}"#
        ));
        assert!(typo.is_err(), "{typo:?}");
    }
}

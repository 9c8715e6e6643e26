//! HubSpot connector settings.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::webhook::WebhookSettings;
use crate::config::{ConfigError, check_base_url, check_currency, check_not_blank};
use crate::http_client::HttpTimeouts;

/// Where the shipping address of a deal comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ShippingSource {
    /// The deal's shipping properties when any is set, else the company address.
    #[default]
    DealThenCompany,
    /// Only the deal's shipping properties.
    Deal,
    /// Only the primary company's address.
    Company,
}

/// Names of the deal properties holding the shipping address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ShippingProperties {
    /// Addressee (default `shipping_addressee`).
    pub addressee: String,
    /// First street line (default `shipping_street`).
    pub street: String,
    /// Second street line (default `shipping_street2`).
    pub street2: String,
    /// City (default `shipping_city`).
    pub city: String,
    /// State or region (default `shipping_state`).
    pub state: String,
    /// Postal code (default `shipping_zip`).
    pub zip: String,
    /// Country (default `shipping_country`).
    pub country: String,
}

impl Default for ShippingProperties {
    fn default() -> Self {
        Self {
            addressee: "shipping_addressee".into(),
            street: "shipping_street".into(),
            street2: "shipping_street2".into(),
            city: "shipping_city".into(),
            state: "shipping_state".into(),
            zip: "shipping_zip".into(),
            country: "shipping_country".into(),
        }
    }
}

impl ShippingProperties {
    /// Every property name, in address order.
    pub fn all(&self) -> [&str; 7] {
        [
            &self.addressee,
            &self.street,
            &self.street2,
            &self.city,
            &self.state,
            &self.zip,
            &self.country,
        ]
    }
}

/// Settings of the HubSpot connector and of HubSpot webhook verification.
///
/// `Debug` is safe to log: both secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct HubSpotConfig {
    /// API base URL (default `https://api.hubapi.com`).
    pub base_url: String,
    /// Private-app access token, sent as `Authorization: Bearer`.
    #[schemars(with = "crate::config::Secret")]
    pub access_token: SecretString,
    /// Webhook verification: `client_secret`, `won_stages`, `accept_v1_v2`.
    #[serde(flatten)]
    pub webhook: WebhookSettings,
    /// Deal-to-order's field maps, from `[deal_to_order.crm.hubspot]`.
    #[serde(skip)]
    pub deal_to_order: DealToOrderFields,
    /// fulfilment-sync's field maps, from `[fulfilment_sync.crm.hubspot]`.
    #[serde(skip)]
    pub fulfilment: super::FulfilmentFields,
    /// Longest wait, in ms, for a rate-limit window before failing the call as
    /// rate-limited instead (default 10000).
    pub max_rate_limit_wait_ms: u64,
    /// HTTP timeouts.
    pub timeouts: HttpTimeouts,
}

impl Default for HubSpotConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.hubapi.com".into(),
            access_token: SecretString::default(),
            webhook: WebhookSettings::default(),
            deal_to_order: DealToOrderFields::default(),
            fulfilment: super::FulfilmentFields::default(),
            max_rate_limit_wait_ms: 10_000,
            timeouts: HttpTimeouts::default(),
        }
    }
}

impl HubSpotConfig {
    /// Checks every setting the API connector needs (not the client secret).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base_url("hubspot.base_url", &self.base_url)?;
        if self.access_token.expose_secret().trim().is_empty() {
            return Err(ConfigError::missing("hubspot.access_token"));
        }
        self.webhook.validate_won_stages()?;
        self.deal_to_order.validate()?;
        self.fulfilment.validate()?;
        self.timeouts.validate("hubspot.timeouts")
    }
}

/// Deal-to-order's HubSpot field maps: section `[deal_to_order.crm.hubspot]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default)]
pub struct DealToOrderFields {
    /// Deal property receiving the ERP order number (default `erp_order_number`).
    pub write_back_property: String,
    /// Deal property receiving `synced` / `error` (default `erp_sync_status`).
    pub sync_status_property: String,
    /// Deal property receiving the sync error text (default `erp_sync_error`).
    pub sync_error_property: String,
    /// Line-item property holding the SKU (default `hs_sku`).
    pub sku_property: String,
    /// Where the shipping address comes from (default `deal_then_company`).
    pub shipping: ShippingSource,
    /// Deal properties holding the shipping address.
    pub shipping_properties: ShippingProperties,
    /// Deal property holding the ISO currency code (default `deal_currency_code`).
    pub currency_property: String,
    /// Currency used when neither the deal nor the portal (its company currency,
    /// from the account details) names one; empty (the default) for none, so
    /// such a deal is dead-lettered rather than ordered in a guessed currency.
    pub default_currency: String,
}

/// Keys of [`DealToOrderFields`] that sat in `[crm.hubspot]` before the split.
pub(crate) const MOVED: &[&str] = &[
    "write_back_property",
    "sync_status_property",
    "sync_error_property",
    "sku_property",
    "shipping",
    "shipping_properties",
    "currency_property",
    "default_currency",
];

const SECTION: &str = "deal_to_order.crm.hubspot";

impl Default for DealToOrderFields {
    fn default() -> Self {
        Self {
            write_back_property: "erp_order_number".into(),
            sync_status_property: "erp_sync_status".into(),
            sync_error_property: "erp_sync_error".into(),
            sku_property: "hs_sku".into(),
            shipping: ShippingSource::default(),
            shipping_properties: ShippingProperties::default(),
            currency_property: "deal_currency_code".into(),
            default_currency: String::new(),
        }
    }
}

impl DealToOrderFields {
    /// Checks every map; errors name keys under `deal_to_order.crm.hubspot`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("write_back_property", &self.write_back_property),
            ("sync_status_property", &self.sync_status_property),
            ("sync_error_property", &self.sync_error_property),
            ("sku_property", &self.sku_property),
            ("currency_property", &self.currency_property),
        ] {
            check_not_blank(&format!("{SECTION}.{name}"), value)?;
        }
        if self.shipping != ShippingSource::Company {
            let names = [
                "addressee",
                "street",
                "street2",
                "city",
                "state",
                "zip",
                "country",
            ];
            for (name, value) in names.iter().zip(self.shipping_properties.all()) {
                check_not_blank(&format!("{SECTION}.shipping_properties.{name}"), value)?;
            }
        }
        if self.default_currency.is_empty() {
            return Ok(());
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

    fn valid() -> HubSpotConfig {
        HubSpotConfig {
            access_token: "pat-na1-test".into(),
            webhook: WebhookSettings {
                client_secret: "secret".into(),
                ..WebhookSettings::default()
            },
            ..HubSpotConfig::default()
        }
    }

    #[test]
    fn defaults_deserialize_from_a_minimal_document() {
        let mut cfg: HubSpotConfig =
            serde_json::from_str(r#"{"access_token":"t"}"#).expect("parses");
        cfg.deal_to_order =
            serde_json::from_str(r#"{"shipping":"company"}"#).expect("field maps parse");
        assert_eq!(cfg.base_url, "https://api.hubapi.com");
        assert_eq!(cfg.webhook.won_stages, vec!["closedwon".to_owned()]);
        assert!(cfg.webhook.accept_v1_v2);
        assert_eq!(cfg.deal_to_order.shipping, ShippingSource::Company);
        assert_eq!(cfg.deal_to_order.shipping_properties.zip, "shipping_zip");
        assert_eq!(cfg.timeouts, HttpTimeouts::default());
        cfg.validate().expect("valid");
    }

    #[test]
    fn validation_names_the_bad_key() {
        assert_eq!(
            HubSpotConfig::default().validate(),
            Err(ConfigError::missing("hubspot.access_token"))
        );
        let mut cfg = valid();
        cfg.deal_to_order.default_currency = "usd".into();
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "deal_to_order.crm.hubspot.default_currency")
        );
        let cfg = HubSpotConfig {
            base_url: "ftp://x".into(),
            ..valid()
        };
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "hubspot.base_url")
        );
        let mut cfg = valid();
        cfg.webhook.won_stages = vec![];
        assert_eq!(
            cfg.webhook.validate(),
            Err(ConfigError::missing("hubspot.won_stages"))
        );
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing("hubspot.won_stages"))
        );
        let mut cfg = valid();
        cfg.webhook.client_secret = "".into();
        assert_eq!(
            cfg.webhook.validate(),
            Err(ConfigError::missing("hubspot.client_secret"))
        );
    }

    #[test]
    fn webhook_keys_sit_in_the_vendor_section() {
        let cfg: HubSpotConfig = serde_json::from_str(
            r#"{"access_token":"t","client_secret":"s","won_stages":["won"],"accept_v1_v2":false}"#,
        )
        .expect("parses");
        assert_eq!(cfg.webhook.client_secret.expose_secret(), "s");
        assert_eq!(cfg.webhook.won_stages, ["won"]);
        assert!(!cfg.webhook.accept_v1_v2);
        cfg.webhook.validate().expect("valid");
        // An environment override may arrive as text.
        let cfg: HubSpotConfig =
            serde_json::from_str(r#"{"access_token":"t","accept_v1_v2":"false"}"#).expect("parses");
        assert!(!cfg.webhook.accept_v1_v2);
    }

    #[test]
    fn moved_lists_every_field_map_key() {
        crate::field_maps::assert_moved_keys::<DealToOrderFields>(MOVED);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let printed = format!("{:?}", valid());
        assert!(!printed.contains("pat-na1-test"));
        assert!(!printed.contains("\"secret\""));
    }
}

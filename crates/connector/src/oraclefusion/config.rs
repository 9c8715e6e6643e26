//! Oracle Fusion Cloud Order Management connector settings.

use serde::{Deserialize, Serialize};

use crate::auth::AuthSettings;
use crate::config::{ConfigError, check_base_url, check_not_blank};
use crate::http_client::HttpTimeouts;

/// Settings of the `salesOrdersForOrderHub` connector.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OracleFusionConfig {
    /// Pod host, e.g. `https://fa-abcd-saasfaprod1.fa.ocs.oraclecloud.com`.
    pub base_url: String,
    /// Integration user (Basic) or OAuth client credentials (IDCS / IAM).
    pub auth: AuthSettings,
    /// REST resource version (default `11.13.18.05`).
    #[serde(default = "default_version")]
    pub api_version: String,
    /// `SourceTransactionSystem` of our orders and `SourceSystem` of our
    /// customers; must be registered in Order Management (default `CRMERP`).
    #[serde(default = "default_source_system")]
    pub source_transaction_system: String,
    /// Deal-to-order's order settings, from `[deal_to_order.erp.oraclefusion]`.
    #[serde(skip)]
    pub deal_to_order: DealToOrderFields,
    /// Fulfilment-sync's status maps, from `[fulfilment_sync.erp.oraclefusion]`.
    #[serde(skip)]
    pub fulfilment: super::FulfilmentFields,
    /// HTTP timeouts.
    #[serde(default)]
    pub timeouts: HttpTimeouts,
}

fn default_version() -> String {
    "11.13.18.05".to_owned()
}

fn default_source_system() -> String {
    "CRMERP".to_owned()
}

impl OracleFusionConfig {
    /// Checks every setting, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base_url("oraclefusion.base_url", &self.base_url)?;
        self.auth.validate("oraclefusion.auth")?;
        check_not_blank("oraclefusion.api_version", &self.api_version)?;
        if !self
            .api_version
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
        {
            return Err(ConfigError::invalid(
                "oraclefusion.api_version",
                "digits and dots, e.g. 11.13.18.05",
            ));
        }
        check_not_blank(
            "oraclefusion.source_transaction_system",
            &self.source_transaction_system,
        )?;
        if self.source_transaction_system.len() > 30
            || !self
                .source_transaction_system
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ConfigError::invalid(
                "oraclefusion.source_transaction_system",
                "at most 30 letters, digits or `_`",
            ));
        }
        self.deal_to_order.validate()?;
        self.timeouts.validate("oraclefusion.timeouts")
    }

    /// `{base}/fscmRestApi/resources/{version}`.
    pub fn fscm_root(&self) -> String {
        format!(
            "{}/fscmRestApi/resources/{}",
            self.base_url.trim_end_matches('/'),
            self.api_version
        )
    }

    /// `{base}/crmRestApi/resources/{version}`.
    pub fn crm_root(&self) -> String {
        format!(
            "{}/crmRestApi/resources/{}",
            self.base_url.trim_end_matches('/'),
            self.api_version
        )
    }
}

/// Deal-to-order's Oracle Fusion order settings: section `[deal_to_order.erp.oraclefusion]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DealToOrderFields {
    /// Selling business unit, e.g. `Vision Operations`.
    pub business_unit_name: String,
    /// Unit of measure of ordered quantities (default `Ea`).
    pub ordered_uom_code: String,
    /// Warehouse that ships the lines; unset lets Order Management decide.
    pub fulfillment_organization_code: Option<String>,
    /// Submit orders for fulfilment at once (default true); false leaves drafts.
    pub submit: bool,
}

/// Keys of [`DealToOrderFields`] that sat in `[erp.oraclefusion]` before the split.
pub(crate) const MOVED: &[&str] = &[
    "business_unit_name",
    "ordered_uom_code",
    "fulfillment_organization_code",
    "submit",
];

impl Default for DealToOrderFields {
    fn default() -> Self {
        Self {
            business_unit_name: String::new(),
            ordered_uom_code: "Ea".into(),
            fulfillment_organization_code: None,
            submit: true,
        }
    }
}

impl DealToOrderFields {
    /// Checks every setting; errors name keys under `deal_to_order.erp.oraclefusion`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const SECTION: &str = "deal_to_order.erp.oraclefusion";
        check_not_blank(
            &format!("{SECTION}.business_unit_name"),
            &self.business_unit_name,
        )?;
        check_not_blank(
            &format!("{SECTION}.ordered_uom_code"),
            &self.ordered_uom_code,
        )?;
        if let Some(org) = &self.fulfillment_organization_code {
            check_not_blank(&format!("{SECTION}.fulfillment_organization_code"), org)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_lists_every_field_map_key() {
        crate::field_maps::assert_moved_keys::<DealToOrderFields>(MOVED);
    }

    #[test]
    fn order_settings_are_named_under_the_flow() {
        let fields = DealToOrderFields::default();
        assert_eq!(
            fields.validate(),
            Err(ConfigError::missing(
                "deal_to_order.erp.oraclefusion.business_unit_name"
            ))
        );
        let typo: Result<DealToOrderFields, _> = serde_json::from_str(r#"{"sumbit":false}"#);
        assert!(typo.is_err());
    }
}

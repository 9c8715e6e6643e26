//! Oracle Fusion Cloud Order Management connector settings.

use serde::Deserialize;

use crate::auth::AuthSettings;
use crate::config::{ConfigError, check_base_url, check_not_blank};
use crate::http_client::HttpTimeouts;

/// Settings of the `salesOrdersForOrderHub` connector.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize)]
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
    /// Selling business unit, e.g. `Vision Operations`.
    pub business_unit_name: String,
    /// Unit of measure of ordered quantities (default `Ea`).
    #[serde(default = "default_uom")]
    pub ordered_uom_code: String,
    /// Warehouse that ships the lines; unset lets Order Management decide.
    #[serde(default)]
    pub fulfillment_organization_code: Option<String>,
    /// Submit orders for fulfilment at once (default true); false leaves drafts.
    #[serde(default = "default_submit")]
    pub submit: bool,
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

fn default_uom() -> String {
    "Ea".to_owned()
}

fn default_submit() -> bool {
    true
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
        check_not_blank("oraclefusion.business_unit_name", &self.business_unit_name)?;
        check_not_blank("oraclefusion.ordered_uom_code", &self.ordered_uom_code)?;
        if let Some(org) = &self.fulfillment_organization_code {
            check_not_blank("oraclefusion.fulfillment_organization_code", org)?;
        }
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

//! SAP S/4HANA connector settings.

use serde::Deserialize;

use crate::auth::AuthSettings;
use crate::config::{ConfigError, check_base_url, check_not_blank};
use crate::http_client::HttpTimeouts;

/// `A_SalesOrder` text properties that can carry the CRM reference, with their
/// `MaxLength` from the `API_SALES_ORDER_SRV` metadata.
pub const REFERENCE_FIELDS: &[(&str, usize)] = &[
    ("PurchaseOrderByCustomer", 35),
    ("PurchaseOrderByShipToParty", 35),
    ("ExternalDocumentID", 40),
];

/// Settings of the S/4HANA OData V2 connector.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S4HanaConfig {
    /// Host, e.g. `https://my300000-api.s4hana.cloud.sap`; services live under
    /// `/sap/opu/odata/sap/`.
    pub base_url: String,
    /// `sap-client` query parameter (on-premise systems with several clients).
    #[serde(default)]
    pub sap_client: Option<String>,
    /// Communication user (Basic) or OAuth client credentials.
    pub auth: AuthSettings,
    /// Sales document type of new orders (default `OR`).
    #[serde(default = "default_order_type")]
    pub sales_order_type: String,
    /// Sales organisation (e.g. `1010`).
    pub sales_organization: String,
    /// Distribution channel (e.g. `10`).
    pub distribution_channel: String,
    /// Division (e.g. `00`).
    pub organization_division: String,
    /// The `A_SalesOrder` property holding the CRM reference (default
    /// `PurchaseOrderByCustomer`; see [`REFERENCE_FIELDS`]).
    #[serde(default = "default_reference_field")]
    pub reference_field: String,
    /// Item price condition carrying the deal's unit price (e.g. `PPR0` in S/4HANA
    /// Cloud, `PR00` on-premise). Unset: SAP prices the order from its own conditions.
    #[serde(default)]
    pub price_condition_type: Option<String>,
    /// Unit of the requested quantity (e.g. `PC`); unset: the material's sales unit.
    #[serde(default)]
    pub quantity_unit: Option<String>,
    /// Business partner grouping of new customers (number range), e.g. `BP02`.
    #[serde(default)]
    pub business_partner_grouping: Option<String>,
    /// Country of new business partners whose CRM account has no address (default `US`).
    #[serde(default = "default_country")]
    pub default_country: String,
    /// Currency of the customer's sales area data (default `USD`).
    #[serde(default = "default_currency")]
    pub customer_currency: String,
    /// Prepended to the account key stored in `BusinessPartnerIDByExtSystem`.
    #[serde(default)]
    pub customer_key_prefix: String,
    /// HTTP timeouts.
    #[serde(default)]
    pub timeouts: HttpTimeouts,
}

fn default_order_type() -> String {
    "OR".to_owned()
}

fn default_reference_field() -> String {
    "PurchaseOrderByCustomer".to_owned()
}

fn default_country() -> String {
    "US".to_owned()
}

fn default_currency() -> String {
    "USD".to_owned()
}

impl S4HanaConfig {
    /// Checks every setting, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base_url("s4hana.base_url", &self.base_url)?;
        if let Some(client) = &self.sap_client
            && (client.len() != 3 || !client.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError::invalid(
                "s4hana.sap_client",
                "must be three digits, e.g. 100",
            ));
        }
        self.auth.validate("s4hana.auth")?;
        for (key, value, max) in [
            ("s4hana.sales_order_type", &self.sales_order_type, 4),
            ("s4hana.sales_organization", &self.sales_organization, 4),
            ("s4hana.distribution_channel", &self.distribution_channel, 2),
            (
                "s4hana.organization_division",
                &self.organization_division,
                2,
            ),
            ("s4hana.default_country", &self.default_country, 3),
            ("s4hana.customer_currency", &self.customer_currency, 5),
        ] {
            check_not_blank(key, value)?;
            if value.len() > max || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::invalid(
                    key,
                    format!("at most {max} letters or digits"),
                ));
            }
        }
        if self.reference_max_len().is_none() {
            return Err(ConfigError::invalid(
                "s4hana.reference_field",
                format!(
                    "must be one of {}",
                    REFERENCE_FIELDS
                        .iter()
                        .map(|(f, _)| *f)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for (key, value) in [
            ("s4hana.price_condition_type", &self.price_condition_type),
            ("s4hana.quantity_unit", &self.quantity_unit),
            (
                "s4hana.business_partner_grouping",
                &self.business_partner_grouping,
            ),
        ] {
            if let Some(value) = value
                && (value.is_empty()
                    || value.len() > 4
                    || !value.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                return Err(ConfigError::invalid(key, "1-4 letters or digits"));
            }
        }
        if self.customer_key_prefix.len() > 6
            || !self
                .customer_key_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ConfigError::invalid(
                "s4hana.customer_key_prefix",
                "at most 6 letters, digits or `-`",
            ));
        }
        self.timeouts.validate("s4hana.timeouts")
    }

    /// `MaxLength` of the configured reference field.
    pub fn reference_max_len(&self) -> Option<usize> {
        REFERENCE_FIELDS
            .iter()
            .find(|(f, _)| *f == self.reference_field)
            .map(|(_, max)| *max)
    }

    /// `{base}/sap/opu/odata/sap/{service}`.
    pub fn service_root(&self, service: &str) -> String {
        format!(
            "{}/sap/opu/odata/sap/{service}",
            self.base_url.trim_end_matches('/')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn section() -> serde_json::Value {
        serde_json::json!({
            "base_url": "https://my300000-api.s4hana.cloud.sap",
            "auth": {"kind": "basic", "username": "COMM_USER", "password": "pw"},
            "sales_organization": "1010", "distribution_channel": "10", "organization_division": "00"
        })
    }

    #[test]
    fn defaults_and_named_errors() {
        let cfg: S4HanaConfig = serde_json::from_value(section()).expect("parses");
        cfg.validate().expect("valid");
        assert_eq!(cfg.reference_field, "PurchaseOrderByCustomer");
        assert_eq!(cfg.reference_max_len(), Some(35));
        assert_eq!(
            cfg.service_root("API_SALES_ORDER_SRV"),
            "https://my300000-api.s4hana.cloud.sap/sap/opu/odata/sap/API_SALES_ORDER_SRV"
        );
        let mut value = section();
        value["reference_field"] = "SalesOrder".into();
        let cfg: S4HanaConfig = serde_json::from_value(value).expect("parses");
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "s4hana.reference_field")
        );
        let mut value = section();
        value["sap_client"] = "1".into();
        let cfg: S4HanaConfig = serde_json::from_value(value).expect("parses");
        assert!(cfg.validate().is_err());
    }
}

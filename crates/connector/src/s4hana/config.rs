//! SAP S/4HANA connector settings.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
    /// Prepended to the account key stored in `BusinessPartnerIDByExtSystem`;
    /// an identity namespace every flow must share, so it stays here.
    #[serde(default)]
    pub customer_key_prefix: String,
    /// Deal-to-order's field maps, from `[deal_to_order.erp.s4hana]`.
    #[serde(skip)]
    pub deal_to_order: DealToOrderFields,
    /// Fulfilment-sync's status maps, from `[fulfilment_sync.erp.s4hana]`.
    #[serde(skip)]
    pub fulfilment: super::FulfilmentFields,
    /// HTTP timeouts.
    #[serde(default)]
    pub timeouts: HttpTimeouts,
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
        self.deal_to_order.validate()?;
        self.timeouts.validate("s4hana.timeouts")
    }

    /// `{base}/sap/opu/odata/sap/{service}`.
    pub fn service_root(&self, service: &str) -> String {
        format!(
            "{}/sap/opu/odata/sap/{service}",
            self.base_url.trim_end_matches('/')
        )
    }
}

/// Deal-to-order's S/4HANA settings: how its orders and customers are shaped,
/// section `[deal_to_order.erp.s4hana]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DealToOrderFields {
    /// Sales document type of new orders (default `OR`).
    pub sales_order_type: String,
    /// Sales organisation (e.g. `1010`).
    pub sales_organization: String,
    /// Distribution channel (e.g. `10`).
    pub distribution_channel: String,
    /// Division (e.g. `00`).
    pub organization_division: String,
    /// The `A_SalesOrder` property holding the CRM reference (default
    /// `PurchaseOrderByCustomer`; see [`REFERENCE_FIELDS`]).
    pub reference_field: String,
    /// Who prices the order: `crm` (default) sends each line's negotiated unit
    /// price as a manual [`Self::price_condition_type`] condition; `erp` sends
    /// none and lets SAP's pricing procedure price the items.
    pub pricing: Pricing,
    /// Item price condition carrying the deal's unit price (default `PPR0`, the
    /// price condition of S/4HANA's standard pricing procedure, which accepts a
    /// manual entry that takes priority; `PR00` on classic on-premise procedures).
    pub price_condition_type: String,
    /// How the deal's shipping address reaches the order (default
    /// `partner_address`); see [`ShipToAddress`].
    pub ship_to_address: ShipToAddress,
    /// Unit of the requested quantity (e.g. `PC`); unset: the material's sales unit.
    pub quantity_unit: Option<String>,
    /// Business partner grouping of new customers (number range), e.g. `BP02`.
    pub business_partner_grouping: Option<String>,
    /// Country of new business partners whose CRM account has no address (default `US`).
    pub default_country: String,
    /// Currency of the customer's sales area data (default `USD`).
    pub customer_currency: String,
}

/// Who prices a new order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Pricing {
    /// The CRM's negotiated unit price, as a manual price condition per item.
    #[default]
    Crm,
    /// SAP's own condition records; the CRM price is not sent.
    Erp,
}

/// What the system's `API_SALES_ORDER_SRV` can carry of a ship-to address.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ShipToAddress {
    /// Its `A_SalesOrderHeaderPartner` has `to_Address`
    /// (`A_SalesOrderPartnerAddress`): the deal's address goes to the order as
    /// the document address of partner function `WE`.
    #[default]
    PartnerAddress,
    /// Its `A_SalesOrderHeaderPartner` has no address (as in the metadata
    /// version in `shared/specs`): SAP determines the ship-to from the
    /// customer master, which is right when the deal ships to the customer's
    /// own address; a deal shipping elsewhere fails permanently
    /// (`ship_to_address_unsupported`) instead of shipping there silently.
    Unsupported,
}

/// Keys of [`DealToOrderFields`] that sat in `[erp.s4hana]` before the split
/// (`pricing` and `ship_to_address` came later and are listed so that the
/// migration moves them too).
pub(crate) const MOVED: &[&str] = &[
    "sales_order_type",
    "sales_organization",
    "distribution_channel",
    "organization_division",
    "reference_field",
    "pricing",
    "price_condition_type",
    "ship_to_address",
    "quantity_unit",
    "business_partner_grouping",
    "default_country",
    "customer_currency",
];

const SECTION: &str = "deal_to_order.erp.s4hana";

impl Default for DealToOrderFields {
    fn default() -> Self {
        Self {
            sales_order_type: "OR".to_owned(),
            sales_organization: String::new(),
            distribution_channel: String::new(),
            organization_division: String::new(),
            reference_field: "PurchaseOrderByCustomer".to_owned(),
            pricing: Pricing::Crm,
            price_condition_type: "PPR0".to_owned(),
            ship_to_address: ShipToAddress::PartnerAddress,
            quantity_unit: None,
            business_partner_grouping: None,
            default_country: "US".to_owned(),
            customer_currency: "USD".to_owned(),
        }
    }
}

impl DealToOrderFields {
    /// Checks every setting; errors name keys under `deal_to_order.erp.s4hana`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value, max) in [
            ("sales_order_type", &self.sales_order_type, 4),
            ("sales_organization", &self.sales_organization, 4),
            ("distribution_channel", &self.distribution_channel, 2),
            ("organization_division", &self.organization_division, 2),
            ("default_country", &self.default_country, 3),
            ("customer_currency", &self.customer_currency, 5),
        ] {
            let key = format!("{SECTION}.{key}");
            check_not_blank(&key, value)?;
            if value.len() > max || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::invalid(
                    key,
                    format!("at most {max} letters or digits"),
                ));
            }
        }
        if self.reference_max_len().is_none() {
            return Err(ConfigError::invalid(
                format!("{SECTION}.reference_field"),
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
        if self.pricing == Pricing::Crm
            && (self.price_condition_type.is_empty()
                || self.price_condition_type.len() > 4
                || !self
                    .price_condition_type
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(ConfigError::invalid(
                format!("{SECTION}.price_condition_type"),
                "1-4 letters or digits (a manual price condition); set `pricing = \"erp\"` to let SAP price the order instead",
            ));
        }
        for (key, value) in [
            ("quantity_unit", &self.quantity_unit),
            ("business_partner_grouping", &self.business_partner_grouping),
        ] {
            if let Some(value) = value
                && (value.is_empty()
                    || value.len() > 4
                    || !value.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                return Err(ConfigError::invalid(
                    format!("{SECTION}.{key}"),
                    "1-4 letters or digits",
                ));
            }
        }
        Ok(())
    }

    /// `MaxLength` of the configured reference field.
    pub fn reference_max_len(&self) -> Option<usize> {
        REFERENCE_FIELDS
            .iter()
            .find(|(f, _)| *f == self.reference_field)
            .map(|(_, max)| *max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn section() -> serde_json::Value {
        serde_json::json!({
            "base_url": "https://my300000-api.s4hana.cloud.sap",
            "auth": {"kind": "basic", "username": "COMM_USER", "password": "pw"},
        })
    }

    fn fields() -> serde_json::Value {
        serde_json::json!({
            "sales_organization": "1010", "distribution_channel": "10", "organization_division": "00"
        })
    }

    fn parse(fields: serde_json::Value) -> S4HanaConfig {
        let mut cfg: S4HanaConfig = serde_json::from_value(section()).expect("parses");
        cfg.deal_to_order = serde_json::from_value(fields).expect("field maps parse");
        cfg
    }

    #[test]
    fn defaults_and_named_errors() {
        let cfg = parse(fields());
        cfg.validate().expect("valid");
        assert_eq!(cfg.deal_to_order.reference_field, "PurchaseOrderByCustomer");
        assert_eq!(cfg.deal_to_order.reference_max_len(), Some(35));
        assert_eq!(
            cfg.service_root("API_SALES_ORDER_SRV"),
            "https://my300000-api.s4hana.cloud.sap/sap/opu/odata/sap/API_SALES_ORDER_SRV"
        );
        let mut value = fields();
        value["reference_field"] = "SalesOrder".into();
        assert!(
            matches!(parse(value).validate(), Err(ConfigError::Invalid { key, .. }) if key == "deal_to_order.erp.s4hana.reference_field")
        );
        assert_eq!(
            parse(serde_json::json!({})).validate(),
            Err(ConfigError::missing(
                "deal_to_order.erp.s4hana.sales_organization"
            ))
        );
        let mut value = section();
        value["sap_client"] = "1".into();
        let mut cfg: S4HanaConfig = serde_json::from_value(value).expect("parses");
        cfg.deal_to_order = serde_json::from_value(fields()).expect("field maps parse");
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn the_crm_price_is_carried_unless_sap_is_told_to_price() {
        let cfg = parse(fields());
        assert_eq!(cfg.deal_to_order.pricing, Pricing::Crm);
        assert_eq!(cfg.deal_to_order.price_condition_type, "PPR0");
        assert_eq!(
            cfg.deal_to_order.ship_to_address,
            ShipToAddress::PartnerAddress
        );
        let mut value = fields();
        value["price_condition_type"] = "".into();
        let err = parse(value.clone()).validate().expect_err("no condition");
        assert!(
            err.to_string().contains("pricing = \"erp\""),
            "the error names the opt-out: {err}"
        );
        value["pricing"] = "erp".into();
        parse(value).validate().expect("SAP prices");
        let mut value = fields();
        value["ship_to_address"] = "unsupported".into();
        value["organization_division"] = "000".into();
        assert!(
            matches!(parse(value).validate(), Err(ConfigError::Invalid { key, .. }) if key == "deal_to_order.erp.s4hana.organization_division")
        );
    }

    #[test]
    fn moved_lists_every_field_map_key() {
        crate::field_maps::assert_moved_keys::<DealToOrderFields>(MOVED);
    }
}

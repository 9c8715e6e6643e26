//! Tryton connector settings.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, check_base_url, check_not_blank};
use crate::http_client::HttpTimeouts;

/// Where the CRM account reference is kept on the Tryton party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKey {
    /// The party `code` (unique in Tryton, so a concurrent create is refused).
    Code,
    /// A `party.identifier` without a type whose code is the reference; the
    /// party code stays on Tryton's own sequence.
    Identifier,
}

/// How far a new sale is taken through Tryton's workflow.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Workflow {
    /// Left in draft: no number yet, so the record id is the order number.
    Draft,
    /// Quoted: Tryton assigns the sale number.
    Quote,
    /// Quoted and confirmed: Tryton then creates the invoice and shipment.
    Confirm,
}

/// Settings of the Tryton JSON-RPC connector.
///
/// `Debug` is safe to log: the password prints as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrytonConfig {
    /// Server URL without the database, e.g. `http://127.0.0.1:8000`.
    pub base_url: String,
    /// Database name; calls go to `{base_url}/{database}/rpc/` (Tryton 8.x).
    pub database: String,
    /// Login of the integration user.
    pub username: String,
    /// Its password.
    #[schemars(with = "crate::config::Secret")]
    pub password: SecretString,
    /// Language code sent at login (default `en`); it picks the language of error messages.
    pub language: String,
    /// Where the CRM account reference lives on the party (default `code`).
    pub customer_key: CustomerKey,
    /// Deal-to-order's settings, from `[deal_to_order.erp.tryton]`.
    #[serde(skip)]
    pub deal_to_order: DealToOrderFields,
    /// Fulfilment-sync's settings, from `[fulfilment_sync.erp.tryton]`.
    #[serde(skip)]
    pub fulfilment: super::FulfilmentFields,
    /// HTTP timeouts.
    pub timeouts: HttpTimeouts,
}

impl Default for TrytonConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            database: String::new(),
            username: String::new(),
            password: SecretString::default(),
            language: "en".into(),
            customer_key: CustomerKey::Code,
            deal_to_order: DealToOrderFields::default(),
            fulfilment: super::FulfilmentFields::default(),
            timeouts: HttpTimeouts::default(),
        }
    }
}

impl TrytonConfig {
    /// Checks every setting, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base_url("tryton.base_url", &self.base_url)?;
        check_not_blank("tryton.database", &self.database)?;
        // The name is a URL path segment; keep it to what Tryton's own tools accept.
        if !self
            .database
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            return Err(ConfigError::invalid(
                "tryton.database",
                "may only contain letters, digits, `_`, `-` and `.`",
            ));
        }
        check_not_blank("tryton.username", &self.username)?;
        if self.username.contains(':') {
            // The session header is `login:user_id:token`.
            return Err(ConfigError::invalid(
                "tryton.username",
                "must not contain `:`",
            ));
        }
        if self.password.expose_secret().is_empty() {
            return Err(ConfigError::missing("tryton.password"));
        }
        check_not_blank("tryton.language", &self.language)?;
        for (key, field) in [
            (
                "fulfilment_sync.erp.tryton.carrier_field",
                &self.fulfilment.carrier_field,
            ),
            (
                "fulfilment_sync.erp.tryton.tracking_field",
                &self.fulfilment.tracking_field,
            ),
        ] {
            // The name goes into the field list of a read as is.
            if !field
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(ConfigError::invalid(
                    key,
                    "must be a Tryton field name (lowercase letters, digits, `_`)",
                ));
            }
        }
        self.timeouts.validate("tryton.timeouts")
    }

    /// The JSON-RPC endpoint of the database.
    pub fn rpc_url(&self) -> String {
        format!(
            "{}/{}/rpc/",
            self.base_url.trim_end_matches('/'),
            self.database
        )
    }
}

/// Deal-to-order's Tryton settings: section `[deal_to_order.erp.tryton]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DealToOrderFields {
    /// How far new sales are taken (default `confirm`).
    pub workflow: Workflow,
}

impl Default for DealToOrderFields {
    fn default() -> Self {
        Self {
            workflow: Workflow::Confirm,
        }
    }
}

/// Keys of [`DealToOrderFields`] that sat in `[erp.tryton]` before the split.
pub(crate) const MOVED: &[&str] = &["workflow"];

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn valid() -> TrytonConfig {
        TrytonConfig {
            base_url: "http://127.0.0.1:8000/".into(),
            database: "tryton".into(),
            username: "admin".into(),
            password: "admin-secret".into(),
            ..TrytonConfig::default()
        }
    }

    #[test]
    fn the_url_ends_in_the_database_and_rpc() {
        assert_eq!(valid().rpc_url(), "http://127.0.0.1:8000/tryton/rpc/");
        valid().validate().expect("valid");
    }

    #[test]
    fn defaults_deserialize_and_validation_names_the_key() {
        let cfg: TrytonConfig =
            serde_json::from_str(r#"{"base_url":"http://h:8000","database":"db","username":"u"}"#)
                .expect("parses");
        assert_eq!(cfg.deal_to_order.workflow, Workflow::Confirm);
        assert_eq!(cfg.customer_key, CustomerKey::Code);
        assert_eq!(cfg.validate(), Err(ConfigError::missing("tryton.password")));
        let cfg = TrytonConfig {
            database: "a/b".into(),
            ..valid()
        };
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "tryton.database")
        );
        let fields: Result<DealToOrderFields, _> = serde_json::from_str(r#"{"workflow":"ship"}"#);
        assert!(fields.is_err());
        let typo: Result<TrytonConfig, _> =
            serde_json::from_str(r#"{"workflw":"quote","base_url":"http://h"}"#);
        assert!(typo.is_err());
        assert!(!format!("{:?}", valid()).contains("admin-secret"));
    }

    #[test]
    fn moved_lists_every_field_map_key() {
        crate::field_maps::assert_moved_keys::<DealToOrderFields>(MOVED);
    }
}

//! NetSuite connector settings.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, check_base_url, check_not_blank};
use crate::http_client::HttpTimeouts;

/// Settings of the NetSuite REST connector (token-based authentication).
///
/// `Debug` is safe to log: both secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct NetSuiteConfig {
    /// Account id, e.g. `1234567` or `1234567_SB1`; also the OAuth realm.
    pub account_id: String,
    /// REST base URL; default derived from the account:
    /// `https://{account lower-cased, _ -> -}.suitetalk.api.netsuite.com`.
    pub base_url: Option<String>,
    /// Integration record consumer key.
    pub consumer_key: String,
    /// Integration record consumer secret.
    #[schemars(with = "crate::config::Secret")]
    pub consumer_secret: SecretString,
    /// Access token id.
    pub token_id: String,
    /// Access token secret.
    #[schemars(with = "crate::config::Secret")]
    pub token_secret: SecretString,
    /// Deal-to-order's settings, from `[deal_to_order.erp.netsuite]`.
    #[serde(skip)]
    pub deal_to_order: DealToOrderFields,
    /// Fulfilment-sync's status maps, from `[fulfilment_sync.erp.netsuite]`.
    #[serde(skip)]
    pub fulfilment: super::FulfilmentFields,
    /// Prepended to every external id this connector writes or looks up, to keep
    /// environments or integrations apart in one account (default empty).
    pub external_id_prefix: String,
    /// Item record types searched for a SKU, in order (default `["inventoryItem"]`).
    pub item_record_types: Vec<String>,
    /// SKU -> item id entries kept in memory (default 1000).
    pub item_cache_capacity: usize,
    /// HTTP timeouts.
    pub timeouts: HttpTimeouts,
}

impl Default for NetSuiteConfig {
    fn default() -> Self {
        Self {
            account_id: String::new(),
            base_url: None,
            consumer_key: String::new(),
            consumer_secret: SecretString::default(),
            token_id: String::new(),
            token_secret: SecretString::default(),
            deal_to_order: DealToOrderFields::default(),
            fulfilment: super::FulfilmentFields::default(),
            external_id_prefix: String::new(),
            item_record_types: vec!["inventoryItem".into()],
            item_cache_capacity: 1000,
            timeouts: HttpTimeouts::default(),
        }
    }
}

impl NetSuiteConfig {
    /// Checks every setting, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_not_blank("netsuite.account_id", &self.account_id)?;
        if !self
            .account_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ConfigError::invalid(
                "netsuite.account_id",
                "may only contain letters, digits, `_` and `-`",
            ));
        }
        check_base_url("netsuite.base_url", &self.effective_base_url())?;
        check_not_blank("netsuite.consumer_key", &self.consumer_key)?;
        check_not_blank("netsuite.token_id", &self.token_id)?;
        if self.consumer_secret.expose_secret().is_empty() {
            return Err(ConfigError::missing("netsuite.consumer_secret"));
        }
        if self.token_secret.expose_secret().is_empty() {
            return Err(ConfigError::missing("netsuite.token_secret"));
        }
        self.deal_to_order.validate()?;
        // External ids may only hold letters, digits, `_` and `-` (NetSuite REST docs).
        if !self
            .external_id_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ConfigError::invalid(
                "netsuite.external_id_prefix",
                "may only contain letters, digits, `_` and `-`",
            ));
        }
        if self.item_record_types.is_empty() {
            return Err(ConfigError::missing("netsuite.item_record_types"));
        }
        if self
            .item_record_types
            .iter()
            .any(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(ConfigError::invalid(
                "netsuite.item_record_types",
                "each entry must be a record type name such as inventoryItem",
            ));
        }
        if self.item_cache_capacity == 0 {
            return Err(ConfigError::invalid(
                "netsuite.item_cache_capacity",
                "must be at least 1",
            ));
        }
        self.timeouts.validate("netsuite.timeouts")
    }

    /// The OAuth realm: the account id upper-cased with `-` as `_` (`1234567_SB1`).
    pub fn realm(&self) -> String {
        self.account_id.to_ascii_uppercase().replace('-', "_")
    }

    /// The configured base URL, or the one derived from the account id.
    pub fn effective_base_url(&self) -> String {
        match &self.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!(
                "https://{}.suitetalk.api.netsuite.com",
                self.account_id.to_ascii_lowercase().replace('_', "-")
            ),
        }
    }
}

/// Deal-to-order's NetSuite settings: section `[deal_to_order.erp.netsuite]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default)]
pub struct DealToOrderFields {
    /// Subsidiary of new customers (OneWorld accounts need one).
    pub subsidiary_id: Option<String>,
}

/// Keys of [`DealToOrderFields`] that sat in `[erp.netsuite]` before the split.
pub(crate) const MOVED: &[&str] = &["subsidiary_id"];

impl DealToOrderFields {
    /// Checks every setting; errors name keys under `deal_to_order.erp.netsuite`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(subsidiary) = &self.subsidiary_id {
            check_not_blank("deal_to_order.erp.netsuite.subsidiary_id", subsidiary)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn valid() -> NetSuiteConfig {
        NetSuiteConfig {
            account_id: "1234567_SB1".into(),
            consumer_key: "ck".into(),
            consumer_secret: "cs-secret".into(),
            token_id: "tk".into(),
            token_secret: "ts-secret".into(),
            ..NetSuiteConfig::default()
        }
    }

    #[test]
    fn host_and_realm_are_derived_from_the_account() {
        let cfg = valid();
        assert_eq!(cfg.realm(), "1234567_SB1");
        assert_eq!(
            cfg.effective_base_url(),
            "https://1234567-sb1.suitetalk.api.netsuite.com"
        );
        let cfg = NetSuiteConfig {
            account_id: "1234567-sb1".into(),
            ..valid()
        };
        assert_eq!(cfg.realm(), "1234567_SB1");
        let cfg = NetSuiteConfig {
            base_url: Some("http://127.0.0.1:9/".into()),
            ..valid()
        };
        assert_eq!(cfg.effective_base_url(), "http://127.0.0.1:9");
        cfg.validate().expect("valid");
    }

    #[test]
    fn defaults_deserialize_and_validation_names_the_key() {
        let cfg: NetSuiteConfig = serde_json::from_str(r#"{"account_id":"42"}"#).expect("parses");
        assert_eq!(cfg.item_record_types, vec!["inventoryItem".to_owned()]);
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing("netsuite.consumer_key"))
        );
        let cfg = NetSuiteConfig {
            token_secret: "".into(),
            ..valid()
        };
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing("netsuite.token_secret"))
        );
        let cfg = NetSuiteConfig {
            account_id: "12/34".into(),
            ..valid()
        };
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "netsuite.account_id")
        );
        let cfg = NetSuiteConfig {
            external_id_prefix: "prod:".into(),
            ..valid()
        };
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "netsuite.external_id_prefix")
        );
        assert!(!format!("{:?}", valid()).contains("secret\""));
    }

    #[test]
    fn moved_lists_every_field_map_key() {
        crate::field_maps::assert_moved_keys::<DealToOrderFields>(MOVED);
    }
}

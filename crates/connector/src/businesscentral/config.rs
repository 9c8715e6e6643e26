//! Business Central connector settings.

use serde::Deserialize;

use crate::config::{ConfigError, check_base_url, check_not_blank};
use crate::http_client::HttpTimeouts;
use crate::oauth2::ClientCredentialsConfig;

/// The scope of Business Central's API for client-credentials tokens.
pub const DEFAULT_SCOPE: &str = "https://api.businesscentral.dynamics.com/.default";

/// Settings of the Business Central API v2.0 connector.
///
/// `Debug` is safe to log: the client secret prints as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessCentralConfig {
    /// API host (default `https://api.businesscentral.dynamics.com`).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Entra ID tenant (directory) id or domain.
    pub tenant_id: String,
    /// Environment name, e.g. `production` or `sandbox`.
    pub environment: String,
    /// The company (`companies({id})`) orders and customers live in.
    pub company_id: String,
    /// Entra ID app registration used for client credentials. `token_url`
    /// defaults to `https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token`
    /// and `scope` to [`DEFAULT_SCOPE`].
    pub oauth: OAuthSettings,
    /// Prepended to every customer number this connector derives (default empty).
    #[serde(default)]
    pub customer_number_prefix: String,
    /// How order lines are sent (default `deep_insert`).
    #[serde(default)]
    pub lines: LinesMode,
    /// HTTP timeouts.
    #[serde(default)]
    pub timeouts: HttpTimeouts,
}

/// How sales order lines reach Business Central.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LinesMode {
    /// One `POST salesOrders` carrying `salesOrderLines` (atomic).
    #[default]
    DeepInsert,
    /// The header first, then one `POST salesOrderLines` per line; a failed line
    /// deletes the header so a retry starts clean.
    FollowUp,
}

/// The `[erp.businesscentral.oauth]` section: client credentials with Entra ID defaults.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// Token endpoint; default derived from the tenant.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    #[schemars(with = "crate::config::Secret")]
    pub client_secret: secrecy::SecretString,
    /// Scope (default [`DEFAULT_SCOPE`]).
    #[serde(default)]
    pub scope: Option<String>,
    /// Refresh this many seconds before expiry (default 120).
    #[serde(default)]
    pub refresh_margin_secs: Option<u64>,
}

fn default_base_url() -> String {
    "https://api.businesscentral.dynamics.com".to_owned()
}

impl BusinessCentralConfig {
    /// Checks every setting, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base_url("businesscentral.base_url", &self.base_url)?;
        check_segment("businesscentral.tenant_id", &self.tenant_id)?;
        check_segment("businesscentral.environment", &self.environment)?;
        check_not_blank("businesscentral.company_id", &self.company_id)?;
        if uuid_like(&self.company_id).is_none() {
            return Err(ConfigError::invalid(
                "businesscentral.company_id",
                "must be the company's GUID, e.g. 7c5a8b1e-0000-0000-0000-000000000001",
            ));
        }
        if !self
            .customer_number_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || self.customer_number_prefix.len() > 10
        {
            return Err(ConfigError::invalid(
                "businesscentral.customer_number_prefix",
                "at most 10 letters, digits or `-`",
            ));
        }
        self.oauth_config().validate("businesscentral.oauth")?;
        self.timeouts.validate("businesscentral.timeouts")
    }

    /// The client-credentials settings with Entra ID defaults filled in.
    pub fn oauth_config(&self) -> ClientCredentialsConfig {
        ClientCredentialsConfig {
            token_url: self.oauth.token_url.clone().unwrap_or_else(|| {
                format!(
                    "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                    self.tenant_id
                )
            }),
            client_id: self.oauth.client_id.clone(),
            client_secret: self.oauth.client_secret.clone(),
            scope: Some(
                self.oauth
                    .scope
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SCOPE.to_owned()),
            ),
            refresh_margin_secs: self.oauth.refresh_margin_secs.unwrap_or(120),
        }
    }

    /// `{base}/v2.0/{tenant}/{environment}/api/v2.0`.
    pub fn api_root(&self) -> String {
        format!(
            "{}/v2.0/{}/{}/api/v2.0",
            self.base_url.trim_end_matches('/'),
            self.tenant_id,
            self.environment
        )
    }
}

/// A URL path segment: letters, digits, `.`, `-` and `_` only.
fn check_segment(key: &str, value: &str) -> Result<(), ConfigError> {
    check_not_blank(key, value)?;
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            "may only contain letters, digits, `.`, `-` and `_`",
        ))
    }
}

/// `Some(value)` when `value` is a hyphenated GUID (BC's `SystemId`).
pub(crate) fn uuid_like(value: &str) -> Option<&str> {
    let groups: Vec<&str> = value.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    (groups.len() == 5
        && groups
            .iter()
            .zip(shape)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit())))
    .then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> serde_json::Value {
        serde_json::json!({
            "tenant_id": "contoso.onmicrosoft.com", "environment": "sandbox",
            "company_id": "7c5a8b1e-0000-4000-8000-000000000001",
            "oauth": {"client_id": "app", "client_secret": "s"}
        })
    }

    #[test]
    fn entra_defaults_are_derived_from_the_tenant() {
        let cfg: BusinessCentralConfig = serde_json::from_value(section()).expect("parses");
        cfg.validate().expect("valid");
        let oauth = cfg.oauth_config();
        assert_eq!(
            oauth.token_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(oauth.scope.as_deref(), Some(DEFAULT_SCOPE));
        assert_eq!(
            cfg.api_root(),
            "https://api.businesscentral.dynamics.com/v2.0/contoso.onmicrosoft.com/sandbox/api/v2.0"
        );
        assert!(!format!("{cfg:?}").contains("\"s\""));
    }

    #[test]
    fn bad_settings_are_named() {
        let mut value = section();
        value["company_id"] = "CRONUS".into();
        let cfg: BusinessCentralConfig = serde_json::from_value(value).expect("parses");
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "businesscentral.company_id")
        );
        let mut value = section();
        value["oauth"]["client_secret"] = "".into();
        let cfg: BusinessCentralConfig = serde_json::from_value(value).expect("parses");
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing("businesscentral.oauth.client_secret"))
        );
    }
}

//! Salesforce connector and webhook settings, section `[crm.salesforce]`.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::fulfilment::FulfilmentFields;
use super::webhook::WebhookSettings;
use crate::config::{ConfigError, check_base_url, check_currency, check_not_blank};
use crate::http_client::HttpTimeouts;

/// How the connector obtains its access token.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AuthFlow {
    /// OAuth 2.0 client credentials against the My Domain host (runs as the app's "Run As" user).
    #[default]
    ClientCredentials,
    /// OAuth 2.0 JWT bearer: an RS256 assertion signed with the connected app's certificate key.
    JwtBearer,
}

/// Settings of the Salesforce connector and of Salesforce inbound notifications.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SalesforceConfig {
    /// Host of the token endpoint (`/services/oauth2/token`): `https://login.salesforce.com`
    /// (`https://test.salesforce.com` for sandboxes) for JWT bearer; the My Domain URL for
    /// client credentials.
    pub login_url: String,
    /// API host; when unset, the `instance_url` of the token response is used.
    pub instance_url: Option<String>,
    /// REST API version, e.g. `v62.0`.
    pub api_version: String,
    /// `client_credentials` (default) or `jwt_bearer`.
    pub auth_flow: AuthFlow,
    /// The connected app's consumer key (`client_id`, the JWT `iss`).
    pub client_id: String,
    /// The consumer secret (client credentials only).
    #[schemars(with = "crate::config::Secret")]
    pub client_secret: SecretString,
    /// The Salesforce username the JWT is issued for (`sub`, JWT bearer only).
    pub username: String,
    /// PEM RSA private key matching the connected app's certificate (JWT bearer only).
    #[schemars(with = "crate::config::Secret")]
    pub private_key: SecretString,
    /// JWT `aud`: the login host (`https://login.salesforce.com`,
    /// `https://test.salesforce.com` or an Experience Cloud site URL), never a
    /// My Domain URL. Default: `test.salesforce.com` when `login_url` is
    /// `test.salesforce.com` or a sandbox My Domain, else `login.salesforce.com`.
    pub audience: Option<String>,
    /// How long a session lives, in seconds: Salesforce's token response carries no expiry,
    /// so this mirrors the org's session timeout (default 7200).
    pub session_lifetime_secs: u64,
    /// Refresh this many seconds before the session would expire (default 300).
    pub refresh_margin_secs: u64,
    /// Deal-to-order's field maps, from `[deal_to_order.crm.salesforce]`.
    #[serde(skip)]
    pub deal_to_order: DealToOrderFields,
    /// Fulfilment-sync's field maps, from `[fulfilment_sync.crm.salesforce]`.
    #[serde(skip)]
    pub fulfilment: FulfilmentFields,
    /// Inbound notifications: `organization_id`, `callout_secret`, `won_stages`.
    #[serde(flatten)]
    pub webhook: WebhookSettings,
    /// HTTP timeouts.
    pub timeouts: HttpTimeouts,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        Self {
            login_url: "https://login.salesforce.com".into(),
            instance_url: None,
            api_version: "v62.0".into(),
            auth_flow: AuthFlow::default(),
            client_id: String::new(),
            client_secret: SecretString::default(),
            username: String::new(),
            private_key: SecretString::default(),
            audience: None,
            session_lifetime_secs: 7200,
            refresh_margin_secs: 300,
            deal_to_order: DealToOrderFields::default(),
            fulfilment: FulfilmentFields::default(),
            webhook: WebhookSettings::default(),
            timeouts: HttpTimeouts::default(),
        }
    }
}

impl SalesforceConfig {
    /// Checks every setting the API connector needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base_url("salesforce.login_url", &self.login_url)?;
        if let Some(url) = &self.instance_url {
            check_base_url("salesforce.instance_url", url)?;
        }
        let version = self.api_version.strip_prefix('v').unwrap_or("");
        if version.split('.').count() != 2 || !version.split('.').all(|p| p.parse::<u32>().is_ok())
        {
            return Err(ConfigError::invalid(
                "salesforce.api_version",
                "must look like v62.0",
            ));
        }
        check_not_blank("salesforce.client_id", &self.client_id)?;
        match self.auth_flow {
            AuthFlow::ClientCredentials => {
                if self.client_secret.expose_secret().trim().is_empty() {
                    return Err(ConfigError::missing("salesforce.client_secret"));
                }
                if GENERIC_LOGIN_HOSTS.contains(&host(&self.login_url).as_str()) {
                    return Err(ConfigError::invalid(
                        "crm.salesforce.login_url",
                        "client credentials are granted only on the org's My Domain token \
                         endpoint (https://<my-domain>.my.salesforce.com); \
                         login.salesforce.com and test.salesforce.com refuse them: \
                         set login_url to the My Domain URL, or use auth_flow = \"jwt_bearer\"",
                    ));
                }
            }
            AuthFlow::JwtBearer => {
                if let Some(audience) = &self.audience {
                    check_base_url("crm.salesforce.audience", audience)?;
                    if is_my_domain(&host(audience)) {
                        return Err(ConfigError::invalid(
                            "crm.salesforce.audience",
                            "the JWT audience is the login host (https://login.salesforce.com, \
                             https://test.salesforce.com or an Experience Cloud site), \
                             never a My Domain URL",
                        ));
                    }
                }
                check_not_blank("salesforce.username", &self.username)?;
                let key = self.private_key.expose_secret();
                if key.trim().is_empty() {
                    return Err(ConfigError::missing("salesforce.private_key"));
                }
                jsonwebtoken::EncodingKey::from_rsa_pem(key.as_bytes()).map_err(|e| {
                    ConfigError::invalid(
                        "salesforce.private_key",
                        format!("not an RSA PEM key: {e}"),
                    )
                })?;
            }
        }
        if self.session_lifetime_secs <= self.refresh_margin_secs {
            return Err(ConfigError::invalid(
                "salesforce.session_lifetime_secs",
                "must be longer than salesforce.refresh_margin_secs",
            ));
        }
        self.deal_to_order.validate()?;
        self.fulfilment.validate()?;
        self.timeouts.validate("salesforce.timeouts")
    }
}

/// The generic login hosts: they serve the JWT bearer flow but never client credentials.
const GENERIC_LOGIN_HOSTS: [&str; 2] = ["login.salesforce.com", "test.salesforce.com"];

/// The lower-cased host of a URL, empty when it has none.
fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

/// True for an org's My Domain host (`<name>.my.salesforce.com`, sandboxes
/// `<name>--<sandbox>.sandbox.my.salesforce.com`).
fn is_my_domain(host: &str) -> bool {
    host.ends_with(".my.salesforce.com")
}

impl SalesforceConfig {
    /// The JWT bearer `aud`: `audience`, or the login host that serves the org
    /// of `login_url` (sandboxes log in at `test.salesforce.com`).
    pub fn jwt_audience(&self) -> String {
        if let Some(audience) = &self.audience {
            return audience.trim_end_matches('/').to_owned();
        }
        let login = host(&self.login_url);
        if login == "test.salesforce.com" || login.ends_with(".sandbox.my.salesforce.com") {
            "https://test.salesforce.com".into()
        } else {
            "https://login.salesforce.com".into()
        }
    }
}

/// Deal-to-order's Salesforce field maps: section `[deal_to_order.crm.salesforce]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default)]
pub struct DealToOrderFields {
    /// Opportunity field receiving the ERP order number (default `ERP_Order_Number__c`).
    pub write_back_field: String,
    /// Opportunity field receiving `synced` / `error`; empty to not write one.
    pub sync_status_field: String,
    /// Opportunity field receiving the sync error text; empty to not write one.
    pub sync_error_field: String,
    /// Field holding the ISO currency (multi-currency orgs: `CurrencyIsoCode`); empty to
    /// always use `default_currency`.
    pub currency_field: String,
    /// Currency used when the opportunity names none (default `USD`).
    pub default_currency: String,
}

/// Keys of [`DealToOrderFields`] that sat in `[crm.salesforce]` before the split.
pub(crate) const MOVED: &[&str] = &[
    "write_back_field",
    "sync_status_field",
    "sync_error_field",
    "currency_field",
    "default_currency",
];

const SECTION: &str = "deal_to_order.crm.salesforce";

impl Default for DealToOrderFields {
    fn default() -> Self {
        Self {
            write_back_field: "ERP_Order_Number__c".into(),
            sync_status_field: "ERP_Sync_Status__c".into(),
            sync_error_field: "ERP_Sync_Error__c".into(),
            currency_field: String::new(),
            default_currency: "USD".into(),
        }
    }
}

impl DealToOrderFields {
    /// Checks every map; errors name keys under `deal_to_order.crm.salesforce`.
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
    fn validation_names_the_missing_setting_per_flow() {
        let cfg: SalesforceConfig = serde_json::from_str(r#"{"client_id":"c"}"#).expect("parses");
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing("salesforce.client_secret"))
        );
        let cfg: SalesforceConfig =
            serde_json::from_str(r#"{"client_id":"c","auth_flow":"jwt_bearer","username":"u"}"#)
                .expect("parses");
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::missing("salesforce.private_key"))
        );
        let cfg: SalesforceConfig = serde_json::from_str(
            r#"{"client_id":"c","auth_flow":"jwt_bearer","username":"u","private_key":"nope"}"#,
        )
        .expect("parses");
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "salesforce.private_key")
        );
        let cfg: SalesforceConfig =
            serde_json::from_str(r#"{"client_id":"c","client_secret":"s","api_version":"62"}"#)
                .expect("parses");
        assert!(
            matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "salesforce.api_version")
        );
    }

    #[test]
    fn moved_lists_every_field_map_key() {
        crate::field_maps::assert_moved_keys::<DealToOrderFields>(MOVED);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let cfg = SalesforceConfig {
            client_secret: "very-secret".into(),
            ..SalesforceConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("very-secret"));
    }
}

//! Configuration errors shared by every vendor connector.

/// A connector setting is missing or invalid; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is empty or absent.
    #[error("missing required setting `{key}`")]
    Missing {
        /// The setting's key, e.g. `hubspot.access_token`.
        key: String,
    },
    /// A setting has a value that cannot work.
    #[error("invalid setting `{key}`: {reason}")]
    Invalid {
        /// The setting's key, e.g. `netsuite.account_id`.
        key: String,
        /// Why the value was rejected.
        reason: String,
    },
}

impl ConfigError {
    /// A missing setting.
    pub fn missing(key: impl Into<String>) -> Self {
        Self::Missing { key: key.into() }
    }

    /// An invalid setting.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Checks that `value` is an absolute `http(s)` URL without query or fragment.
pub(crate) fn check_base_url(key: &str, value: &str) -> Result<url::Url, ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::missing(key));
    }
    let parsed = url::Url::parse(value).map_err(|e| ConfigError::invalid(key, e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::invalid(
            key,
            "the scheme must be http or https",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::invalid(
            key,
            "must not carry a query or fragment",
        ));
    }
    if parsed.host_str().is_none() {
        return Err(ConfigError::invalid(key, "must name a host"));
    }
    Ok(parsed)
}

/// Checks that a plain string setting is not blank.
pub(crate) fn check_not_blank(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::missing(key))
    } else {
        Ok(())
    }
}

/// Checks that a currency setting is an ISO 4217 code (three upper-case letters).
pub(crate) fn check_currency(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            "must be an ISO 4217 code such as USD",
        ))
    }
}

/// The configuration reference's shape of a secret setting (a `SecretString`,
/// `#[schemars(with = "Secret")]`): a string never shown, so the reference
/// gives it no default.
pub struct Secret;

impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "writeOnly": true})
    }
}

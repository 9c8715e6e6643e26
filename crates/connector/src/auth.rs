//! HTTP Basic or OAuth 2.0 client credentials, chosen by configuration, for
//! vendors that accept either (SAP S/4HANA communication users, Oracle Fusion).

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::{ConfigError, check_not_blank};
use crate::oauth2::{ClientCredentialsConfig, TokenCache};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// The `auth` section: `kind = "basic"` with `username`/`password`, or
/// `kind = "oauth"` with the client-credentials settings.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthSettings {
    /// HTTP Basic with a technical (communication) user.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: SecretString,
    },
    /// OAuth 2.0 client credentials.
    Oauth {
        /// Token endpoint.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: SecretString,
        /// Requested scope, if the identity provider needs one.
        #[serde(default)]
        scope: Option<String>,
        /// Refresh this many seconds before expiry (default 120).
        #[serde(default)]
        refresh_margin_secs: Option<u64>,
    },
}

impl AuthSettings {
    /// Checks the settings; keys are named under `prefix` (e.g. `s4hana.auth`).
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        match self {
            Self::Basic { username, password } => {
                check_not_blank(&format!("{prefix}.username"), username)?;
                if username.contains(':') {
                    return Err(ConfigError::invalid(
                        format!("{prefix}.username"),
                        "must not contain `:` (HTTP Basic separates user and password with it)",
                    ));
                }
                if password.expose_secret().is_empty() {
                    return Err(ConfigError::missing(format!("{prefix}.password")));
                }
                Ok(())
            }
            Self::Oauth { .. } => self
                .client_credentials()
                .map_or(Ok(()), |c| c.validate(prefix)),
        }
    }

    fn client_credentials(&self) -> Option<ClientCredentialsConfig> {
        match self {
            Self::Basic { .. } => None,
            Self::Oauth {
                token_url,
                client_id,
                client_secret,
                scope,
                refresh_margin_secs,
            } => Some(ClientCredentialsConfig {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                scope: scope.clone(),
                refresh_margin_secs: refresh_margin_secs.unwrap_or(120),
            }),
        }
    }
}

/// Produces the `Authorization` header of each call.
#[derive(Debug)]
pub enum Authorizer {
    /// A fixed Basic header.
    Basic(HeaderValue),
    /// Bearer tokens from a shared cache.
    Bearer(TokenCache),
}

/// The credential behind one header, to hand back to [`Authorizer::rejected`].
#[derive(Debug)]
pub struct Credential {
    /// The `Authorization` header value (marked sensitive).
    pub header: HeaderValue,
    token: Option<SecretString>,
}

impl Authorizer {
    /// Builds the authorizer for `settings` (validate them first).
    pub fn new(
        system: &'static str,
        settings: &AuthSettings,
        client: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        match settings {
            AuthSettings::Basic { username, password } => {
                use base64::Engine as _;
                let raw = format!("{username}:{}", password.expose_secret());
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                let mut header =
                    HeaderValue::try_from(format!("Basic {encoded}")).map_err(|_| {
                        ConfigError::invalid(format!("{system}.auth"), "not a valid header")
                    })?;
                header.set_sensitive(true);
                Ok(Self::Basic(header))
            }
            AuthSettings::Oauth { .. } => {
                let config = settings
                    .client_credentials()
                    .ok_or_else(|| ConfigError::missing(format!("{system}.auth")))?;
                Ok(Self::Bearer(TokenCache::new(system, config, client)))
            }
        }
    }

    /// The header for the next call.
    pub async fn credential(
        &self,
        system: &'static str,
        endpoint: &str,
        calls: &CallLog,
    ) -> Result<Credential, ConnectorError> {
        match self {
            Self::Basic(header) => Ok(Credential {
                header: header.clone(),
                token: None,
            }),
            Self::Bearer(cache) => {
                let token = cache.token(calls).await?;
                let mut header = HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
                    .map_err(|_| {
                        ConnectorError::new(
                            ErrorKind::Auth,
                            ErrorCategory::Unauthorized,
                            system,
                            endpoint,
                            "the token endpoint issued a token that is not a valid header",
                        )
                    })?;
                header.set_sensitive(true);
                Ok(Credential {
                    header,
                    token: Some(token),
                })
            }
        }
    }

    /// The vendor answered 401 to `credential`: drop a cached token. Returns true
    /// when a retry with a fresh credential can help (bearer tokens only).
    pub async fn rejected(&self, credential: &Credential) -> bool {
        match (self, &credential.token) {
            (Self::Bearer(cache), Some(token)) => {
                cache.invalidate(token).await;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_deserialize_and_validate() {
        let basic: AuthSettings =
            serde_json::from_str(r#"{"kind":"basic","username":"COMM_USER","password":"pw"}"#)
                .expect("basic");
        basic.validate("s4hana.auth").expect("valid");
        let oauth: AuthSettings = serde_json::from_str(
            r#"{"kind":"oauth","token_url":"https://idp.example/token","client_id":"c","client_secret":"s"}"#,
        )
        .expect("oauth");
        oauth.validate("s4hana.auth").expect("valid");
        let bad: AuthSettings =
            serde_json::from_str(r#"{"kind":"basic","username":"u","password":""}"#)
                .expect("parses");
        assert_eq!(
            bad.validate("x.auth"),
            Err(ConfigError::missing("x.auth.password"))
        );
        assert!(!format!("{basic:?}").contains("pw"));
    }

    #[tokio::test]
    async fn basic_header_is_rfc7617() {
        let settings = AuthSettings::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        let auth = Authorizer::new("t", &settings, reqwest::Client::new()).expect("auth");
        let credential = auth
            .credential("t", "x", &CallLog::new())
            .await
            .expect("header");
        assert_eq!(credential.header, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(credential.header.is_sensitive());
        assert!(!auth.rejected(&credential).await);
    }
}

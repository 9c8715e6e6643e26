//! HTTP Basic or OAuth 2.0 client credentials, chosen by configuration, for
//! vendors that accept either (SAP S/4HANA communication users, Oracle Fusion).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::{ConfigError, check_not_blank};
use crate::http_kit::HeaderAuth;
use crate::oauth2::{ClientCredentialsConfig, TokenCache};

/// The `auth` section: `kind = "basic"` with `username`/`password`, or
/// `kind = "oauth"` with the client-credentials settings.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthSettings {
    /// HTTP Basic with a technical (communication) user.
    Basic {
        /// User name.
        username: String,
        /// Password.
        #[schemars(with = "crate::config::Secret")]
        password: SecretString,
    },
    /// OAuth 2.0 client credentials.
    Oauth {
        /// Token endpoint.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        #[schemars(with = "crate::config::Secret")]
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

impl AuthSettings {
    /// The kit authentication for these settings (validate them first): a fixed
    /// Basic header, or bearer tokens from a client-credentials cache.
    pub fn authenticator(
        &self,
        system: &'static str,
        client: reqwest::Client,
    ) -> Result<HeaderAuth, ConfigError> {
        match self {
            Self::Basic { username, password } => HeaderAuth::basic(
                username,
                password.expose_secret(),
                &format!("{system}.auth"),
            ),
            Self::Oauth { .. } => {
                let config = self
                    .client_credentials()
                    .ok_or_else(|| ConfigError::missing(format!("{system}.auth")))?;
                Ok(HeaderAuth::Bearer(TokenCache::client_credentials(
                    system, config, client,
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CallLog;

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
        use crate::http_kit::Authenticate as _;
        let settings = AuthSettings::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        let auth = settings
            .authenticator("t", reqwest::Client::new())
            .expect("auth");
        let endpoint = crate::endpoint!(GET "/x");
        let credential = auth
            .credential(&CallLog::new(), "t", &endpoint)
            .await
            .expect("credential");
        let mut request = reqwest::Client::new()
            .get("http://127.0.0.1/x")
            .build()
            .expect("request");
        auth.apply(&mut request, &credential, "t", &endpoint)
            .expect("applied");
        let header = &request.headers()[reqwest::header::AUTHORIZATION];
        assert_eq!(header, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(header.is_sensitive());
        let response = crate::http_client::VendorResponse {
            status: reqwest::StatusCode::UNAUTHORIZED,
            headers: reqwest::header::HeaderMap::new(),
            body: bytes::Bytes::new(),
            truncated: false,
        };
        assert!(
            !auth.renew(&credential, &response).await,
            "a fixed header cannot be renewed"
        );
    }
}

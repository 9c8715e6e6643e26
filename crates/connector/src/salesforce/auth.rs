//! Salesforce OAuth 2.0: the JWT bearer flow and the client-credentials flow.
//!
//! Neither flow returns a refresh token or an expiry, so a token is kept for the
//! configured session lifetime and fetched again before it ends (or at once
//! when the API answers `INVALID_SESSION_ID`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::SYSTEM;
use super::config::{AuthFlow, SalesforceConfig};
use crate::endpoint;
use crate::http_client::{execute, protocol_error};
use crate::http_kit::Endpoint;
use crate::oauth2::{Grant, Token};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// Endpoint template of the token call.
pub(crate) const ENDPOINT_TOKEN: Endpoint = endpoint!(POST "/services/oauth2/token");
/// The JWT bearer grant type.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of a JWT assertion; Salesforce accepts at most 3 minutes.
const ASSERTION_TTL_SECS: i64 = 180;

/// Claims of the JWT bearer assertion.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The consumer key.
    pub iss: String,
    /// The username.
    pub sub: String,
    /// The login host (never a My Domain URL).
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    instance_url: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

/// Builds the signed RS256 assertion of the JWT bearer flow.
pub(crate) fn assertion(config: &SalesforceConfig) -> Result<String, ConnectorError> {
    let key = EncodingKey::from_rsa_pem(config.private_key.expose_secret().as_bytes())
        .map_err(|e| auth_error(format!("private key unusable: {e}")))?;
    let claims = Claims {
        iss: config.client_id.clone(),
        sub: config.username.clone(),
        aud: config.jwt_audience(),
        exp: Utc::now().timestamp() + ASSERTION_TTL_SECS,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
        .map_err(|e| auth_error(format!("cannot sign the JWT assertion: {e}")))
}

/// The form body of the token request for the configured flow.
pub(crate) fn token_form(config: &SalesforceConfig) -> Result<String, ConnectorError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    match config.auth_flow {
        AuthFlow::JwtBearer => {
            form.append_pair("grant_type", JWT_BEARER_GRANT)
                .append_pair("assertion", &assertion(config)?);
        }
        AuthFlow::ClientCredentials => {
            form.append_pair("grant_type", "client_credentials")
                .append_pair("client_id", &config.client_id)
                .append_pair("client_secret", config.client_secret.expose_secret());
        }
    }
    Ok(form.finish())
}

/// The configured flow as a [`Grant`] of the connector's token cache.
#[derive(Debug)]
pub(crate) struct SalesforceGrant {
    config: SalesforceConfig,
    client: reqwest::Client,
    margin: Duration,
}

impl SalesforceGrant {
    /// A grant refreshing `margin` before the configured session lifetime ends.
    pub(crate) fn new(config: SalesforceConfig, client: reqwest::Client, margin: Duration) -> Self {
        Self {
            config,
            client,
            margin,
        }
    }
}

#[async_trait]
impl Grant for SalesforceGrant {
    async fn fetch(&self, calls: &CallLog) -> Result<Token, ConnectorError> {
        let issued_at = Instant::now();
        let (access_token, instance_url) = fetch_token(&self.config, &self.client, calls).await?;
        let lifetime = Duration::from_secs(self.config.session_lifetime_secs);
        Ok(Token {
            instance_url,
            ..Token::expiring(access_token, issued_at, lifetime, self.margin)
        })
    }
}

/// Asks the token endpoint for a new session: the token and the instance it is for.
async fn fetch_token(
    config: &SalesforceConfig,
    client: &reqwest::Client,
    calls: &CallLog,
) -> Result<(SecretString, Option<String>), ConnectorError> {
    let url = format!(
        "{}/services/oauth2/token",
        config.login_url.trim_end_matches('/')
    );
    let request = client
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(token_form(config)?);
    let response = execute(calls, SYSTEM, &ENDPOINT_TOKEN, request).await?;
    let status = response.status.as_u16();
    if !response.is_success() {
        let body: Option<TokenError> = serde_json::from_slice(&response.body).ok();
        let (code, description) = body
            .map(|b| {
                (
                    b.error.unwrap_or_default(),
                    b.error_description.unwrap_or_default(),
                )
            })
            .unwrap_or_default();
        let (kind, category) = match status {
            429 => (ErrorKind::Transient, ErrorCategory::RateLimited),
            500..=599 => (ErrorKind::Transient, ErrorCategory::Unavailable),
            _ => (ErrorKind::Auth, ErrorCategory::Unauthorized),
        };
        let mut err = ConnectorError::new(
            kind,
            category,
            SYSTEM,
            &ENDPOINT_TOKEN,
            format!("token request refused: {code} {description}"),
        )
        .with_status(status)
        .with_detail(&response.text());
        if kind == ErrorKind::Auth {
            err = err.with_resolution("check_crm_credentials");
        }
        return Err(err);
    }
    let token: TokenResponse = response.json(SYSTEM, &ENDPOINT_TOKEN)?;
    if token.access_token.is_empty() {
        return Err(protocol_error(
            SYSTEM,
            &ENDPOINT_TOKEN,
            "token response without access_token",
        ));
    }
    Ok((SecretString::from(token.access_token), token.instance_url))
}

fn auth_error(message: String) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Auth,
        ErrorCategory::Unauthorized,
        SYSTEM,
        &ENDPOINT_TOKEN,
        message,
    )
    .with_resolution("check_crm_credentials")
}

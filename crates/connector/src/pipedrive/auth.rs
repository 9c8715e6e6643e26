//! Pipedrive OAuth 2.0: the refresh-token grant with the client authenticated
//! by HTTP Basic, as Pipedrive's token endpoint requires. The refresh token may
//! rotate on each refresh, so the newest one is kept.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;

use super::{ENDPOINT_TOKEN, PipedriveOAuth, SYSTEM, errors};
use crate::config::check_base_url;
use crate::http_client::{execute, protocol_error};
use crate::oauth2::{Grant, Token};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// Refresh this long before the token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

#[derive(Deserialize)]
struct OAuthToken {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    /// The company's API host (`https://{company}.pipedrive.com`): calls made
    /// with this token go there.
    #[serde(default)]
    api_domain: Option<String>,
}

/// The refresh-token grant (RFC 6749 §6), client authenticated with Basic.
#[derive(Debug)]
pub(super) struct RefreshGrant {
    oauth: PipedriveOAuth,
    client: reqwest::Client,
    /// The current refresh token: Pipedrive may rotate it on each refresh.
    refresh_token: Mutex<Option<SecretString>>,
}

impl RefreshGrant {
    pub(super) fn new(oauth: PipedriveOAuth, client: reqwest::Client) -> Self {
        Self {
            oauth,
            client,
            refresh_token: Mutex::new(None),
        }
    }
}

#[async_trait]
impl Grant for RefreshGrant {
    async fn fetch(&self, calls: &CallLog) -> Result<Token, ConnectorError> {
        let oauth = &self.oauth;
        let issued_at = Instant::now();
        let current = self
            .refresh_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| oauth.refresh_token.clone());
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", current.expose_secret());
            form.finish()
        };
        let request = self
            .client
            .post(&oauth.token_url)
            .basic_auth(&oauth.client_id, Some(oauth.client_secret.expose_secret()))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        let response = execute(calls, SYSTEM, &ENDPOINT_TOKEN, request).await?;
        if !response.is_success() {
            let mut err = errors::classify(&ENDPOINT_TOKEN, &response, Utc::now());
            if matches!(response.status.as_u16(), 400 | 401 | 403) {
                err.kind = ErrorKind::Auth;
                err.category = ErrorCategory::Unauthorized;
                err.resolution = Some("check_crm_credentials".into());
            }
            return Err(err);
        }
        let token: OAuthToken = response.json(SYSTEM, &ENDPOINT_TOKEN)?;
        if let Some(next) = token.refresh_token.filter(|t| !t.is_empty()) {
            *self
                .refresh_token
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(next.into());
        }
        let api_domain = match token.api_domain.filter(|d| !d.trim().is_empty()) {
            // A host we could not call is an answer we cannot use, not a reason
            // to send the token to the configured base instead.
            Some(domain) => Some(
                check_base_url("pipedrive api_domain", &domain)
                    .map_err(|e| protocol_error(SYSTEM, &ENDPOINT_TOKEN, e.to_string()))?
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
            ),
            None => None,
        };
        Ok(Token {
            instance_url: api_domain,
            ..Token::expiring(
                token.access_token.into(),
                issued_at,
                Duration::from_secs(token.expires_in.unwrap_or(3599)),
                REFRESH_MARGIN,
            )
        })
    }
}

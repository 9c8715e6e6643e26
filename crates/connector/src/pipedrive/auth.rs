//! Pipedrive OAuth 2.0: the refresh-token grant with the client authenticated
//! by HTTP Basic, as Pipedrive's token endpoint requires. The refresh token may
//! rotate on each refresh, so the newest one is kept: in memory, and in the
//! service's [`CredentialStore`](crate::credentials::CredentialStore) when one
//! is attached, so a restart or another replica (which would otherwise still
//! hold the configured, now revoked, token) uses it too.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;

use super::{ENDPOINT_TOKEN, PipedriveOAuth, SYSTEM, errors};
use crate::config::check_base_url;
use crate::credentials::CredentialSlot;
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
    /// The durable copy of the current refresh token, shared by replicas.
    credentials: CredentialSlot,
}

impl RefreshGrant {
    pub(super) fn new(
        oauth: PipedriveOAuth,
        client: reqwest::Client,
        credentials: CredentialSlot,
    ) -> Self {
        Self {
            oauth,
            client,
            refresh_token: Mutex::new(None),
            credentials,
        }
    }

    /// The store key: one refresh token per OAuth app installation.
    fn store_key(&self) -> String {
        format!("pipedrive.refresh_token.{}", self.oauth.client_id)
    }

    /// The newest refresh token known: the store's, else the one this process
    /// last received, else the configured one.
    async fn current(&self) -> SecretString {
        if let Some(store) = self.credentials.store() {
            match store.load(&self.store_key()).await {
                Ok(Some(stored)) => return stored,
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    %error,
                    "Cannot read the stored Pipedrive refresh token; using the newest one this process knows."
                ),
            }
        }
        self.refresh_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| self.oauth.refresh_token.clone())
    }

    /// Keeps a rotated refresh token in memory and in the store.
    async fn keep(&self, next: SecretString) {
        *self
            .refresh_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(next.clone());
        if let Some(store) = self.credentials.store()
            && let Err(error) = store.save(&self.store_key(), &next).await
        {
            tracing::error!(
                %error,
                "Cannot store the rotated Pipedrive refresh token: after a restart the app must be re-authorised."
            );
        }
    }

    /// One refresh-token grant request with `refresh_token`.
    async fn request(
        &self,
        refresh_token: &SecretString,
        calls: &CallLog,
    ) -> Result<crate::http_client::VendorResponse, ConnectorError> {
        let oauth = &self.oauth;
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", refresh_token.expose_secret());
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
        execute(calls, SYSTEM, &ENDPOINT_TOKEN, request).await
    }
}

#[async_trait]
impl Grant for RefreshGrant {
    async fn fetch(&self, calls: &CallLog) -> Result<Token, ConnectorError> {
        let issued_at = Instant::now();
        let current = self.current().await;
        let mut response = self.request(&current, calls).await?;
        let configured = &self.oauth.refresh_token;
        if response.status.as_u16() == 400 && current.expose_secret() != configured.expose_secret()
        {
            // The stored token was refused: an operator may have re-authorised
            // the app and configured its new refresh token.
            response = self.request(configured, calls).await?;
        }
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
            self.keep(next.into()).await;
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

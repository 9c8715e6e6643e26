//! OAuth 2.0 access tokens: the one [`TokenCache`] every connector uses, fed
//! by a [`Grant`] (client credentials here; vendors add JWT bearer or refresh
//! token grants), and the client-credentials grant (RFC 6749 §4.4).
//!
//! The cache holds one token and refreshes it a margin before it expires. The
//! refresh runs under an async mutex, so concurrent callers wait for one token
//! request instead of each sending their own (which for some vendors would also
//! revoke each other's sessions); a token the vendor rejected is dropped with
//! [`TokenCache::invalidate`] so the next call fetches a fresh one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{ConfigError, check_base_url, check_not_blank};
use crate::http_client::{VendorResponse, classify_status, execute, protocol_error};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// Settings of a client-credentials grant.
///
/// `Debug` is safe to log: the secret prints as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsConfig {
    /// Token endpoint, e.g. `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    /// OAuth client (application) id.
    pub client_id: String,
    /// OAuth client secret.
    #[schemars(with = "crate::config::Secret")]
    pub client_secret: SecretString,
    /// Requested scope; omitted from the request when `None`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Refresh this many seconds before the token expires (default 120).
    #[serde(default = "default_margin")]
    pub refresh_margin_secs: u64,
}

fn default_margin() -> u64 {
    120
}

impl ClientCredentialsConfig {
    /// Checks the settings; keys are named under `prefix` (e.g. `businesscentral.oauth`).
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        check_base_url(&format!("{prefix}.token_url"), &self.token_url)?;
        check_not_blank(&format!("{prefix}.client_id"), &self.client_id)?;
        if self.client_secret.expose_secret().is_empty() {
            return Err(ConfigError::missing(format!("{prefix}.client_secret")));
        }
        if let Some(scope) = &self.scope {
            check_not_blank(&format!("{prefix}.scope"), scope)?;
        }
        Ok(())
    }
}

/// The token endpoint's success body (RFC 6749 §5.1).
#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    token_type: Option<String>,
    /// Seconds; Entra ID sends a number, some identity providers a string.
    #[serde(default, deserialize_with = "seconds")]
    expires_in: Option<u64>,
}

fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(deserializer)? {
        Some(Raw::Number(n)) => Some(n),
        Some(Raw::Text(t)) => t.trim().parse().ok(),
        None => None,
    })
}

/// The token endpoint's error body (RFC 6749 §5.2).
#[derive(Debug, Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Without `expires_in`, assume the common one hour.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// An access token and what came with it.
#[derive(Debug)]
pub struct Token {
    /// The bearer token.
    pub access_token: SecretString,
    /// The API host the token is for, when the vendor names one (Salesforce `instance_url`).
    pub instance_url: Option<String>,
    /// When the cache fetches a new one (a margin before the token expires).
    pub refresh_at: Instant,
}

impl Token {
    /// A token valid for `lifetime` from `issued_at`, refreshed `margin` before it
    /// ends (at most half its lifetime early, so a short-lived token is still used).
    pub fn expiring(
        access_token: SecretString,
        issued_at: Instant,
        lifetime: Duration,
        margin: Duration,
    ) -> Self {
        Self {
            access_token,
            instance_url: None,
            refresh_at: issued_at + lifetime - margin.min(lifetime / 2),
        }
    }

    /// True when `other` is this token (compared in constant time, never logged).
    fn is(&self, other: &SecretString) -> bool {
        bool::from(
            self.access_token
                .expose_secret()
                .as_bytes()
                .ct_eq(other.expose_secret().as_bytes()),
        )
    }
}

/// A way to obtain a new access token (an OAuth 2.0 grant).
#[async_trait]
pub trait Grant: Send + Sync + std::fmt::Debug {
    /// Asks the token endpoint for a new token; the call is recorded in `calls`.
    async fn fetch(&self, calls: &CallLog) -> Result<Token, ConnectorError>;
}

/// The token cache of one connector: one token, one refresh at a time.
#[derive(Debug)]
pub struct TokenCache {
    grant: Box<dyn Grant>,
    slot: Mutex<Option<Arc<Token>>>,
}

impl TokenCache {
    /// A cache fetching its tokens with `grant`.
    pub fn new(grant: impl Grant + 'static) -> Self {
        Self {
            grant: Box::new(grant),
            slot: Mutex::new(None),
        }
    }

    /// A cache for the client-credentials grant of `system`, requested with `client`.
    pub fn client_credentials(
        system: &'static str,
        config: ClientCredentialsConfig,
        client: reqwest::Client,
    ) -> Self {
        Self::new(ClientCredentials {
            system,
            config,
            client,
        })
    }

    /// A valid access token, fetched when none is cached or it is about to
    /// expire. The lock is held while fetching, so concurrent callers share one.
    pub async fn token(&self, calls: &CallLog) -> Result<Arc<Token>, ConnectorError> {
        let mut slot = self.slot.lock().await;
        if let Some(current) = slot.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(Arc::clone(current));
        }
        let fresh = Arc::new(self.grant.fetch(calls).await?);
        *slot = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// Drops `rejected` (the vendor answered 401 to it) so the next
    /// [`TokenCache::token`] fetches a new one; a newer token that another task
    /// already fetched is kept.
    pub async fn invalidate(&self, rejected: &Token) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|t| t.is(&rejected.access_token)) {
            *slot = None;
        }
    }
}

/// The client-credentials grant.
#[derive(Debug)]
struct ClientCredentials {
    system: &'static str,
    config: ClientCredentialsConfig,
    client: reqwest::Client,
}

#[async_trait]
impl Grant for ClientCredentials {
    async fn fetch(&self, calls: &CallLog) -> Result<Token, ConnectorError> {
        let endpoint = "POST {token_url}";
        // Built in a block: the serializer is not `Send` and must not live across an await.
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("client_secret", self.config.client_secret.expose_secret());
            if let Some(scope) = &self.config.scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
        let request = self
            .client
            .post(&self.config.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(form);
        let requested_at = Instant::now();
        let response = execute(calls, self.system, endpoint, request).await?;
        if !response.is_success() {
            return Err(token_error(self.system, endpoint, &response));
        }
        let body: TokenResponse = response.json(self.system, endpoint)?;
        if body
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(protocol_error(
                self.system,
                endpoint,
                "the token endpoint issued a token that is not a bearer token",
            ));
        }
        let lifetime = body
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        Ok(Token::expiring(
            body.access_token,
            requested_at,
            lifetime,
            Duration::from_secs(self.config.refresh_margin_secs),
        ))
    }
}

/// Classifies a token endpoint failure. Rejected client credentials are `Auth`:
/// every later call would fail the same way until an operator fixes them.
fn token_error(system: &'static str, endpoint: &str, response: &VendorResponse) -> ConnectorError {
    let mut err = classify_status(system, endpoint, response, chrono::Utc::now());
    if let Ok(body) = serde_json::from_slice::<TokenError>(&response.body) {
        if matches!(
            body.error.as_str(),
            "invalid_client" | "unauthorized_client" | "invalid_grant" | "invalid_scope"
        ) {
            err.kind = ErrorKind::Auth;
            err.category = ErrorCategory::Unauthorized;
        }
        let description: String = body
            .error_description
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        err.message = format!("token request failed: {} {description}", body.error)
            .trim_end()
            .to_owned();
    }
    if err.kind == ErrorKind::Auth {
        err.resolution = Some("check_erp_credentials".to_owned());
    }
    err
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::post;
    use axum::{Form, Json, Router};
    use serde_json::{Value, json};

    use super::*;
    use crate::test_support::serve;

    fn config(url: String) -> ClientCredentialsConfig {
        ClientCredentialsConfig {
            token_url: url,
            client_id: "app".into(),
            client_secret: "s3cret".into(),
            scope: Some("https://api.businesscentral.dynamics.com/.default".into()),
            refresh_margin_secs: 120,
        }
    }

    fn other(name: &str) -> Token {
        Token::expiring(
            name.into(),
            Instant::now(),
            Duration::from_secs(3600),
            Duration::ZERO,
        )
    }

    #[tokio::test]
    async fn one_request_serves_concurrent_callers_and_invalidate_refetches() {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let app = Router::new().route(
            "/token",
            post(move |Form(form): Form<Vec<(String, String)>>| {
                let counter = Arc::clone(&counter);
                async move {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    assert!(form.contains(&("grant_type".into(), "client_credentials".into())));
                    assert!(form.contains(&("client_secret".into(), "s3cret".into())));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    // Entra ID's recorded shape.
                    Json(
                        json!({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,
                                "access_token":format!("tok-{n}")}),
                    )
                }
            }),
        );
        let addr = serve(app).await;
        let cache = Arc::new(TokenCache::client_credentials(
            "test",
            config(format!("http://{addr}/token")),
            reqwest::Client::new(),
        ));
        let calls = CallLog::new();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.token(&CallLog::new()).await })
            })
            .collect();
        for task in tasks {
            let token = task.await.expect("join").expect("token");
            assert_eq!(token.access_token.expose_secret(), "tok-0");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let token = cache.token(&calls).await.expect("token");
        cache.invalidate(&other("other")).await;
        assert_eq!(
            cache
                .token(&calls)
                .await
                .expect("token")
                .access_token
                .expose_secret(),
            "tok-0"
        );
        cache.invalidate(&token).await;
        assert_eq!(
            cache
                .token(&calls)
                .await
                .expect("token")
                .access_token
                .expose_secret(),
            "tok-1"
        );
    }

    #[tokio::test]
    async fn rejected_client_is_an_auth_error_with_the_description() {
        let app = Router::new().route(
            "/token",
            post(|| async {
                (
                    axum::http::StatusCode::UNAUTHORIZED,
                    Json::<Value>(json!({"error":"invalid_client",
                        "error_description":"AADSTS7000215: Invalid client secret provided.",
                        "error_codes":[7000215]})),
                )
            }),
        );
        let addr = serve(app).await;
        let cache = TokenCache::client_credentials(
            "test",
            config(format!("http://{addr}/token")),
            reqwest::Client::new(),
        );
        let err = cache.token(&CallLog::new()).await.expect_err("rejected");
        assert_eq!(err.kind, ErrorKind::Auth);
        assert!(err.message.contains("AADSTS7000215"), "{err}");
        assert_eq!(err.resolution.as_deref(), Some("check_erp_credentials"));
    }

    #[test]
    fn expires_in_may_be_a_string() {
        let body: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","expires_in":"3600"}"#).expect("parses");
        assert_eq!(body.expires_in, Some(3600));
    }

    /// A grant handing out `t1`, `t2`, … valid for `ttl`, counting its fetches.
    #[derive(Debug)]
    struct Counting {
        fetches: Arc<AtomicUsize>,
        ttl: Duration,
    }

    #[async_trait]
    impl Grant for Counting {
        async fn fetch(&self, _calls: &CallLog) -> Result<Token, ConnectorError> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Token::expiring(
                format!("t{n}").into(),
                Instant::now(),
                self.ttl,
                Duration::from_secs(60),
            ))
        }
    }

    #[tokio::test]
    async fn any_grant_shares_one_refresh_and_refreshes_within_the_margin() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let cache = Arc::new(TokenCache::new(Counting {
            fetches: Arc::clone(&fetches),
            ttl: Duration::from_secs(3600),
        }));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.token(&CallLog::new()).await })
            })
            .collect();
        for task in tasks {
            let got = task.await.expect("join").expect("token");
            assert_eq!(got.access_token.expose_secret(), "t1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        // 100 s of life with a 60 s margin (capped at half): refreshed at 50 s.
        let short = TokenCache::new(Counting {
            fetches: Arc::new(AtomicUsize::new(0)),
            ttl: Duration::from_secs(100),
        });
        let first = short.token(&CallLog::new()).await.expect("token");
        assert!(first.refresh_at <= Instant::now() + Duration::from_secs(50));
        assert!(first.refresh_at > Instant::now() + Duration::from_secs(40));
    }
}

//! Pluggable authentication: one trait every connector's credentials implement,
//! and the header-based implementations most vendors need.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use reqwest::{Request, StatusCode};
use secrecy::ExposeSecret;

use super::Endpoint;
use crate::config::ConfigError;
use crate::http_client::VendorResponse;
use crate::oauth2::{Token, TokenCache};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// How a vendor's calls are authorised. The kit asks for a credential before
/// each attempt, lets the implementation put it on the request, and after a
/// rejection asks it to renew (then repeats the call once).
#[async_trait]
pub trait Authenticate: Send + Sync + std::fmt::Debug {
    /// What one attempt was authorised with; handed back to
    /// [`Authenticate::renew`] so only that credential is dropped.
    type Credential: Send + Sync;

    /// The credential for the next attempt: may fetch a token, log in or fetch
    /// a CSRF token (those calls are recorded in `calls` too).
    async fn credential(
        &self,
        calls: &CallLog,
        system: &'static str,
        endpoint: &Endpoint,
    ) -> Result<Self::Credential, ConnectorError>;

    /// Puts the credential on the built request (headers, a signature over
    /// method and URL).
    fn apply(
        &self,
        request: &mut Request,
        credential: &Self::Credential,
        system: &'static str,
        endpoint: &Endpoint,
    ) -> Result<(), ConnectorError>;

    /// True when `response` says the credential itself was refused (401 by default).
    fn rejected(&self, response: &VendorResponse) -> bool {
        response.status == StatusCode::UNAUTHORIZED
    }

    /// Drops the refused `credential`; true when a call with a fresh one can
    /// succeed (a fixed key cannot, so the default is false).
    async fn renew(&self, _credential: &Self::Credential, _response: &VendorResponse) -> bool {
        false
    }
}

/// Authentication that holds no state between calls: each request is signed
/// (or left alone) as it is, and a rejection cannot be renewed. Implementing
/// this implements [`Authenticate`].
pub trait SignRequest: Send + Sync + std::fmt::Debug {
    /// Signs the built request (its method and exact URL are final).
    fn sign(
        &self,
        request: &mut Request,
        system: &'static str,
        endpoint: &Endpoint,
    ) -> Result<(), ConnectorError>;
}

#[async_trait]
impl<S: SignRequest> Authenticate for S {
    type Credential = ();

    async fn credential(
        &self,
        _calls: &CallLog,
        _system: &'static str,
        _endpoint: &Endpoint,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn apply(
        &self,
        request: &mut Request,
        _credential: &(),
        system: &'static str,
        endpoint: &Endpoint,
    ) -> Result<(), ConnectorError> {
        self.sign(request, system, endpoint)
    }
}

/// No credentials (a login call, an open endpoint).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

impl SignRequest for NoAuth {
    fn sign(
        &self,
        _request: &mut Request,
        _system: &'static str,
        _endpoint: &Endpoint,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A header value marked sensitive (kept out of `Debug` output), or an auth
/// error naming `endpoint` when the secret cannot be a header.
pub fn sensitive_header(
    value: &str,
    system: &'static str,
    endpoint: &str,
) -> Result<HeaderValue, ConnectorError> {
    let mut header = HeaderValue::try_from(value).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Auth,
            ErrorCategory::Unauthorized,
            system,
            endpoint,
            "credentials do not form a valid header",
        )
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// `Authorization: Bearer {token}`, marked sensitive.
pub fn bearer_header(
    token: &Token,
    system: &'static str,
    endpoint: &str,
) -> Result<HeaderValue, ConnectorError> {
    sensitive_header(
        &format!("Bearer {}", token.access_token.expose_secret()),
        system,
        endpoint,
    )
}

/// Credentials sent as one header: a fixed one (API key, static bearer token,
/// HTTP Basic) or a bearer token from a [`TokenCache`] (any OAuth 2.0 grant).
#[derive(Debug)]
pub enum HeaderAuth {
    /// A fixed header; a rejection cannot be renewed.
    Fixed(HeaderName, HeaderValue),
    /// `Authorization: Bearer` from the cache; a rejected token is dropped and refetched.
    Bearer(TokenCache),
}

impl HeaderAuth {
    /// A fixed header `name: value` (marked sensitive).
    pub fn fixed(name: HeaderName, value: &str, key: &str) -> Result<Self, ConfigError> {
        let mut header = HeaderValue::try_from(value)
            .map_err(|_| ConfigError::invalid(key, "not a valid header value"))?;
        header.set_sensitive(true);
        Ok(Self::Fixed(name, header))
    }

    /// `Authorization: Bearer {token}` with a token that never changes.
    pub fn static_bearer(token: &str, key: &str) -> Result<Self, ConfigError> {
        Self::fixed(AUTHORIZATION, &format!("Bearer {token}"), key)
    }

    /// HTTP Basic (RFC 7617) with a technical user.
    pub fn basic(username: &str, password: &str, key: &str) -> Result<Self, ConfigError> {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Self::fixed(AUTHORIZATION, &format!("Basic {encoded}"), key)
    }
}

#[async_trait]
impl Authenticate for HeaderAuth {
    /// The token used, for bearer tokens.
    type Credential = Option<Arc<Token>>;

    async fn credential(
        &self,
        calls: &CallLog,
        _system: &'static str,
        _endpoint: &Endpoint,
    ) -> Result<Self::Credential, ConnectorError> {
        match self {
            Self::Fixed(..) => Ok(None),
            Self::Bearer(cache) => cache.token(calls).await.map(Some),
        }
    }

    fn apply(
        &self,
        request: &mut Request,
        credential: &Self::Credential,
        system: &'static str,
        endpoint: &Endpoint,
    ) -> Result<(), ConnectorError> {
        let (name, value) = match (self, credential) {
            (Self::Fixed(name, value), _) => (name.clone(), value.clone()),
            (Self::Bearer(_), Some(token)) => {
                (AUTHORIZATION, bearer_header(token, system, endpoint)?)
            }
            (Self::Bearer(_), None) => return Ok(()),
        };
        request.headers_mut().insert(name, value);
        Ok(())
    }

    async fn renew(&self, credential: &Self::Credential, _response: &VendorResponse) -> bool {
        match (self, credential) {
            (Self::Bearer(cache), Some(token)) => {
                cache.invalidate(token).await;
                true
            }
            _ => false,
        }
    }
}

//! Token endpoints and credential checks shared by the simulators: the bearer
//! tokens a token endpoint issued (with expiry), `Authorization` header parsing
//! (Basic, Bearer) and the OAuth 2.0 client-credentials form. Each vendor keeps
//! its own token format and error bodies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::util::{lock, parse_query, query_value};

/// Issued bearer tokens and their expiry.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<HashMap<String, Instant>>,
}

impl Tokens {
    /// Records `token` as valid for `ttl`, dropping expired ones.
    pub(crate) fn insert(&self, token: String, ttl: Duration) -> String {
        let mut issued = lock(&self.issued);
        let now = Instant::now();
        issued.retain(|_, expires| *expires > now);
        issued.insert(token.clone(), now + ttl);
        token
    }

    /// Issues a random opaque token (32 bytes, URL-safe Base64) valid for `ttl`.
    pub(crate) fn issue(&self, ttl: Duration) -> String {
        self.insert(random_token(32), ttl)
    }

    /// True when `token` was issued here and has not expired.
    pub(crate) fn valid(&self, token: &str) -> bool {
        lock(&self.issued)
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }

    /// True when the request carries `Authorization: Bearer <token>` for a valid token.
    pub(crate) fn bearer_valid(&self, headers: &HeaderMap) -> bool {
        bearer(headers).is_some_and(|token| self.valid(token))
    }

    /// Forgets every token (a reset, or a test revoking credentials).
    pub(crate) fn revoke_all(&self) {
        lock(&self.issued).clear();
    }
}

/// `len` random bytes as URL-safe Base64 without padding.
pub(crate) fn random_token(len: usize) -> String {
    let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares secrets in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The `Authorization` header's text.
fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()
}

/// The token of `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    authorization(headers)?.strip_prefix("Bearer ")
}

/// The user and password of `Authorization: Basic <base64>`.
pub(crate) fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = authorization(headers)?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A form-encoded token request body.
pub(crate) struct TokenForm {
    pairs: Vec<(String, String)>,
}

impl TokenForm {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self {
            pairs: parse_query(std::str::from_utf8(body).ok()),
        }
    }

    /// A field's value, or `""` when absent.
    pub(crate) fn field(&self, name: &str) -> &str {
        query_value(&self.pairs, name).unwrap_or_default()
    }

    /// True for `grant_type=client_credentials`.
    pub(crate) fn is_client_credentials(&self) -> bool {
        self.field("grant_type") == "client_credentials"
    }

    /// The client's id and secret: HTTP Basic when present (RFC 6749 §2.3.1),
    /// else the `client_id` / `client_secret` form fields.
    pub(crate) fn client(&self, headers: &HeaderMap) -> (String, String) {
        basic(headers).unwrap_or_else(|| {
            (
                self.field("client_id").to_owned(),
                self.field("client_secret").to_owned(),
            )
        })
    }

    /// True when the client authenticated as `id` with `secret`.
    pub(crate) fn client_is(&self, headers: &HeaderMap, id: &str, secret: &str) -> bool {
        let (given_id, given_secret) = self.client(headers);
        same(&given_id, id) && same(&given_secret, secret)
    }
}

/// Why a client-credentials request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `grant_type` is not `client_credentials`.
    UnsupportedGrant,
    /// Wrong client id or secret.
    InvalidClient,
}

/// The client-credentials grant against one client: a token valid for `ttl`,
/// recorded in `tokens`, or why not.
pub(crate) fn client_credentials(
    headers: &HeaderMap,
    body: &[u8],
    (client_id, client_secret): (&str, &str),
    tokens: &Tokens,
    ttl: Duration,
) -> Result<String, Refusal> {
    let form = TokenForm::parse(body);
    if !form.is_client_credentials() {
        return Err(Refusal::UnsupportedGrant);
    }
    if !form.client_is(headers, client_id, client_secret) {
        return Err(Refusal::InvalidClient);
    }
    Ok(tokens.issue(ttl))
}

/// RFC 6749 §5.2's error body, `{"error","error_description"}`.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// True for Basic credentials `user_ok` accepts or a live bearer token of `tokens`.
pub(crate) fn basic_or_bearer(
    headers: &HeaderMap,
    tokens: &Tokens,
    user_ok: impl FnOnce(&str, &str) -> bool,
) -> bool {
    match basic(headers) {
        Some((user, password)) => user_ok(&user, &password),
        None => tokens.bearer_valid(headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_win_over_form_fields() {
        let mut headers = HeaderMap::new();
        let form = TokenForm::parse(b"grant_type=client_credentials&client_id=a&client_secret=b");
        assert!(form.is_client_credentials());
        assert_eq!(form.client(&headers), ("a".to_owned(), "b".to_owned()));
        headers.insert(
            header::AUTHORIZATION,
            "Basic Yzpk".parse().expect("header value"),
        );
        assert_eq!(form.client(&headers), ("c".to_owned(), "d".to_owned()));
        assert!(form.client_is(&headers, "c", "d"));
        assert!(!form.client_is(&headers, "a", "b"));
    }

    #[test]
    fn tokens_expire_and_are_revoked() {
        let tokens = Tokens::default();
        let live = tokens.issue(Duration::from_secs(60));
        let dead = tokens.issue(Duration::ZERO);
        assert!(tokens.valid(&live));
        assert!(!tokens.valid(&dead));
        assert!(!tokens.valid("never-issued"));
        tokens.revoke_all();
        assert!(!tokens.valid(&live));
    }
}

//! Logon: HTTP Basic for the communication user or an OAuth bearer token from
//! `/sap/bc/sec/oauth2/token`; and CSRF sessions bound to the session cookie.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::AppState;
use crate::kit::oauth::{self, Refusal, Tokens, oauth_error, same};
use crate::util::lock;

fn random_token() -> String {
    let bytes: [u8; 18] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Issued OAuth tokens and CSRF sessions.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    tokens: Tokens,
    /// session id -> (CSRF token, expiry)
    csrf: Mutex<HashMap<String, (String, Instant)>>,
}

impl Sessions {
    /// Forgets every token and session.
    pub(crate) fn clear(&self) {
        self.tokens.revoke_all();
        lock(&self.csrf).clear();
    }

    /// True when the `Authorization` header is the user's Basic credentials or a live token.
    pub(crate) fn authenticated(&self, state: &AppState, headers: &HeaderMap) -> bool {
        let config = &state.config;
        oauth::basic_or_bearer(headers, &self.tokens, |user, password| {
            user.eq_ignore_ascii_case(&config.user) && same(password, &config.password)
        })
    }

    fn cookie_name(state: &AppState) -> String {
        format!(
            "SAP_SESSIONID_{}_{}",
            state.config.system_id, state.config.sap_client
        )
    }

    fn session_id(state: &AppState, headers: &HeaderMap) -> Option<String> {
        let name = Self::cookie_name(state);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    /// Answers `x-csrf-token: Fetch`: the session's token (a new session when the
    /// request has none), plus the cookies that identify it.
    pub(crate) fn fetch(&self, state: &AppState, headers: &HeaderMap) -> Vec<(String, String)> {
        let now = Instant::now();
        let mut csrf = lock(&self.csrf);
        csrf.retain(|_, (_, expires)| *expires > now);
        let existing = Self::session_id(state, headers)
            .and_then(|sid| csrf.get(&sid).map(|(t, _)| (sid, t.clone())));
        let (sid, token) = existing.unwrap_or_else(|| {
            let sid = random_token().replace(['+', '/', '='], "");
            let token = random_token();
            csrf.insert(sid.clone(), (token.clone(), now + state.config.session_ttl));
            (sid, token)
        });
        vec![
            ("x-csrf-token".to_owned(), token),
            (
                "set-cookie".to_owned(),
                format!(
                    "{}={sid}; path=/; secure; HttpOnly",
                    Self::cookie_name(state)
                ),
            ),
            (
                "set-cookie".to_owned(),
                format!(
                    "sap-usercontext=sap-client={}; path=/",
                    state.config.sap_client
                ),
            ),
        ]
    }

    /// True when the request carries the CSRF token of the session its cookie names.
    pub(crate) fn csrf_valid(&self, state: &AppState, headers: &HeaderMap) -> bool {
        let Some(given) = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some(sid) = Self::session_id(state, headers) else {
            return false;
        };
        lock(&self.csrf)
            .get(&sid)
            .is_some_and(|(token, expires)| *expires > Instant::now() && same(token, given))
    }
}

/// `POST /sap/bc/sec/oauth2/token` with `grant_type=client_credentials`; the
/// client authenticates with HTTP Basic or form fields.
pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = &state.config;
    let client = (config.client_id.as_str(), config.client_secret.as_str());
    let ttl = config.token_ttl;
    match oauth::client_credentials(&headers, &body, client, &state.sessions.tokens, ttl) {
        Ok(token) => Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl.as_secs().to_string(), "scope": "" }))
            .into_response(),
        Err(Refusal::UnsupportedGrant) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Grant type is not supported",
        ),
        Err(Refusal::InvalidClient) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        ),
    }
}

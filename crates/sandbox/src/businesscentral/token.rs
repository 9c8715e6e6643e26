//! The Entra ID token endpoint (`POST /{tenant}/oauth2/v2.0/token`) for the
//! client-credentials grant, and the bearer tokens it issued.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::AppState;
use super::config::BusinessCentralConfig;
use crate::util::{lock, parse_query, query_value};

/// The only scope Business Central's API accepts for app tokens.
pub(crate) const SCOPE: &str = "https://api.businesscentral.dynamics.com/.default";

/// Issued tokens and their expiry.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<HashMap<String, Instant>>,
}

impl Tokens {
    fn issue(&self, ttl: Duration) -> String {
        let bytes: [u8; 32] = rand::random();
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut issued = lock(&self.issued);
        let now = Instant::now();
        issued.retain(|_, expires| *expires > now);
        issued.insert(token.clone(), now + ttl);
        token
    }

    /// True when `token` was issued here and has not expired.
    pub(crate) fn valid(&self, token: &str) -> bool {
        lock(&self.issued)
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }

    /// Forgets every token (a reset, or a test revoking credentials).
    pub(crate) fn revoke_all(&self) {
        lock(&self.issued).clear();
    }
}

/// An Entra ID error: `{"error","error_description","error_codes","timestamp","trace_id","correlation_id"}`.
fn entra_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let trace = uuid::Uuid::new_v4();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {trace} Timestamp: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ")),
        "error_codes": [code],
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace,
        "correlation_id": trace,
    });
    (status, Json(body)).into_response()
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token(
    State(shared): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let config: &BusinessCentralConfig = &shared.config;
    if !tenant.eq_ignore_ascii_case(&config.tenant_id) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let form = parse_query(std::str::from_utf8(&body).ok());
    let field = |name| query_value(&form, name).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if !same(field("client_id"), &config.client_id) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    if !same(field("client_secret"), &config.client_secret) {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        );
    }
    if field("scope") != SCOPE {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided request must include a 'scope' input parameter.",
        );
    }
    let ttl = config.token_ttl;
    let access_token = shared.tokens.issue(ttl);
    Json(json!({
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "ext_expires_in": ttl.as_secs(),
        "access_token": access_token,
    }))
    .into_response()
}

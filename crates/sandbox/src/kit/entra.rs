//! The Microsoft Entra ID token endpoint (`POST /{tenant}/oauth2/v2.0/token`,
//! client-credentials grant) in front of both Microsoft simulators (Business
//! Central and Dataverse), with Entra's `AADSTS` error bodies.

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::oauth::{TokenForm, Tokens, random_token, same};

/// Which `scope` values the resource accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    /// Exactly this value (Business Central's one `.default` scope).
    Exactly(&'static str),
    /// Any `<resource>/.default` (a Dataverse org URL).
    AnyDefault,
}

/// One app registration in one tenant, and the resource it asks for.
pub(crate) struct EntraApp<'a> {
    /// Tenant id of the token URL.
    pub(crate) tenant_id: &'a str,
    /// Client id accepted.
    pub(crate) client_id: &'a str,
    /// Client secret accepted.
    pub(crate) client_secret: &'a str,
    /// Scopes accepted.
    pub(crate) scope: Scope,
    /// Lifetime of issued tokens.
    pub(crate) ttl: Duration,
}

/// An Entra ID error: `{"error","error_description","error_codes","timestamp","trace_id","correlation_id"}`.
fn entra_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let trace = uuid::Uuid::new_v4();
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ");
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {trace} Timestamp: {now}"),
        "error_codes": [code],
        "timestamp": now.to_string(),
        "trace_id": trace,
        "correlation_id": trace,
    });
    (status, Json(body)).into_response()
}

/// Answers one token request for `app`, recording the issued token in `tokens`.
pub(crate) fn token(app: &EntraApp<'_>, tokens: &Tokens, tenant: &str, body: &[u8]) -> Response {
    if !tenant.eq_ignore_ascii_case(app.tenant_id) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let form = TokenForm::parse(body);
    if !form.is_client_credentials() {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if !same(form.field("client_id"), app.client_id) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    if !same(form.field("client_secret"), app.client_secret) {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        );
    }
    let scope = form.field("scope");
    let refusal = match app.scope {
        Scope::Exactly(expected) => (scope != expected).then_some((
            70011,
            "The provided request must include a 'scope' input parameter.",
        )),
        Scope::AnyDefault => (!scope.ends_with("/.default")).then_some((
            1002012,
            "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
        )),
    };
    if let Some((code, description)) = refusal {
        return entra_error(StatusCode::BAD_REQUEST, "invalid_scope", code, description);
    }
    // Shaped like a JWT (`{"typ":"JWT"}` header) though opaque: clients must not parse it.
    let access_token = tokens.insert(
        format!("eyJ0eXAiOiJKV1QifQ.{}.sandbox", random_token(32)),
        app.ttl,
    );
    Json(json!({
        "token_type": "Bearer",
        "expires_in": app.ttl.as_secs(),
        "ext_expires_in": app.ttl.as_secs(),
        "access_token": access_token,
    }))
    .into_response()
}

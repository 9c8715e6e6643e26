//! `POST /services/oauth2/token`: the JWT bearer and client-credentials grants,
//! and the session check of every API request.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::SfError;
use crate::kit::oauth::{TokenForm, same};

/// The JWT bearer grant type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The login hosts a JWT may name as its audience (plus Experience Cloud sites).
const AUDIENCES: [&str; 2] = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
];
/// The longest a JWT assertion may still be valid.
const MAX_ASSERTION_TTL_SECS: i64 = 180;

/// A new session id, shaped like Salesforce's (`<org id>!<opaque>`).
fn session_id(organization_id: &str) -> String {
    format!(
        "{}!AR{}",
        organization_id.get(..15).unwrap_or(organization_id),
        uuid::Uuid::new_v4().simple()
    )
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
}

fn oauth_error(code: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response()
}

/// `http://{Host}`: the instance URL and the simulator's own audience.
pub(crate) fn own_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("login.salesforce.com");
    format!("http://{host}")
}

/// True when the request reached the simulator by one of its generic login host names.
fn is_login_host(config: &super::config::SalesforceConfig, headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // `name:port`, or `[v6]:port`: the name is what precedes the port.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    config
        .login_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

pub(crate) async fn token(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = TokenForm::parse(&body);
    let config = &shared.config;
    let own = own_url(&headers);
    let generic_login = is_login_host(config, &headers);
    match form.field("grant_type") {
        JWT_BEARER => {
            let assertion = form.field("assertion");
            if assertion.is_empty() {
                return oauth_error("invalid_request", "assertion is required");
            }
            let Ok(key) = DecodingKey::from_rsa_pem(config.jwt_public_key.as_bytes()) else {
                return oauth_error(
                    "invalid_client",
                    "the connected app has no usable certificate",
                );
            };
            let mut validation = Validation::new(Algorithm::RS256);
            // The audience is the login host, never the org's My Domain: this
            // simulator's own URL counts only while it answers as a login host.
            let mut audiences: Vec<String> = AUDIENCES.iter().map(|a| (*a).to_owned()).collect();
            audiences.extend(config.experience_sites.iter().cloned());
            if generic_login {
                audiences.push(own);
            }
            validation.set_audience(&audiences);
            validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
            validation.leeway = 0;
            let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
                Ok(data) => data.claims,
                Err(error) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    return match error.kind() {
                        K::InvalidAudience => oauth_error("invalid_grant", "audience is invalid"),
                        K::ExpiredSignature => {
                            oauth_error("invalid_grant", "expired authorization code")
                        }
                        _ => oauth_error("invalid_grant", "invalid assertion"),
                    };
                }
            };
            if claims.iss != config.client_id {
                return oauth_error("invalid_client_id", "client identifier invalid");
            }
            if claims.sub != config.username {
                return oauth_error("invalid_grant", "user hasn't approved this consumer");
            }
            if claims.exp > Utc::now().timestamp() + MAX_ASSERTION_TTL_SECS {
                return oauth_error("invalid_grant", "invalid assertion");
            }
        }
        "client_credentials" => {
            // Salesforce grants client credentials only on the My Domain host.
            if generic_login {
                return oauth_error("invalid_grant", "request not supported on this domain");
            }
            if !same(form.field("client_id"), &config.client_id)
                || !same(form.field("client_secret"), &config.client_secret)
            {
                return oauth_error("invalid_client", "invalid client credentials");
            }
        }
        _ => return oauth_error("unsupported_grant_type", "grant type not supported"),
    }
    let access_token = shared
        .sessions
        .insert(session_id(&config.organization_id), config.session_lifetime);
    let issued_at = Utc::now().timestamp_millis().to_string();
    let id = format!(
        "{}/id/{}/0055g000000IntUAAS",
        own_url(&headers),
        config.organization_id
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(format!("{id}{issued_at}"));
    Json(json!({
        "access_token": access_token,
        "instance_url": own_url(&headers),
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
        "scope": "api",
    }))
    .into_response()
}

/// The session check in front of `/services/data/`.
pub(crate) async fn guard(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        });
    if !token.is_some_and(|t| shared.sessions.valid(t)) {
        return SfError::session().into_response();
    }
    let used = {
        let mut data = shared.data.write();
        data.api_requests += 1;
        data.api_requests
    };
    let limit = shared.config.daily_api_limit;
    let mut response = if used > limit {
        SfError::limit().into_response()
    } else {
        next.run(request).await
    };
    if let Ok(value) = format!("api-usage={}/{limit}", used.min(limit)).parse() {
        response.headers_mut().insert("Sforce-Limit-Info", value);
    }
    response
}

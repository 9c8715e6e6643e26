//! `POST /webhooks/pipedrive`: Pipedrive webhooks v2. Pipedrive signs nothing;
//! the webhook is created with `http_auth_user`/`http_auth_password`, and this
//! route accepts only those Basic credentials.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_connector::pipedrive::webhook;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::deal_won::{self, Accepted, WonDeal, secret_matches};
use crate::error::IngressError;
use crate::{AppState, Publisher};

const SYSTEM: &str = "pipedrive";

/// The inbound half of `[crm.pipedrive]`.
#[derive(Debug, Deserialize)]
pub struct PipedriveWebhookSettings {
    /// The webhook's `http_auth_user`.
    pub webhook_user: String,
    /// The webhook's `http_auth_password`.
    pub webhook_password: SecretString,
}

#[derive(Clone)]
struct RouteState {
    publisher: Publisher,
    settings: Option<Arc<PipedriveWebhookSettings>>,
}

/// The Pipedrive route, carrying its own settings.
pub(crate) fn router(
    state: &AppState,
    settings: Option<PipedriveWebhookSettings>,
) -> Router<AppState> {
    Router::new()
        .route("/webhooks/pipedrive", post(receive))
        .with_state(RouteState {
            publisher: state.publisher.clone(),
            settings: settings.map(Arc::new),
        })
}

async fn receive(
    State(state): State<RouteState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state
        .settings
        .as_deref()
        .ok_or(IngressError::SourceNotConfigured)?;
    let (user, password) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(webhook::basic_credentials)
        .ok_or(IngressError::InvalidCredentials)?;
    // Both compared in full, so the answer's timing tells nothing about which was wrong.
    let user_ok = secret_matches(&user, &settings.webhook_user);
    let password_ok = secret_matches(&password, settings.webhook_password.expose_secret());
    if !(user_ok & password_ok) {
        return Err(IngressError::InvalidCredentials);
    }
    let body = deal_won::body(body)?;
    let hook = webhook::parse(&body).map_err(|e| IngressError::Malformed(e.to_string()))?;
    let won: Vec<WonDeal> = webhook::deal_won(&hook)
        .map(|n| WonDeal {
            dedup_key: format!(
                "pipedrive:{}:deal:{}:won:{}",
                n.company_id, n.deal_id, n.won_key
            ),
            occurred_at: n
                .timestamp
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or_else(Utc::now, |t| t.to_utc()),
            deal_id: n.deal_id,
            stage: "won".to_owned(),
            tenant: n.company_id,
        })
        .into_iter()
        .collect();
    let ignored = usize::from(won.is_empty());
    let accepted = deal_won::publish(&state.publisher, SYSTEM, &won, ignored).await?;
    Ok((StatusCode::OK, Json(accepted)))
}

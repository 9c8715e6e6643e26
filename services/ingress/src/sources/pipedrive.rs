//! `POST /webhooks/pipedrive`: Pipedrive webhooks v2. Pipedrive signs nothing;
//! the webhook is created with `http_auth_user`/`http_auth_password`, and this
//! route accepts only those Basic credentials.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_connector::pipedrive::webhook::{self, WebhookSettings};
use secrecy::ExposeSecret;

use super::{Shared, SourceState, secret_matches};
use crate::Settings;
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::deal_won::{self, WonDeal};
use crate::events::unroutable::{self, UnroutableNotice};

pub(crate) const SYSTEM: &str = "pipedrive";

/// The Pipedrive route, with the `[crm.pipedrive]` webhook credentials.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/pipedrive", post(receive))
        .with_state(SourceState::new(shared, settings.crm.pipedrive.clone()))
}

async fn receive(
    State(state): State<SourceState<WebhookSettings>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
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
    super::guards::require_json(&headers)?;
    let body = super::body(body)?;
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
    let mut accepted = deal_won::publish(&state.shared.publisher, SYSTEM, &won, ignored).await?;
    let others = if webhook::is_deal_notice(&hook) {
        Vec::new()
    } else {
        let meta = &hook.meta;
        // meta.id is optional in the shape we read; the change time stands in.
        let id = if meta.id.is_empty() {
            meta.timestamp.clone().unwrap_or_default()
        } else {
            meta.id.clone()
        };
        vec![UnroutableNotice::whole_body(
            format!("{}.{}", meta.entity, meta.action),
            format!("{}:{}:{}:{id}", meta.entity, meta.action, meta.entity_id),
            &body,
        )]
    };
    accepted.unroutable = unroutable::publish(
        &state.shared.publisher,
        &state.shared.warned_types,
        SYSTEM,
        &others,
    )
    .await?;
    Ok((StatusCode::OK, Json(accepted)))
}

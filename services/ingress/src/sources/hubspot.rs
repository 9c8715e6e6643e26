//! `POST /webhooks/hubspot`: HubSpot webhook deliveries.

use axum::Json;
use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use chrono::Utc;
use crmerp_connector::hubspot::webhook::{self, WebhookSettings};

use super::{Shared, SourceState};
use crate::Settings;
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::deal_won::{self, WonDeal};

pub(crate) const SYSTEM: &str = "hubspot";

/// The HubSpot routes, with the `[crm.hubspot]` webhook settings.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/hubspot", post(receive))
        .with_state(SourceState::new(shared, settings.crm.hubspot.clone()))
}

async fn receive(
    State(state): State<SourceState<WebhookSettings>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    let body = super::body(body)?;
    let public_uri = format!(
        "{}{}",
        state.shared.public_base_url,
        uri.path_and_query().map_or("", |p| p.as_str())
    );
    verify(settings, &headers, &public_uri, &body)?;

    let events =
        webhook::parse_events(&body).map_err(|e| IngressError::Malformed(e.to_string()))?;
    let notices = webhook::deal_won_notices(&events, &settings.won_stages);
    let ignored = events.len() - notices.len();
    let won: Vec<WonDeal> = notices
        .iter()
        .map(|n| WonDeal {
            deal_id: n.deal_id.clone(),
            stage: n.stage.clone(),
            tenant: n.portal_id.to_string(),
            dedup_key: n.dedup_key(),
            occurred_at: n.occurred_at,
        })
        .collect();
    let accepted = deal_won::publish(&state.shared.publisher, SYSTEM, &won, ignored).await?;
    Ok((StatusCode::OK, Json(accepted)))
}

/// Checks v3 when present (it binds a timestamp, so replays expire), else v1/v2.
fn verify(
    settings: &WebhookSettings,
    headers: &HeaderMap,
    public_uri: &str,
    body: &[u8],
) -> Result<(), IngressError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let result = if let Some(signature) = header(webhook::HEADER_SIGNATURE_V3) {
        webhook::verify_v3(
            &settings.client_secret,
            "POST",
            public_uri,
            body,
            header(webhook::HEADER_REQUEST_TIMESTAMP),
            Some(signature),
            Utc::now(),
        )
    } else if settings.accept_v1_v2 && header(webhook::HEADER_SIGNATURE).is_some() {
        match header(webhook::HEADER_SIGNATURE_VERSION).unwrap_or("v1") {
            "v2" => webhook::verify_v2(
                &settings.client_secret,
                "POST",
                public_uri,
                body,
                header(webhook::HEADER_SIGNATURE),
            ),
            _ => webhook::verify_v1(
                &settings.client_secret,
                body,
                header(webhook::HEADER_SIGNATURE),
            ),
        }
    } else {
        return Err(IngressError::MissingSignature);
    };
    result.map_err(IngressError::from)
}

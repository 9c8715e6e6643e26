//! HubSpot webhooks:
//! - `POST /webhooks/hubspot`: app webhook subscriptions (a JSON array of
//!   events, signed v3 or v1/v2);
//! - `POST /webhooks/hubspot/workflow`: a workflow's "Send a webhook" action
//!   (one JSON object, the enrolled deal), authenticated by the app's v3
//!   signature or by the API key configured as `workflow_key`.

use axum::Json;
use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use chrono::Utc;
use crmerp_connector::hubspot::webhook::{self, WebhookSettings};

use secrecy::ExposeSecret as _;

use super::{Shared, SourceState, secret_matches};
use crate::Settings;
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::deal_won::{self, WonDeal};
use crate::events::unroutable::{self, UnroutableNotice};

pub(crate) const SYSTEM: &str = "hubspot";

/// The HubSpot routes, with the `[crm.hubspot]` webhook settings.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/hubspot", post(receive))
        .route("/webhooks/hubspot/workflow", post(receive_workflow))
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
    let public_uri = state.shared.public_url(&uri);
    verify(settings, &headers, &public_uri, &body)?;
    super::guards::require_json(&headers)?;

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
    let mut accepted = deal_won::publish(&state.shared.publisher, SYSTEM, &won, ignored).await?;
    let others = unroutable_notices(&events, &body);
    accepted.unroutable = unroutable::publish(
        &state.shared.publisher,
        &state.shared.warned_types,
        SYSTEM,
        &others,
    )
    .await?;
    Ok((StatusCode::OK, Json(accepted)))
}

/// A workflow's "Send a webhook" action for an enrolled deal. The workflow's
/// enrolment trigger is what makes the deal won; when the body carries
/// `dealstage` it must still be a won stage, so a workflow misconfigured to
/// send other deals routes nothing.
async fn receive_workflow(
    State(state): State<SourceState<WebhookSettings>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    let body = super::body(body)?;
    let public_uri = state.shared.public_url(&uri);
    verify_workflow(settings, &headers, uri.query(), &public_uri, &body)?;
    super::guards::require_json(&headers)?;
    let record = webhook::parse_workflow_record(&body)
        .map_err(|e| IngressError::Malformed(e.to_string()))?;
    if !record.is_deal() {
        let notice = UnroutableNotice {
            event_type: format!(
                "workflow.{}",
                record
                    .object_type
                    .as_deref()
                    .unwrap_or("unknown")
                    .to_ascii_lowercase()
            ),
            vendor_event_id: format!("workflow:{}", record.dedup_key()),
            notice: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        };
        let mut accepted = deal_won::publish(&state.shared.publisher, SYSTEM, &[], 0).await?;
        accepted.unroutable = unroutable::publish(
            &state.shared.publisher,
            &state.shared.warned_types,
            SYSTEM,
            &[notice],
        )
        .await?;
        return Ok((StatusCode::OK, Json(accepted)));
    }
    let won_stage = match &record.stage {
        Some(stage) if settings.won_stages.iter().any(|won| won == stage) => Some(stage.clone()),
        Some(_) => None,
        None => Some("workflow".to_owned()),
    };
    let won: Vec<WonDeal> = won_stage
        .map(|stage| WonDeal {
            deal_id: record.object_id.clone(),
            stage,
            tenant: record.portal_id.unwrap_or_default().to_string(),
            dedup_key: record.dedup_key(),
            occurred_at: record.stage_changed_at.unwrap_or_else(Utc::now),
        })
        .into_iter()
        .collect();
    let ignored = usize::from(won.is_empty());
    let accepted = deal_won::publish(&state.shared.publisher, SYSTEM, &won, ignored).await?;
    Ok((StatusCode::OK, Json(accepted)))
}

/// The app's v3 signature when sent ("include request signature in header"),
/// else the configured API key, as a header or a query parameter.
fn verify_workflow(
    settings: &WebhookSettings,
    headers: &HeaderMap,
    query: Option<&str>,
    public_uri: &str,
    body: &[u8],
) -> Result<(), IngressError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(signature) = header(webhook::HEADER_SIGNATURE_V3) {
        return webhook::verify_v3(
            &settings.client_secret,
            "POST",
            public_uri,
            body,
            header(webhook::HEADER_REQUEST_TIMESTAMP),
            Some(signature),
            Utc::now(),
        )
        .map_err(IngressError::from);
    }
    let expected = settings.workflow_key.expose_secret();
    if expected.is_empty() {
        return Err(IngressError::MissingSignature);
    }
    let name = settings.workflow_key_name.as_str();
    let from_query = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.into_owned())
    });
    let presented = header(name).map(str::to_owned).or(from_query);
    if presented.is_some_and(|key| secret_matches(&key, expected)) {
        Ok(())
    } else {
        Err(IngressError::InvalidCredentials)
    }
}

/// The events of subscription types no flow takes, each with its JSON as sent.
fn unroutable_notices(events: &[webhook::WebhookEvent], body: &[u8]) -> Vec<UnroutableNotice> {
    if events.iter().all(webhook::is_deal_change) {
        return Vec::new();
    }
    // Parsed once more as plain JSON, so fields we do not model are kept.
    let raw: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap_or_default();
    events
        .iter()
        .enumerate()
        .filter(|(_, event)| !webhook::is_deal_change(event))
        .map(|(n, event)| UnroutableNotice {
            event_type: event.subscription_type.clone(),
            // HubSpot's event ids are not unique alone.
            vendor_event_id: format!(
                "{}:{}:{}",
                event.portal_id, event.event_id, event.occurred_at
            ),
            notice: raw.get(n).cloned().unwrap_or(serde_json::Value::Null),
        })
        .collect()
}

/// Checks v3 when present (it binds a timestamp, so replays expire), else
/// v1/v2 when allowed and named by `X-HubSpot-Signature-Version`. Any other
/// version, or none, is refused: falling back to v1 would accept a request
/// whose signature covers no timestamp, replayable for ever.
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
        match header(webhook::HEADER_SIGNATURE_VERSION) {
            Some("v2") => webhook::verify_v2(
                &settings.client_secret,
                "POST",
                public_uri,
                body,
                header(webhook::HEADER_SIGNATURE),
            ),
            Some("v1") => webhook::verify_v1(
                &settings.client_secret,
                body,
                header(webhook::HEADER_SIGNATURE),
            ),
            other => {
                let version = other.unwrap_or("(none)").chars().take(20).collect();
                return Err(IngressError::UnsupportedSignatureVersion(version));
            }
        }
    } else {
        return Err(IngressError::MissingSignature);
    };
    result.map_err(IngressError::from)
}

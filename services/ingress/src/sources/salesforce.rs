//! Salesforce notifications of won opportunities:
//! - `POST /webhooks/salesforce/outbound-message`: a workflow Outbound Message
//!   (SOAP). Salesforce signs nothing, so the `OrganizationId` must be the
//!   configured org; the answer is the `<Ack>true</Ack>` envelope, without which
//!   Salesforce re-sends for up to 24 hours.
//! - `POST /webhooks/salesforce`: a JSON callout from a record-triggered Flow or
//!   Apex, signed with Standard Webhooks headers (`webhook-id`,
//!   `webhook-timestamp`, `webhook-signature`).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_connector::salesforce::webhook::{self, ACK_RESPONSE, WebhookSettings};
use crmerp_connector::standard_webhooks;

use super::{Shared, SourceState};
use crate::Settings;
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::deal_won::{self, WonDeal};

pub(crate) const SYSTEM: &str = "salesforce";

/// The Salesforce routes, with the `[crm.salesforce]` inbound settings.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/salesforce", post(callout))
        .route(
            "/webhooks/salesforce/outbound-message",
            post(outbound_message),
        )
        .with_state(SourceState::new(shared, settings.crm.salesforce.clone()))
}

async fn outbound_message(
    State(state): State<SourceState<WebhookSettings>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IngressError> {
    let settings = state.settings()?;
    let org = settings
        .organization_id()
        .ok_or(IngressError::SourceNotConfigured)?;
    let body = super::body(body)?;
    let message = webhook::parse_outbound_message(&body)
        .map_err(|e| IngressError::Malformed(e.to_string()))?;
    if !webhook::same_org(&message.organization_id, org) {
        return Err(IngressError::InvalidCredentials);
    }
    let org15 = org.get(..15).unwrap_or(org);
    let now = Utc::now();
    let won: Vec<WonDeal> = message
        .notifications
        .iter()
        .filter(|n| webhook::notification_is_won(n, &settings.won_stages))
        .map(|n| WonDeal {
            deal_id: n.fields.get("Id").cloned().unwrap_or_default(),
            stage: n.fields.get("StageName").cloned().unwrap_or_default(),
            tenant: org15.to_owned(),
            // Salesforce keeps the notification id across its re-sends.
            dedup_key: format!(
                "salesforce:{org15}:opportunity:{}:om:{}",
                n.fields.get("Id").map_or("", String::as_str),
                n.id
            ),
            occurred_at: n
                .fields
                .get("LastModifiedDate")
                .and_then(|d| parse_time(d))
                .unwrap_or(now),
        })
        .collect();
    let ignored = message.notifications.len() - won.len();
    deal_won::publish(&state.shared.publisher, SYSTEM, &won, ignored).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        ACK_RESPONSE,
    )
        .into_response())
}

async fn callout(
    State(state): State<SourceState<WebhookSettings>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    let secret = settings
        .callout_secret()
        .ok_or(IngressError::SourceNotConfigured)?;
    let body = super::body(body)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    standard_webhooks::verify(
        secret,
        header(standard_webhooks::HEADER_ID),
        header(standard_webhooks::HEADER_TIMESTAMP),
        header(standard_webhooks::HEADER_SIGNATURE),
        &body,
        Utc::now(),
    )
    .map_err(IngressError::from)?;
    super::guards::require_json(&headers)?;
    let callout =
        webhook::parse_callout(&body).map_err(|e| IngressError::Malformed(e.to_string()))?;
    if let Some(org) = settings.organization_id()
        && !webhook::same_org(&callout.organization_id, org)
    {
        return Err(IngressError::InvalidCredentials);
    }
    if callout.opportunity_id.is_empty() {
        return Err(IngressError::Malformed("opportunityId is empty".into()));
    }
    // Signed and valid, so the id is the sender's: refuse it re-used with
    // another body. Rejected requests above record nothing.
    let message_id = header(standard_webhooks::HEADER_ID).unwrap_or_default();
    state
        .shared
        .webhook_ids
        .check(SYSTEM, message_id, &body)
        .await?;
    let won: Vec<WonDeal> = if settings.won_stages.contains(&callout.stage_name) {
        let org15 = callout
            .organization_id
            .get(..15)
            .unwrap_or(&callout.organization_id)
            .to_owned();
        vec![WonDeal {
            dedup_key: format!(
                "salesforce:{org15}:opportunity:{}:callout:{message_id}",
                callout.opportunity_id
            ),
            deal_id: callout.opportunity_id.clone(),
            stage: callout.stage_name.clone(),
            tenant: org15,
            occurred_at: callout
                .last_modified_date
                .as_deref()
                .and_then(parse_time)
                .unwrap_or_else(Utc::now),
        }]
    } else {
        Vec::new()
    };
    let ignored = usize::from(won.is_empty());
    let accepted = deal_won::publish(&state.shared.publisher, SYSTEM, &won, ignored).await?;
    Ok((StatusCode::OK, Json(accepted)))
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw).ok().map(|t| t.to_utc())
}

//! `POST /webhooks/hubspot`: HubSpot webhook deliveries.

use axum::Json;
use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use chrono::Utc;
use crmerp_connector::hubspot::webhook::{self, DealWonNotice, SignatureError};
use crmerp_proto::{
    DealWon, EventEnvelope, RecordRef, event_envelope::Data, event_types, timestamp_from,
    timestamp_now,
};
use crmerp_service_kit::topology::deal_won_subject;
use serde::Serialize;

use crate::error::IngressError;
use crate::{AppState, HubSpotWebhookSettings};

const SYSTEM: &str = "hubspot";

/// The HubSpot routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/webhooks/hubspot", post(receive))
}

/// What ingress did with a delivery.
#[derive(Debug, Serialize)]
struct Accepted {
    /// Won-deal events newly stored.
    accepted: usize,
    /// Won-deal events already stored earlier (a re-sent webhook).
    duplicates: usize,
    /// Events in the batch that are not deal wins.
    ignored: usize,
}

async fn receive(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state
        .hubspot
        .as_deref()
        .ok_or(IngressError::SourceNotConfigured)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            IngressError::TooLarge
        } else {
            IngressError::Malformed(rejection.body_text())
        }
    })?;
    let public_uri = format!(
        "{}{}",
        state.public_base_url,
        uri.path_and_query().map_or("", |p| p.as_str())
    );
    verify(settings, &headers, &public_uri, &body)?;

    let events =
        webhook::parse_events(&body).map_err(|e| IngressError::Malformed(e.to_string()))?;
    let notices = webhook::deal_won_notices(&events, &settings.won_stages);
    let ignored = events.len() - notices.len();
    let batch: Vec<(String, EventEnvelope)> = notices
        .iter()
        .map(|n| (deal_won_subject(SYSTEM), envelope(n)))
        .collect();
    let report = state.publisher.publish_all(batch).await?;
    metrics::counter!("crmerp_ingress_events_total", "source" => SYSTEM, "result" => "accepted")
        .increment(report.stored as u64);
    metrics::counter!("crmerp_ingress_events_total", "source" => SYSTEM, "result" => "duplicate")
        .increment(report.duplicates as u64);
    tracing::info!(
        source = SYSTEM,
        accepted = report.stored,
        duplicates = report.duplicates,
        ignored,
        "Webhook accepted."
    );
    Ok((
        StatusCode::OK,
        Json(Accepted {
            accepted: report.stored,
            duplicates: report.duplicates,
            ignored,
        }),
    ))
}

/// Checks v3 when present (it binds a timestamp, so replays expire), else v1/v2.
fn verify(
    settings: &HubSpotWebhookSettings,
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
    result.map_err(|error| match error {
        SignatureError::Missing(_) => IngressError::MissingSignature,
        SignatureError::Stale { .. } => IngressError::StaleTimestamp,
        SignatureError::Malformed(_) | SignatureError::Mismatch => IngressError::InvalidSignature,
    })
}

fn envelope(notice: &DealWonNotice) -> EventEnvelope {
    let id = notice.dedup_key();
    EventEnvelope {
        id: id.clone(),
        source: format!("crmerp://ingress/hubspot/{}", notice.portal_id),
        r#type: event_types::DEAL_WON.to_owned(),
        subject: format!("hubspot/deal/{}", notice.deal_id),
        time: Some(timestamp_from(notice.occurred_at)),
        correlation_id: id,
        causation_id: String::new(),
        data: Some(Data::DealWon(DealWon {
            deal: Some(RecordRef {
                system: SYSTEM.to_owned(),
                object_type: "deal".to_owned(),
                id: notice.deal_id.clone(),
            }),
            stage: notice.stage.clone(),
            occurred_at: Some(timestamp_from(notice.occurred_at)),
            accepted_at: Some(timestamp_now()),
            corrected_deal: None,
        })),
    }
}

//! What every CRM route shares once the vendor's request is verified: the body
//! extraction, the canonical `DealWon` envelope and the publish-and-report step.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_proto::{
    DealWon, EventEnvelope, RecordRef, event_envelope::Data, event_types, timestamp_from,
    timestamp_now,
};
use crmerp_service_kit::topology::deal_won_subject;
use serde::Serialize;

use crate::Publisher;
use crate::error::IngressError;

/// What ingress did with a delivery.
#[derive(Debug, Serialize)]
pub(crate) struct Accepted {
    /// Won-deal events newly stored.
    pub(crate) accepted: usize,
    /// Won-deal events already stored earlier (a re-sent webhook).
    pub(crate) duplicates: usize,
    /// Events in the delivery that are not deal wins.
    pub(crate) ignored: usize,
}

/// One won deal, as a vendor route understood it.
#[derive(Debug, Clone)]
pub(crate) struct WonDeal {
    /// The CRM's deal (opportunity) id.
    pub(crate) deal_id: String,
    /// The stage it entered.
    pub(crate) stage: String,
    /// The vendor's account, org or portal (for the envelope source).
    pub(crate) tenant: String,
    /// Stable across the vendor's re-sends of this change: the `Nats-Msg-Id`.
    pub(crate) dedup_key: String,
    /// When the change happened (or was received, when the vendor does not say).
    pub(crate) occurred_at: DateTime<Utc>,
}

/// The raw body, or 413 / 400.
pub(crate) fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, IngressError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            IngressError::TooLarge
        } else {
            IngressError::Malformed(rejection.body_text())
        }
    })
}

/// The canonical envelope of a won deal from `system`.
pub(crate) fn envelope(system: &str, won: &WonDeal) -> EventEnvelope {
    EventEnvelope {
        id: won.dedup_key.clone(),
        source: format!("crmerp://ingress/{system}/{}", won.tenant),
        r#type: event_types::DEAL_WON.to_owned(),
        subject: format!("{system}/deal/{}", won.deal_id),
        time: Some(timestamp_from(won.occurred_at)),
        correlation_id: won.dedup_key.clone(),
        causation_id: String::new(),
        data: Some(Data::DealWon(DealWon {
            deal: Some(RecordRef {
                system: system.to_owned(),
                object_type: "deal".to_owned(),
                id: won.deal_id.clone(),
            }),
            stage: won.stage.clone(),
            occurred_at: Some(timestamp_from(won.occurred_at)),
            accepted_at: Some(timestamp_now()),
            corrected_deal: None,
        })),
    }
}

/// Publishes every won deal and reports, counting `ignored` non-win events.
pub(crate) async fn publish(
    publisher: &Publisher,
    system: &'static str,
    won: &[WonDeal],
    ignored: usize,
) -> Result<Accepted, IngressError> {
    let batch = won
        .iter()
        .map(|w| (deal_won_subject(system), envelope(system, w)))
        .collect();
    let report = publisher.publish_all(batch).await?;
    metrics::counter!("crmerp_ingress_events_total", "source" => system, "result" => "accepted")
        .increment(report.stored as u64);
    metrics::counter!("crmerp_ingress_events_total", "source" => system, "result" => "duplicate")
        .increment(report.duplicates as u64);
    tracing::info!(
        source = system,
        accepted = report.stored,
        duplicates = report.duplicates,
        ignored,
        "Webhook accepted."
    );
    Ok(Accepted {
        accepted: report.stored,
        duplicates: report.duplicates,
        ignored,
    })
}

/// Compares a presented secret with the configured one in constant time.
pub(crate) fn secret_matches(presented: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

//! The `deal_won` event kind: a CRM deal (opportunity) entered a won stage.
//! Every CRM's route reduces its notice to a [`WonDeal`]; this module makes the
//! canonical `DealWon` envelope and its subject.

use chrono::{DateTime, Utc};
use crmerp_proto::{
    DealWon, EventEnvelope, RecordRef, event_envelope::Data, event_types, timestamp_from,
    timestamp_now,
};
use crmerp_service_kit::topology::deal_won_subject;

use super::Accepted;
use crate::Publisher;
use crate::error::IngressError;

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

/// Publishes every won deal from `system` and reports, counting `ignored`
/// notices that are not deal wins.
pub(crate) async fn publish(
    publisher: &Publisher,
    system: &'static str,
    won: &[WonDeal],
    ignored: usize,
) -> Result<Accepted, IngressError> {
    let events = won
        .iter()
        .map(|w| (deal_won_subject(system), envelope(system, w)))
        .collect();
    super::publish(publisher, system, events, ignored).await
}

//! Requeue: re-publishing a dead letter's event to its original subject.
//!
//! The requeued event gets a new id (so JetStream's de-duplication does not
//! drop it), keeps the correlation id, names the dead letter as its cause, and
//! carries the header [`REQUEUE_OF_HEADER`] with the dead letter's id. An
//! operator's correction of the deal travels in `DealWon.corrected_deal`; the
//! worker then uses it instead of hydrating from the CRM. Requeueing is safe to
//! repeat: the ERP order is still looked up by the deal's external reference.

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use crmerp_proto::{Deal, EventEnvelope, Message as _, event_envelope::Data, timestamp_now};

/// Header linking a requeued event to the dead letter it came from.
pub const REQUEUE_OF_HEADER: &str = "Crmerp-Requeue-Of";

/// A dead letter could not be requeued.
#[derive(Debug, thiserror::Error)]
pub enum RequeueError {
    /// The envelope is not a dead letter, or the dead letter has no decodable original.
    #[error("cannot requeue: {0}")]
    NotRequeueable(&'static str),
    /// A correction was given for an event that is not a deal-won event.
    #[error("a corrected deal only applies to deal-won events")]
    CorrectionNotApplicable,
    /// JetStream did not acknowledge the publish.
    #[error("JetStream did not store the requeued event: {0}")]
    Publish(String),
}

/// Builds the event to requeue from a dead-letter envelope; `attempt` makes the
/// new id unique per requeue (e.g. the number of earlier requeues + 1).
pub fn requeued_event(
    dead_letter_envelope: &EventEnvelope,
    corrected: Option<Deal>,
    attempt: u32,
) -> Result<(String, EventEnvelope), RequeueError> {
    let Some(Data::DeadLetter(dead_letter)) = &dead_letter_envelope.data else {
        return Err(RequeueError::NotRequeueable("not a dead-letter envelope"));
    };
    let Some(original) = dead_letter.original.as_deref() else {
        return Err(RequeueError::NotRequeueable(
            "the dead letter has no decodable original event",
        ));
    };
    if dead_letter.original_subject.is_empty() {
        return Err(RequeueError::NotRequeueable(
            "the dead letter has no original subject",
        ));
    }
    let mut event = original.clone();
    event.id = format!("{}:requeue:{attempt}", original.id);
    event.causation_id = dead_letter_envelope.id.clone();
    event.time = Some(timestamp_now());
    if let Some(deal) = corrected {
        match event.data.as_mut() {
            Some(Data::DealWon(won)) => won.corrected_deal = Some(deal),
            _ => return Err(RequeueError::CorrectionNotApplicable),
        }
    }
    Ok((dead_letter.original_subject.clone(), event))
}

/// Publishes a requeued event and waits for JetStream's PubAck; returns its id.
pub async fn requeue(
    js: &jetstream::Context,
    dead_letter_envelope: &EventEnvelope,
    corrected: Option<Deal>,
    attempt: u32,
) -> Result<String, RequeueError> {
    let (subject, event) = requeued_event(dead_letter_envelope, corrected, attempt)?;
    let mut headers = HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, event.id.as_str());
    headers.insert(REQUEUE_OF_HEADER, dead_letter_envelope.id.as_str());
    let payload = Bytes::from(event.encode_to_vec());
    js.publish_with_headers(subject, headers, payload)
        .await
        .map_err(|e| RequeueError::Publish(e.to_string()))?
        .await
        .map_err(|e| RequeueError::Publish(e.to_string()))?;
    Ok(event.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmerp_proto::{DeadLetter, DealWon, RecordRef};

    fn dead_letter() -> EventEnvelope {
        let original = EventEnvelope {
            id: "hubspot:1:deal:7:closedwon:1".into(),
            correlation_id: "corr".into(),
            data: Some(Data::DealWon(DealWon {
                deal: Some(RecordRef {
                    system: "hubspot".into(),
                    object_type: "deal".into(),
                    id: "7".into(),
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        EventEnvelope {
            id: "dlq:hubspot:1:deal:7:closedwon:1".into(),
            data: Some(Data::DeadLetter(Box::new(DeadLetter {
                original: Some(Box::new(original)),
                original_subject: "inbound.crm.deal.won.hubspot".into(),
                ..Default::default()
            }))),
            ..Default::default()
        }
    }

    #[test]
    fn requeued_event_links_back_and_carries_the_correction() {
        let corrected = Deal {
            name: "fixed".into(),
            ..Default::default()
        };
        let (subject, event) = requeued_event(&dead_letter(), Some(corrected.clone()), 1).unwrap();
        assert_eq!(subject, "inbound.crm.deal.won.hubspot");
        assert_eq!(event.id, "hubspot:1:deal:7:closedwon:1:requeue:1");
        assert_eq!(event.causation_id, "dlq:hubspot:1:deal:7:closedwon:1");
        assert_eq!(event.correlation_id, "corr");
        let Some(Data::DealWon(won)) = event.data else {
            panic!("not a deal-won event")
        };
        assert_eq!(won.corrected_deal, Some(corrected));
    }

    #[test]
    fn only_dead_letters_with_an_original_can_be_requeued() {
        let mut envelope = dead_letter();
        if let Some(Data::DeadLetter(dl)) = envelope.data.as_mut() {
            dl.original = None;
        }
        assert!(matches!(
            requeued_event(&envelope, None, 1),
            Err(RequeueError::NotRequeueable(_))
        ));
        assert!(requeued_event(&EventEnvelope::default(), None, 1).is_err());
    }
}

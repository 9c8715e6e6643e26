//! Requeue: re-publishing a dead letter's event to its original subject.
//!
//! The requeued event gets a new id (so JetStream's de-duplication does not
//! drop it), keeps the correlation id, names the dead letter as its cause, and
//! carries the header [`REQUEUE_OF_HEADER`] with the dead letter's id. An
//! operator's correction arrives as the corrected original event, built by the
//! flow's correction rules (`crmerp_rules::Correction`; for deal-to-order the
//! deal travels in `DealWon.corrected_deal`). Requeueing is safe to repeat: a
//! flow's effects are still looked up by their business key.

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use crmerp_proto::{EventEnvelope, Message as _, event_envelope::Data, timestamp_now};

/// Header linking a requeued event to the dead letter it came from.
pub const REQUEUE_OF_HEADER: &str = "Crmerp-Requeue-Of";

/// A dead letter could not be requeued.
#[derive(Debug, thiserror::Error)]
pub enum RequeueError {
    /// The envelope is not a dead letter, or the dead letter has no decodable original.
    #[error("cannot requeue: {0}")]
    NotRequeueable(&'static str),
    /// The corrected event is not the dead letter's original event.
    #[error("the corrected event {0:?} is not the dead letter's original event")]
    CorrectionNotApplicable(String),
    /// JetStream did not acknowledge the publish.
    #[error("JetStream did not store the requeued event: {0}")]
    Publish(String),
}

/// Builds the event to requeue from a dead-letter envelope, starting from
/// `corrected` (the original event as an operator corrected it) when given;
/// `attempt` makes the new id unique per requeue (e.g. the number of earlier
/// requeues + 1).
pub fn requeued_event(
    dead_letter_envelope: &EventEnvelope,
    corrected: Option<EventEnvelope>,
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
    let mut event = match corrected {
        Some(corrected) if corrected.id == original.id => corrected,
        Some(other) => return Err(RequeueError::CorrectionNotApplicable(other.id)),
        None => original.clone(),
    };
    event.id = format!("{}:requeue:{attempt}", original.id);
    event.causation_id = dead_letter_envelope.id.clone();
    event.time = Some(timestamp_now());
    Ok((dead_letter.original_subject.clone(), event))
}

/// Publishes a requeued event and waits for JetStream's PubAck; returns its id.
pub async fn requeue(
    js: &jetstream::Context,
    dead_letter_envelope: &EventEnvelope,
    corrected: Option<EventEnvelope>,
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
    use crmerp_proto::{DeadLetter, Deal, DealWon, RecordRef};

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
        let Some(Data::DeadLetter(dl)) = dead_letter().data else {
            panic!("a dead letter")
        };
        let mut original = *dl.original.expect("an original");
        if let Some(Data::DealWon(won)) = original.data.as_mut() {
            won.corrected_deal = Some(corrected.clone());
        }
        let (subject, event) = requeued_event(&dead_letter(), Some(original.clone()), 1).unwrap();
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

    #[test]
    fn a_correction_of_another_event_is_refused() {
        let other = EventEnvelope {
            id: "hubspot:2".into(),
            ..Default::default()
        };
        assert!(matches!(
            requeued_event(&dead_letter(), Some(other), 1),
            Err(RequeueError::CorrectionNotApplicable(id)) if id == "hubspot:2"
        ));
    }
}

//! Publishing outcomes, dead letters and breaker changes, each waiting for its PubAck.

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use crmerp_proto::{
    BreakerChange, DeadLetter, EventEnvelope, Message as _, Outcome, OutcomeStatus,
    event_envelope::Data, event_types, timestamp_now,
};
use crmerp_service_kit::topology::{dlq_subject, outcome_subject};

use crate::breaker::Transition;

/// Publishes a flow's events.
#[derive(Clone)]
pub struct Publisher {
    js: jetstream::Context,
    flow: String,
}

/// The subject suffix of an outcome status.
pub fn status_label(status: OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Succeeded => "succeeded",
        OutcomeStatus::ValidationFailed => "validation_failed",
        OutcomeStatus::PermanentError => "permanent_error",
        OutcomeStatus::RetryScheduled => "retry_scheduled",
        OutcomeStatus::DeadLettered => "dead_lettered",
        OutcomeStatus::Unspecified => "unspecified",
    }
}

impl Publisher {
    /// A publisher for `flow`.
    pub fn new(js: jetstream::Context, flow: &str) -> Self {
        Self {
            js,
            flow: flow.to_owned(),
        }
    }

    /// Publishes the outcome of one attempt of `cause`.
    pub async fn outcome(&self, cause: &EventEnvelope, outcome: &Outcome) -> bool {
        let status = OutcomeStatus::try_from(outcome.status).unwrap_or(OutcomeStatus::Unspecified);
        let label = status_label(status);
        let envelope = EventEnvelope {
            id: format!("{}/{}/{}", cause.id, outcome.attempt, label),
            source: format!("crmerp://{}", self.flow),
            r#type: event_types::OUTCOME.to_owned(),
            subject: cause.subject.clone(),
            time: outcome.finished_at,
            correlation_id: cause.correlation_id.clone(),
            causation_id: cause.id.clone(),
            data: Some(Data::Outcome(outcome.clone())),
        };
        self.publish(outcome_subject(&self.flow, label), envelope)
            .await
    }

    /// Publishes a dead letter about `cause`, de-duplicated by `key`.
    pub async fn dead_letter(
        &self,
        cause: &EventEnvelope,
        key: &str,
        dead_letter: DeadLetter,
    ) -> bool {
        let envelope = EventEnvelope {
            id: format!("dlq:{key}"),
            source: format!("crmerp://{}", self.flow),
            r#type: event_types::DEAD_LETTER.to_owned(),
            subject: cause.subject.clone(),
            time: dead_letter.dead_lettered_at,
            correlation_id: cause.correlation_id.clone(),
            causation_id: cause.id.clone(),
            data: Some(Data::DeadLetter(Box::new(dead_letter))),
        };
        self.publish(dlq_subject(&self.flow), envelope).await
    }

    /// Publishes a breaker change (the monitoring service alerts on it).
    pub async fn breaker(&self, transition: &Transition, resolution: &str) -> bool {
        let label = if transition.open {
            "breaker_opened"
        } else {
            "breaker_closed"
        };
        let at = timestamp_now();
        let envelope = EventEnvelope {
            id: format!(
                "breaker:{}:{}:{}:{}",
                self.flow, transition.system, label, at.seconds
            ),
            source: format!("crmerp://{}", self.flow),
            r#type: event_types::OUTCOME.to_owned(),
            subject: format!("{}/{}", self.flow, transition.system),
            time: Some(at),
            correlation_id: String::new(),
            causation_id: String::new(),
            data: Some(Data::BreakerChange(BreakerChange {
                flow: self.flow.clone(),
                system: transition.system.clone(),
                open: transition.open,
                reason: transition.reason.clone(),
                error_category: transition.category.clone(),
                consecutive_failures: transition.consecutive,
                resolution_code: resolution.to_owned(),
                at: Some(at),
            })),
        };
        self.publish(outcome_subject(&self.flow, label), envelope)
            .await
    }

    async fn publish(&self, subject: String, envelope: EventEnvelope) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, envelope.id.as_str());
        // Outcomes and dead letters carry the deal's trace on to monitoring.
        crmerp_service_kit::trace_context::inject(&mut headers);
        let payload = Bytes::from(envelope.encode_to_vec());
        let result = async {
            self.js
                .publish_with_headers(subject.clone(), headers, payload)
                .await?
                .await
                .map(drop)
                .map_err(async_nats::Error::from)
        }
        .await;
        match result {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%subject, %error, "Cannot publish; the event will be retried.");
                false
            }
        }
    }
}

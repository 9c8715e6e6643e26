//! Bus messages turned into event-log rows.

use chrono::{DateTime, Utc};
use crmerp_proto::{
    DeadLetterClass, EventEnvelope, Outcome, OutcomeStatus, RecordRef, Timestamp, VendorCall,
    event_envelope::Data, timestamp_to_chrono,
};
use serde_json::Value;

/// One row of the `events` table.
#[derive(Debug, Clone, Default)]
pub struct EventRow {
    /// Envelope id on the bus (unique).
    pub envelope_id: String,
    /// `inbound`, `outcome`, `dead_letter`, `breaker` or `audit`.
    pub kind: &'static str,
    /// CloudEvents type.
    pub event_type: String,
    /// Flow name.
    pub flow: String,
    /// Normalised outcome label (see [`outcome_label`]).
    pub outcome: String,
    /// The originating CRM record.
    pub crm: RecordRef,
    /// ERP order number (the id of the outcome's order effect), when known.
    pub erp_order_number: String,
    /// Last (or failing) endpoint called.
    pub endpoint: String,
    /// Its HTTP status.
    pub http_status: i32,
    /// Its response body (already truncated to 10 KB by the flow).
    pub response_body: String,
    /// Processing duration.
    pub duration_ms: i64,
    /// Delivery attempt number.
    pub attempt: i32,
    /// Machine-readable error category.
    pub error_category: String,
    /// Human-readable error.
    pub error_message: String,
    /// Recommended resolution code.
    pub resolution_code: String,
    /// W3C trace id.
    pub trace_id: String,
    /// The processed (or dead-lettered) event's id.
    pub event_id: String,
    /// Correlation id.
    pub correlation_id: String,
    /// Causation id.
    pub causation_id: String,
    /// Who acted (audit rows).
    pub actor: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The full structured event (an outcome's calls without their bodies:
    /// those are in [`EventRow::calls`]).
    pub payload: Value,
    /// Every vendor call of an outcome's attempt, in order, with its body.
    pub calls: Vec<VendorCall>,
}

/// One row of the `dead_letters` table.
#[derive(Debug, Clone)]
pub struct DeadLetterRow {
    /// The dead letter's envelope id.
    pub id: String,
    /// Flow.
    pub flow: String,
    /// `permanent`, `exhausted` or `poison`.
    pub class: &'static str,
    /// Error category.
    pub error_category: String,
    /// Resolution code.
    pub resolution_code: String,
    /// Human-readable reason.
    pub reason: String,
    /// Vendor error detail.
    pub error_detail: String,
    /// The CRM record.
    pub crm: RecordRef,
    /// The original event id.
    pub original_event_id: String,
    /// The original subject (requeue target).
    pub original_subject: String,
    /// When it was dead-lettered.
    pub dead_lettered_at: DateTime<Utc>,
    /// The envelope bytes as published.
    pub envelope: Vec<u8>,
}

/// What one bus message becomes.
#[derive(Debug, Clone)]
pub enum Record {
    /// An outcome, or another lone event row (an inbound event, a breaker change).
    Outcome(EventRow),
    /// A dead letter: an event row and a dead-letter row.
    DeadLetter(EventRow, Box<DeadLetterRow>),
}

/// The stable outcome labels of the event log.
pub fn outcome_label(status: OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Succeeded => "success",
        OutcomeStatus::ValidationFailed => "validation_failure",
        OutcomeStatus::PermanentError => "erp_error",
        OutcomeStatus::RetryScheduled => "retry_scheduled",
        OutcomeStatus::DeadLettered => "dead_lettered",
        OutcomeStatus::Unspecified => "unspecified",
    }
}

fn class_label(class: DeadLetterClass) -> &'static str {
    match class {
        DeadLetterClass::Permanent => "permanent",
        DeadLetterClass::Exhausted => "exhausted",
        DeadLetterClass::Poison => "poison",
        DeadLetterClass::Unspecified => "unspecified",
    }
}

fn time(ts: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(timestamp_to_chrono)
}

/// The effect kind whose id is stored as the searchable ERP order number.
pub const ORDER_EFFECT: &str = "order";

/// The id of an outcome's ERP order effect (empty when it has none).
pub fn order_effect_id(outcome: &Outcome) -> String {
    outcome
        .effects
        .iter()
        .find(|e| e.kind == ORDER_EFFECT)
        .map(|e| e.id.clone())
        .unwrap_or_default()
}

/// An envelope in the proto3 JSON mapping (the generated serde), with its
/// payload under `data` (`{"data": {"outcome": {...}}}`) rather than inlined
/// as proto3 JSON does with a oneof, so a reader finds every payload kind at
/// one place. A dead letter's raw payload is shown as its length: the bytes
/// are kept with the dead letter, not in the event log.
pub fn envelope_json(e: &EventEnvelope) -> Value {
    let mut attributes = e.clone();
    let data = attributes.data.take();
    let mut json = to_json(&attributes);
    let mut payload = match data {
        Some(data) => to_json(&EventEnvelope {
            data: Some(data),
            ..Default::default()
        }),
        None => Value::Null,
    };
    if let (Some(Data::DeadLetter(dl)), Some(shown)) = (&e.data, payload.get_mut("deadLetter")) {
        if let Some(original) = dl.original.as_deref() {
            shown["original"] = envelope_json(original);
        }
        if let Some(fields) = shown.as_object_mut()
            && fields.remove("rawPayload").is_some()
        {
            fields.insert("rawPayloadBytes".into(), dl.raw_payload.len().into());
        }
    }
    if let Some(fields) = json.as_object_mut() {
        fields.insert("data".into(), payload);
    }
    json
}

fn to_json(message: &EventEnvelope) -> Value {
    // Generated serde of plain data cannot fail; an empty object keeps the row readable if it ever did.
    serde_json::to_value(message).unwrap_or_else(|_| Value::Object(Default::default()))
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The record of one bus message, or `None` when it is neither an outcome nor a dead letter.
pub fn from_envelope(envelope: &EventEnvelope, raw: &[u8]) -> Option<Record> {
    let base = EventRow {
        envelope_id: envelope.id.clone(),
        event_type: envelope.r#type.clone(),
        correlation_id: envelope.correlation_id.clone(),
        causation_id: envelope.causation_id.clone(),
        occurred_at: time(envelope.time.as_ref()).unwrap_or_else(Utc::now),
        payload: envelope_json(envelope),
        ..Default::default()
    };
    match envelope.data.as_ref()? {
        Data::Outcome(o) => {
            let status = OutcomeStatus::try_from(o.status).unwrap_or_default();
            let mut payload = base.payload.clone();
            // The bodies are stored once, with the calls (migration 0005).
            if let Some(calls) = payload
                .pointer_mut("/data/outcome/calls")
                .and_then(Value::as_array_mut)
            {
                for call in calls.iter_mut().filter_map(Value::as_object_mut) {
                    call.remove("responseBody");
                }
            }
            Some(Record::Outcome(EventRow {
                payload,
                calls: o.calls.clone(),
                kind: "outcome",
                flow: o.flow.clone(),
                outcome: outcome_label(status).to_owned(),
                crm: o.crm_record.clone().unwrap_or_default(),
                erp_order_number: order_effect_id(o),
                endpoint: o.endpoint.clone(),
                http_status: clamp_i32(o.http_status),
                response_body: o.response_body.clone(),
                duration_ms: clamp_i64(o.duration_ms),
                attempt: clamp_i32(o.attempt),
                error_category: o.error_category.clone(),
                error_message: o.error_message.clone(),
                resolution_code: o.resolution_code.clone(),
                trace_id: o.trace_id.clone(),
                event_id: o.event_id.clone(),
                ..base
            }))
        }
        Data::DeadLetter(dl) => {
            let last = dl.attempts.last();
            let crm = last
                .and_then(|a| a.crm_record.clone())
                .or_else(
                    || match dl.original.as_deref().and_then(|o| o.data.as_ref()) {
                        Some(Data::DealWon(won)) => won.deal.clone(),
                        _ => None,
                    },
                )
                .unwrap_or_default();
            let original_event_id = dl
                .original
                .as_deref()
                .map(|o| o.id.clone())
                .unwrap_or_default();
            let row = EventRow {
                kind: "dead_letter",
                flow: dl.flow.clone(),
                outcome: "dead_lettered".to_owned(),
                crm: crm.clone(),
                endpoint: last.map(|a| a.endpoint.clone()).unwrap_or_default(),
                http_status: last.map_or(0, |a| clamp_i32(a.http_status)),
                response_body: dl.error_detail.clone(),
                duration_ms: last.map_or(0, |a| clamp_i64(a.duration_ms)),
                attempt: last.map_or(0, |a| clamp_i32(a.attempt)),
                error_category: dl.error_category.clone(),
                error_message: dl.reason.clone(),
                resolution_code: dl.resolution_code.clone(),
                trace_id: last.map(|a| a.trace_id.clone()).unwrap_or_default(),
                event_id: original_event_id.clone(),
                ..base
            };
            let dead_letter = DeadLetterRow {
                id: envelope.id.clone(),
                flow: dl.flow.clone(),
                class: class_label(DeadLetterClass::try_from(dl.class).unwrap_or_default()),
                error_category: dl.error_category.clone(),
                resolution_code: dl.resolution_code.clone(),
                reason: dl.reason.clone(),
                error_detail: dl.error_detail.clone(),
                crm,
                original_event_id,
                original_subject: dl.original_subject.clone(),
                dead_lettered_at: time(dl.dead_lettered_at.as_ref()).unwrap_or(row.occurred_at),
                envelope: raw.to_vec(),
            };
            Some(Record::DeadLetter(row, Box::new(dead_letter)))
        }
        Data::BreakerChange(b) => Some(Record::Outcome(EventRow {
            kind: "breaker",
            flow: b.flow.clone(),
            outcome: if b.open {
                "breaker_opened"
            } else {
                "breaker_closed"
            }
            .to_owned(),
            // The vendor whose failures paused the flow.
            endpoint: b.system.clone(),
            error_category: b.error_category.clone(),
            error_message: b.reason.clone(),
            resolution_code: b.resolution_code.clone(),
            occurred_at: time(b.at.as_ref()).unwrap_or(base.occurred_at),
            ..base
        })),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The outcome label of an accepted inbound event that no flow has reported on yet.
pub const RECEIVED: &str = "received";

/// The row of an event accepted onto `INBOUND` (`kind = inbound`, outcome
/// [`RECEIVED`]), so a trigger is searchable by its record before any flow
/// reports an outcome. Its time is when it was received: the later of
/// ingress's acceptance and the envelope's time (a requeue stamps its own).
pub fn inbound_from_envelope(envelope: &EventEnvelope, _raw: &[u8]) -> Option<Record> {
    let stamped = time(envelope.time.as_ref());
    let (crm, accepted) = match envelope.data.as_ref() {
        Some(Data::DealWon(won)) => (won.deal.clone(), time(won.accepted_at.as_ref())),
        _ => (None, None),
    };
    // Other inbound kinds name their record in the CloudEvents subject, `system/type/id`.
    let crm = crm.unwrap_or_else(|| record_of_subject(&envelope.subject));
    let received = stamped
        .into_iter()
        .chain(accepted)
        .max()
        .unwrap_or_else(Utc::now);
    Some(Record::Outcome(EventRow {
        envelope_id: envelope.id.clone(),
        kind: "inbound",
        event_type: envelope.r#type.clone(),
        outcome: RECEIVED.to_owned(),
        crm,
        event_id: envelope.id.clone(),
        correlation_id: envelope.correlation_id.clone(),
        causation_id: envelope.causation_id.clone(),
        occurred_at: received,
        payload: envelope_json(envelope),
        ..Default::default()
    }))
}

/// The record a CloudEvents subject `system/object_type/id` names (empty when it names none).
fn record_of_subject(subject: &str) -> RecordRef {
    let mut parts = subject.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(system), Some(object_type), Some(id)) if !id.is_empty() => RecordRef {
            system: system.to_owned(),
            object_type: object_type.to_owned(),
            id: id.to_owned(),
        },
        _ => RecordRef::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmerp_proto::{DeadLetter, DealWon, Effect, VendorCall, timestamp_now};

    fn outcome() -> Outcome {
        Outcome {
            flow: "deal-to-order".into(),
            status: OutcomeStatus::Succeeded as i32,
            crm_record: Some(RecordRef {
                system: "hubspot".into(),
                object_type: "deal".into(),
                id: "7".into(),
            }),
            duration_ms: 18,
            calls: vec![VendorCall {
                system: "netsuite".into(),
                endpoint: "POST /salesOrder".into(),
                http_status: 0,
                duration_ms: 5,
                ..Default::default()
            }],
            effects: vec![
                Effect {
                    system: "netsuite".into(),
                    kind: "customer".into(),
                    id: "C1".into(),
                    label: "customer C1".into(),
                },
                Effect {
                    system: "netsuite".into(),
                    kind: ORDER_EFFECT.into(),
                    id: "SO1001".into(),
                    label: "SO1001".into(),
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn an_inbound_event_is_received_at_its_acceptance_under_its_record() {
        let accepted = crmerp_proto::Timestamp {
            seconds: 1_700_000_100,
            nanos: 0,
        };
        let envelope = EventEnvelope {
            id: "hubspot:1:deal:7:closedwon:1".into(),
            r#type: "crm.deal.won".into(),
            source: "crmerp://ingress/hubspot".into(),
            time: Some(crmerp_proto::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            data: Some(Data::DealWon(DealWon {
                deal: outcome().crm_record,
                accepted_at: Some(accepted),
                ..Default::default()
            })),
            ..Default::default()
        };
        let Some(Record::Outcome(row)) = inbound_from_envelope(&envelope, b"") else {
            panic!("an inbound row");
        };
        assert_eq!((row.kind, row.outcome.as_str()), ("inbound", RECEIVED));
        assert_eq!(
            (row.crm.id.as_str(), row.event_id.as_str()),
            ("7", envelope.id.as_str())
        );
        assert_eq!(row.occurred_at.timestamp(), 1_700_000_100);
        assert_eq!(row.payload["source"], "crmerp://ingress/hubspot");
        // Other kinds are found by their CloudEvents subject.
        let other = EventEnvelope {
            id: "x".into(),
            subject: "netsuite/salesOrder/SO1".into(),
            ..Default::default()
        };
        let Some(Record::Outcome(row)) = inbound_from_envelope(&other, b"") else {
            panic!("an inbound row");
        };
        assert_eq!(
            (
                row.crm.system.as_str(),
                row.crm.object_type.as_str(),
                row.crm.id.as_str()
            ),
            ("netsuite", "salesOrder", "SO1")
        );
    }

    #[test]
    fn an_outcome_is_stored_with_its_order_effect_and_proto3_json() {
        let envelope = EventEnvelope {
            id: "o1".into(),
            r#type: "integration.outcome".into(),
            time: Some(timestamp_now()),
            data: Some(Data::Outcome(outcome())),
            ..Default::default()
        };
        let Some(Record::Outcome(row)) = from_envelope(&envelope, &[]) else {
            panic!("an outcome row");
        };
        assert_eq!(row.erp_order_number, "SO1001");
        assert_eq!(row.crm.id, "7");
        let json = &row.payload;
        assert_eq!(json["id"], "o1");
        assert_eq!(
            json["data"]["outcome"]["status"],
            "OUTCOME_STATUS_SUCCEEDED"
        );
        assert_eq!(json["data"]["outcome"]["crmRecord"]["objectType"], "deal");
        assert_eq!(
            json["data"]["outcome"]["durationMs"], "18",
            "64-bit as string"
        );
        assert_eq!(json["data"]["outcome"]["effects"][1]["id"], "SO1001");
        assert!(
            json["data"]["outcome"]["calls"][0]
                .get("httpStatus")
                .is_none(),
            "zeros are omitted"
        );
        assert!(json.get("outcome").is_none(), "the payload is under data");
    }

    #[test]
    fn call_bodies_are_kept_with_the_calls_not_in_the_payload() {
        let mut with_body = outcome();
        with_body.calls[0].response_body = r#"{"id":"SO1001"}"#.into();
        with_body.calls[0].result = true;
        let envelope = EventEnvelope {
            id: "o2".into(),
            data: Some(Data::Outcome(with_body)),
            ..Default::default()
        };
        let Some(Record::Outcome(row)) = from_envelope(&envelope, &[]) else {
            panic!("an outcome row");
        };
        assert_eq!(row.calls.len(), 1);
        assert_eq!(row.calls[0].response_body, r#"{"id":"SO1001"}"#);
        let call = &row.payload["data"]["outcome"]["calls"][0];
        assert!(call.get("responseBody").is_none());
        assert_eq!(call["endpoint"], "POST /salesOrder");
        assert_eq!(call["result"], true);
    }

    #[test]
    fn a_dead_letter_shows_its_original_under_data_and_the_raw_payload_size() {
        let original = EventEnvelope {
            id: "e1".into(),
            data: Some(Data::DealWon(DealWon {
                deal: outcome().crm_record,
                ..Default::default()
            })),
            ..Default::default()
        };
        let envelope = EventEnvelope {
            id: "dlq:e1".into(),
            data: Some(Data::DeadLetter(Box::new(DeadLetter {
                flow: "deal-to-order".into(),
                class: DeadLetterClass::Poison as i32,
                original: Some(Box::new(original)),
                raw_payload: vec![1, 2, 3],
                attempts: vec![outcome()],
                ..Default::default()
            }))),
            ..Default::default()
        };
        let json = envelope_json(&envelope);
        let dead_letter = &json["data"]["deadLetter"];
        assert_eq!(dead_letter["class"], "DEAD_LETTER_CLASS_POISON");
        assert_eq!(
            dead_letter["original"]["data"]["dealWon"]["deal"]["id"],
            "7"
        );
        assert_eq!(dead_letter["rawPayloadBytes"], 3);
        assert!(dead_letter.get("rawPayload").is_none());
        assert_eq!(dead_letter["attempts"][0]["effects"][1]["kind"], "order");
        let Some(Record::DeadLetter(row, dl)) = from_envelope(&envelope, b"raw") else {
            panic!("a dead-letter row");
        };
        assert_eq!(
            (row.crm.id.as_str(), dl.original_event_id.as_str()),
            ("7", "e1")
        );
        assert_eq!(dl.class, "poison");
    }
}

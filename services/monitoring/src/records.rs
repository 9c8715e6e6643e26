//! Bus messages turned into event-log rows.

use chrono::{DateTime, SecondsFormat, Utc};
use crmerp_proto::Timestamp;
use crmerp_proto::{
    DeadLetter, DeadLetterClass, EventEnvelope, Outcome, OutcomeStatus, RecordRef, VendorCall,
    event_envelope::Data, timestamp_to_chrono,
};
use serde_json::{Value, json};

use crate::deal_json::deal_to_json;

/// One row of the `events` table.
#[derive(Debug, Clone, Default)]
pub struct EventRow {
    /// Envelope id on the bus (unique).
    pub envelope_id: String,
    /// `outcome`, `dead_letter`, `breaker` or `audit`.
    pub kind: &'static str,
    /// CloudEvents type.
    pub event_type: String,
    /// Flow name.
    pub flow: String,
    /// Normalised outcome label (see [`outcome_label`]).
    pub outcome: String,
    /// The originating CRM record.
    pub crm: RecordRef,
    /// ERP order number, when known.
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
    /// The full structured event.
    pub payload: Value,
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
    /// An outcome: one event row.
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

fn rfc3339(ts: Option<&Timestamp>) -> Value {
    time(ts).map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
    })
}

fn ref_json(r: Option<&RecordRef>) -> Value {
    r.map_or(
        Value::Null,
        |r| json!({"system": r.system, "objectType": r.object_type, "id": r.id}),
    )
}

fn call_json(c: &VendorCall) -> Value {
    json!({"system": c.system, "endpoint": c.endpoint, "httpStatus": c.http_status, "durationMs": c.duration_ms.to_string()})
}

/// An outcome as proto3-style JSON.
pub fn outcome_json(o: &Outcome) -> Value {
    json!({
        "flow": o.flow,
        "status": OutcomeStatus::try_from(o.status).unwrap_or_default().as_str_name(),
        "crmRecord": ref_json(o.crm_record.as_ref()),
        "erpRecord": ref_json(o.erp_record.as_ref()),
        "erpOrderNumber": o.erp_order_number,
        "endpoint": o.endpoint,
        "httpStatus": o.http_status,
        "responseBody": o.response_body,
        "durationMs": o.duration_ms.to_string(),
        "attempt": o.attempt,
        "errorCategory": o.error_category,
        "errorMessage": o.error_message,
        "nextRetryMs": o.next_retry_ms.to_string(),
        "resolutionCode": o.resolution_code,
        "eventId": o.event_id,
        "traceId": o.trace_id,
        "calls": o.calls.iter().map(call_json).collect::<Vec<_>>(),
        "startedAt": rfc3339(o.started_at.as_ref()),
        "finishedAt": rfc3339(o.finished_at.as_ref()),
    })
}

/// An envelope's attributes and payload as JSON.
pub fn envelope_json(e: &EventEnvelope) -> Value {
    let data = match &e.data {
        Some(Data::Outcome(o)) => json!({"outcome": outcome_json(o)}),
        Some(Data::DealWon(won)) => json!({"dealWon": {
            "deal": ref_json(won.deal.as_ref()),
            "stage": won.stage,
            "occurredAt": rfc3339(won.occurred_at.as_ref()),
            "acceptedAt": rfc3339(won.accepted_at.as_ref()),
            "correctedDeal": won.corrected_deal.as_ref().map_or(Value::Null, deal_to_json),
        }}),
        Some(Data::DeadLetter(dl)) => json!({"deadLetter": dead_letter_json(dl)}),
        Some(Data::BreakerChange(b)) => json!({"breakerChange": {
            "flow": b.flow, "system": b.system, "open": b.open, "reason": b.reason,
            "errorCategory": b.error_category, "consecutiveFailures": b.consecutive_failures,
            "resolutionCode": b.resolution_code, "at": rfc3339(b.at.as_ref()),
        }}),
        // A payload this build does not know: keep the envelope attributes.
        #[allow(unreachable_patterns)]
        Some(_) | None => Value::Null,
    };
    json!({
        "id": e.id, "source": e.source, "type": e.r#type, "subject": e.subject,
        "time": rfc3339(e.time.as_ref()), "correlationId": e.correlation_id,
        "causationId": e.causation_id, "data": data,
    })
}

fn dead_letter_json(dl: &DeadLetter) -> Value {
    json!({
        "flow": dl.flow,
        "class": DeadLetterClass::try_from(dl.class).unwrap_or_default().as_str_name(),
        "original": dl.original.as_deref().map_or(Value::Null, envelope_json),
        "rawPayloadBytes": dl.raw_payload.len(),
        "originalSubject": dl.original_subject,
        "streamSeq": dl.stream_seq.to_string(),
        "attempts": dl.attempts.iter().map(outcome_json).collect::<Vec<_>>(),
        "errorCategory": dl.error_category,
        "errorDetail": dl.error_detail,
        "resolutionCode": dl.resolution_code,
        "reason": dl.reason,
        "deadLetteredAt": rfc3339(dl.dead_lettered_at.as_ref()),
    })
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
            Some(Record::Outcome(EventRow {
                kind: "outcome",
                flow: o.flow.clone(),
                outcome: outcome_label(status).to_owned(),
                crm: o.crm_record.clone().unwrap_or_default(),
                erp_order_number: o.erp_order_number.clone(),
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

//! One message: decode, handle, record the outcome, then ack, retry or dead-letter.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind};
use crmerp_connector::{CallLog, ConnectorError, ErrorCategory, truncate_detail};
use crmerp_proto::{
    DeadLetter, DeadLetterClass, EventEnvelope, Message as _, Outcome, OutcomeStatus, VendorCall,
    timestamp_now,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::breaker::Breakers;
use crate::handler::{Attempt, Failure, Handler, Success};
use crate::history::History;
use crate::publish::Publisher;
use crate::settings::FlowSettings;

/// Everything the per-message code needs, shared by concurrent tasks.
pub(crate) struct Flow<H> {
    pub(crate) name: String,
    pub(crate) settings: FlowSettings,
    pub(crate) handler: Arc<H>,
    pub(crate) publisher: Publisher,
    pub(crate) history: History,
    pub(crate) breakers: Arc<Breakers>,
}

/// Test-only fault injection: abort the process at a named point, once.
pub(crate) fn crash_if(point: &str) {
    if std::env::var("CRMERP_CRASH_POINT").is_ok_and(|p| p == point) {
        let marker = std::env::var("CRMERP_CRASH_MARKER").unwrap_or_default();
        if !marker.is_empty() && std::fs::metadata(&marker).is_err() {
            let _ = std::fs::write(&marker, point);
            tracing::error!(point, "Injected crash.");
            std::process::abort();
        }
    }
}

impl<H: Handler> Flow<H> {
    /// Decodes the envelope of `message` (`None`: poison, already dead-lettered).
    pub(crate) async fn decode(
        &self,
        message: &jetstream::Message,
        stream_seq: u64,
    ) -> Option<EventEnvelope> {
        match EventEnvelope::decode(message.payload.clone()) {
            Ok(event) => Some(event),
            Err(error) => {
                self.dead_letter_poison(message, stream_seq, &error.to_string())
                    .await;
                None
            }
        }
    }

    /// Processes one decoded message.
    pub(crate) async fn process(
        &self,
        message: jetstream::Message,
        event: EventEnvelope,
        attempt_number: u32,
        stream_seq: u64,
        hard_stop: &CancellationToken,
    ) {
        let span = tracing::info_span!("flow.process", flow = %self.name, event_id = %event.id, subject = %event.subject, attempt = attempt_number);
        // Continue the trace the publisher started (W3C context in the NATS headers).
        crmerp_service_kit::trace_context::set_parent(&span, message.headers.as_ref());
        async {
            if !self.hold_while_paused(&message, hard_stop).await {
                return;
            }
            let attempt = Attempt {
                number: attempt_number,
                is_last: attempt_number >= self.settings.max_deliver,
                calls: CallLog::new(),
            };
            let started = Instant::now();
            let started_at = timestamp_now();
            let result = tokio::select! {
                result = self.handle_with_progress(&message, &event, &attempt) => result,
                () = hard_stop.cancelled() => {
                    tracing::warn!("Shutdown deadline reached; handing the message back.");
                    nak(&message, None).await;
                    return;
                }
            };
            let mut outcome = Outcome {
                flow: self.name.clone(),
                attempt: attempt_number,
                event_id: event.id.clone(),
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                started_at: Some(started_at),
                finished_at: Some(timestamp_now()),
                calls: published_calls(&attempt.calls),
                ..Default::default()
            };
            // The row shows the call that produced the result (the ERP order's
            // create or look-up), not whatever ran last (a CRM write-back).
            let shown = outcome
                .calls
                .iter()
                .find(|c| c.result)
                .or(outcome.calls.last());
            if let Some(call) = shown {
                outcome.endpoint = call.endpoint.clone();
                outcome.http_status = call.http_status;
                outcome.response_body = call.response_body.clone();
            }
            self.record_metrics(&outcome, started.elapsed());
            match result {
                Ok(success) => {
                    self.succeed(&message, &event, stream_seq, outcome, success)
                        .await
                }
                Err(failure) => {
                    self.fail(&message, &event, stream_seq, &attempt, outcome, failure)
                        .await
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// While a breaker is open, keeps an already-fetched message (in-progress
    /// acks) instead of spending one of its attempts on a vendor known to be down.
    /// Returns false when shutdown came first and the message was handed back.
    async fn hold_while_paused(
        &self,
        message: &jetstream::Message,
        hard_stop: &CancellationToken,
    ) -> bool {
        let period = (self.settings.ack_wait / 3).max(Duration::from_millis(100));
        while self.breakers.any_open() {
            tokio::select! {
                () = self.breakers.wait_all_closed() => {}
                () = tokio::time::sleep(period) => {
                    if let Err(error) = message.ack_with(AckKind::Progress).await {
                        tracing::warn!(%error, "Cannot send in-progress ack while paused.");
                    }
                }
                () = hard_stop.cancelled() => {
                    nak(message, None).await;
                    return false;
                }
            }
        }
        true
    }

    fn record_metrics(&self, outcome: &Outcome, elapsed: Duration) {
        metrics::histogram!("crmerp_flow_processing_seconds", "flow" => self.name.clone())
            .record(elapsed.as_secs_f64());
        for call in &outcome.calls {
            metrics::histogram!(
                "crmerp_vendor_call_seconds",
                "system" => call.system.clone(),
                "endpoint" => call.endpoint.clone(),
                "status" => call.http_status.to_string()
            )
            .record(Duration::from_millis(call.duration_ms).as_secs_f64());
        }
    }

    /// Runs the handler, telling JetStream the message is still being worked on
    /// so a slow vendor call does not trigger a redelivery.
    async fn handle_with_progress(
        &self,
        message: &jetstream::Message,
        event: &EventEnvelope,
        attempt: &Attempt,
    ) -> Result<Success, Failure> {
        let handle = self.handler.handle(event, attempt);
        tokio::pin!(handle);
        let period = (self.settings.ack_wait / 3).max(Duration::from_millis(100));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                result = &mut handle => return result,
                _ = ticker.tick() => {
                    if let Err(error) = message.ack_with(AckKind::Progress).await {
                        tracing::warn!(%error, "Cannot send in-progress ack.");
                    }
                }
            }
        }
    }

    async fn succeed(
        &self,
        message: &jetstream::Message,
        event: &EventEnvelope,
        stream_seq: u64,
        mut outcome: Outcome,
        success: Success,
    ) {
        for call in &outcome.calls {
            self.breakers.record_success(&call.system);
        }
        outcome.status = OutcomeStatus::Succeeded as i32;
        outcome.crm_record = success.crm_record;
        outcome.erp_record = success.erp_record;
        outcome.effects = success.effects;
        if !self.publisher.outcome(event, &outcome).await {
            nak(message, Some(self.settings.publish_retry_delay)).await;
            return;
        }
        crash_if("before_ack");
        count(&self.name, "succeeded");
        let effects: Vec<&str> = outcome.effects.iter().map(|e| e.label.as_str()).collect();
        tracing::info!(effects = ?effects, duration_ms = outcome.duration_ms, "Event processed.");
        if let Err(error) = message.double_ack().await {
            // The effects are idempotent: a redelivery finds them done.
            tracing::warn!(%error, "Ack not confirmed; the event may be redelivered.");
        }
        if outcome.attempt > 1 {
            self.history.forget(stream_seq).await;
        }
    }

    async fn fail(
        &self,
        message: &jetstream::Message,
        event: &EventEnvelope,
        stream_seq: u64,
        attempt: &Attempt,
        mut outcome: Outcome,
        failure: Failure,
    ) {
        let error = &failure.error;
        outcome.crm_record = failure.crm_record.clone();
        outcome.error_category = error.category.as_str().to_owned();
        outcome.error_message = error.message.clone();
        outcome.resolution_code = resolution(error);
        outcome.endpoint = error.endpoint.clone();
        outcome.http_status = u32::from(error.http_status);
        // Vendor bodies can echo personal data; outcomes are stored and shown widely.
        outcome.response_body =
            crmerp_service_kit::redact::redact(truncate_detail(&error.detail)).into_owned();
        if !failure.validation
            && let Some(opened) = self.breakers.record_failure(error)
        {
            tracing::error!(system = %opened.system, reason = %opened.reason, "Vendor down or rejecting credentials; pausing the flow.");
            metrics::gauge!("crmerp_flow_breaker_open", "flow" => self.name.clone(), "system" => opened.system.clone()).set(1.0);
            self.publisher
                .breaker(&opened, &outcome.resolution_code)
                .await;
        }

        if failure.is_retryable() && !attempt.is_last {
            let scheduled = self.settings.retry_delay(attempt.number);
            // A vendor asking for a longer pause wins over our schedule.
            let delay = error
                .retry_after
                .map_or(scheduled, |wait| wait.max(scheduled));
            outcome.status = OutcomeStatus::RetryScheduled as i32;
            outcome.next_retry_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            let recorded = self.history.append(stream_seq, &outcome).await;
            if let Err(error) = &recorded {
                tracing::warn!(%error, "Cannot record the attempt history; retrying anyway.");
            }
            if !self.publisher.outcome(event, &outcome).await {
                nak(message, Some(self.settings.publish_retry_delay)).await;
                return;
            }
            count(&self.name, "retry_scheduled");
            tracing::warn!(error = %error, delay_ms = outcome.next_retry_ms, "Transient failure; retry scheduled.");
            nak(message, Some(delay)).await;
            return;
        }

        let (class, status, label) = if failure.is_retryable() {
            (
                DeadLetterClass::Exhausted,
                OutcomeStatus::DeadLettered,
                "dead_lettered",
            )
        } else if failure.validation {
            (
                DeadLetterClass::Permanent,
                OutcomeStatus::ValidationFailed,
                "validation_failed",
            )
        } else {
            (
                DeadLetterClass::Permanent,
                OutcomeStatus::PermanentError,
                "permanent_error",
            )
        };
        outcome.status = status as i32;
        let mut attempts = self.history.load(stream_seq).await;
        attempts.push(outcome.clone());
        let dead_letter = DeadLetter {
            flow: self.name.clone(),
            class: class as i32,
            original: Some(Box::new(event.clone())),
            raw_payload: Vec::new(),
            original_subject: message.subject.to_string(),
            stream_seq,
            attempts,
            error_category: outcome.error_category.clone(),
            error_detail: outcome.response_body.clone(),
            resolution_code: outcome.resolution_code.clone(),
            reason: error.message.clone(),
            dead_lettered_at: Some(timestamp_now()),
        };
        // The dead letter must be durable before the message is let go.
        if !self
            .publisher
            .dead_letter(event, &event.id, dead_letter)
            .await
            || !self.publisher.outcome(event, &outcome).await
        {
            nak(message, Some(self.settings.publish_retry_delay)).await;
            return;
        }
        count(&self.name, label);
        tracing::warn!(error = %error, class = ?class, "Event dead-lettered.");
        if let Err(error) = message.ack_with(AckKind::Term).await {
            tracing::warn!(%error, "Term not sent; the dead letter is de-duplicated on redelivery.");
        }
        self.history.forget(stream_seq).await;
    }

    async fn dead_letter_poison(
        &self,
        message: &jetstream::Message,
        stream_seq: u64,
        reason: &str,
    ) {
        tracing::error!(flow = %self.name, stream_seq, reason, "Undecodable message; dead-lettering it.");
        let key = format!("poison:{stream_seq}");
        let dead_letter = DeadLetter {
            flow: self.name.clone(),
            class: DeadLetterClass::Poison as i32,
            original: None,
            raw_payload: message.payload.to_vec(),
            original_subject: message.subject.to_string(),
            stream_seq,
            error_category: "poison".to_owned(),
            reason: format!("undecodable message: {reason}"),
            resolution_code: "discard_or_fix_producer".to_owned(),
            dead_lettered_at: Some(timestamp_now()),
            ..Default::default()
        };
        let placeholder = EventEnvelope {
            id: key.clone(),
            subject: message.subject.to_string(),
            ..Default::default()
        };
        if self
            .publisher
            .dead_letter(&placeholder, &key, dead_letter)
            .await
        {
            count(&self.name, "poison");
            if let Err(error) = message.ack_with(AckKind::Term).await {
                tracing::warn!(%error, "Term not sent for poison message.");
            }
        } else {
            nak(message, Some(self.settings.publish_retry_delay)).await;
        }
    }
}

/// The attempt's calls as published: vendor bodies can echo personal data or
/// credentials, and outcomes are stored and shown widely.
fn published_calls(calls: &CallLog) -> Vec<VendorCall> {
    let mut calls = calls.snapshot();
    for call in &mut calls {
        if let Cow::Owned(redacted) = crmerp_service_kit::redact::redact(&call.response_body) {
            call.response_body = redacted;
        }
    }
    calls
}

/// The connector's resolution code, or one derived from the category.
fn resolution(error: &ConnectorError) -> String {
    if let Some(code) = &error.resolution {
        return code.clone();
    }
    let system = error.system;
    match error.category {
        ErrorCategory::Unauthorized => format!("check_credentials:{system}"),
        ErrorCategory::Unavailable | ErrorCategory::Timeout | ErrorCategory::Connection => {
            format!("retry_when_available:{system}")
        }
        ErrorCategory::RateLimited => format!("reduce_request_rate:{system}"),
        ErrorCategory::NotFound => "check_record_exists".to_owned(),
        ErrorCategory::Duplicate => "resolve_duplicate_in_erp".to_owned(),
        ErrorCategory::Validation | ErrorCategory::MissingData => "fix_record_in_crm".to_owned(),
        ErrorCategory::UnknownItem => "create_item_in_erp".to_owned(),
        ErrorCategory::Protocol => "report_integration_bug".to_owned(),
        ErrorCategory::Contended => "check_erp_then_requeue".to_owned(),
    }
}

pub(crate) fn count(flow: &str, outcome: &'static str) {
    metrics::counter!("crmerp_flow_events_total", "flow" => flow.to_owned(), "outcome" => outcome)
        .increment(1);
}

pub(crate) async fn nak(message: &jetstream::Message, delay: Option<Duration>) {
    if let Err(error) = message.ack_with(AckKind::Nak(delay)).await {
        // Without the NAK the message still comes back after ack_wait.
        tracing::warn!(%error, "NAK not sent; the message returns after ack_wait.");
    }
}

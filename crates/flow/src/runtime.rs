//! The consumer loop: fetch, handle, publish the outcome, then ack, retry or dead-letter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer};
use bytes::Bytes;
use crmerp_connector::{CallLog, truncate_detail};
use crmerp_proto::{
    DeadLetter, DeadLetterClass, EventEnvelope, Message as _, Outcome, OutcomeStatus,
    event_envelope::Data, event_types, timestamp_now,
};
use crmerp_service_kit::Readiness;
use crmerp_service_kit::topology::{INBOUND_STREAM, dlq_subject, outcome_subject};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::handler::{Attempt, Failure, Handler, Success};
use crate::settings::FlowSettings;

/// The flow could not start or its consumer broke for good.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The settings are invalid.
    #[error("invalid flow settings: {0}")]
    Settings(String),
    /// The stream or consumer could not be bound.
    #[error("cannot bind consumer {consumer}: {message}")]
    Consumer {
        /// Durable consumer name.
        consumer: String,
        /// What went wrong.
        message: String,
    },
}

/// Everything the per-message code needs, shared by concurrent tasks.
struct Flow<H> {
    name: String,
    js: jetstream::Context,
    settings: FlowSettings,
    handler: Arc<H>,
}

/// Runs flow `name` on the durable consumer of the same name, filtered to
/// `filter_subject` on the `INBOUND` stream, until `shutdown` fires.
///
/// On shutdown it stops fetching, lets in-flight messages finish for
/// `shutdown_grace`, and NAKs those still running so another replica takes them.
pub async fn run<H: Handler>(
    name: &str,
    filter_subject: &str,
    js: jetstream::Context,
    settings: FlowSettings,
    handler: Arc<H>,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<(), FlowError> {
    settings.validate().map_err(FlowError::Settings)?;
    let consumer = bind_consumer(&js, name, filter_subject, &settings).await?;
    let flow = Arc::new(Flow {
        name: name.to_owned(),
        js,
        settings,
        handler,
    });
    let hard_stop = CancellationToken::new();
    {
        let (shutdown, hard_stop, grace) = (
            shutdown.clone(),
            hard_stop.clone(),
            flow.settings.shutdown_grace,
        );
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
            hard_stop.cancel();
        });
    }
    readiness.set(true);
    tracing::info!(flow = name, filter_subject, "Consuming.");
    while !shutdown.is_cancelled() {
        let messages = match consumer
            .stream()
            .max_messages_per_batch(flow.settings.concurrency)
            .messages()
            .await
        {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(flow = name, %error, "Cannot start fetching; retrying.");
                readiness.set(false);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        readiness.set(true);
        messages
            .take_until(shutdown.cancelled())
            .for_each_concurrent(flow.settings.concurrency, |item| {
                let flow = Arc::clone(&flow);
                let hard_stop = hard_stop.clone();
                async move {
                    match item {
                        Ok(message) => flow.process(message, &hard_stop).await,
                        Err(error) => tracing::warn!(flow = %flow.name, %error, "Fetch error."),
                    }
                }
            })
            .await;
    }
    readiness.set(false);
    tracing::info!(flow = name, "Stopped consuming.");
    Ok(())
}

async fn bind_consumer(
    js: &jetstream::Context,
    name: &str,
    filter_subject: &str,
    settings: &FlowSettings,
) -> Result<consumer::Consumer<consumer::pull::Config>, FlowError> {
    let error = |message: String| FlowError::Consumer {
        consumer: name.to_owned(),
        message,
    };
    let stream = js
        .get_stream(INBOUND_STREAM)
        .await
        .map_err(|e| error(e.to_string()))?;
    stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(name.to_owned()),
            description: Some(format!("Flow {name}.")),
            filter_subject: filter_subject.to_owned(),
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: settings.ack_wait,
            max_deliver: i64::from(settings.max_deliver),
            max_ack_pending: settings.max_ack_pending,
            ..Default::default()
        })
        .await
        .map_err(|e| error(e.to_string()))
}

impl<H: Handler> Flow<H> {
    async fn process(&self, message: jetstream::Message, hard_stop: &CancellationToken) {
        let (attempt_number, stream_seq) = match message.info() {
            Ok(info) => (
                u32::try_from(info.delivered).unwrap_or(u32::MAX),
                info.stream_sequence,
            ),
            Err(error) => {
                tracing::error!(flow = %self.name, %error, "Message without JetStream metadata.");
                return;
            }
        };
        let event = match EventEnvelope::decode(message.payload.clone()) {
            Ok(event) => event,
            Err(error) => {
                self.dead_letter_poison(&message, stream_seq, &error.to_string())
                    .await;
                return;
            }
        };
        let span = tracing::info_span!("flow.process", flow = %self.name, event_id = %event.id, subject = %event.subject, attempt = attempt_number);
        async {
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
                ..Default::default()
            };
            fill_calls(&mut outcome, &attempt.calls);
            metrics::histogram!("crmerp_flow_processing_seconds", "flow" => self.name.clone())
                .record(started.elapsed().as_secs_f64());
            for call in &outcome.calls {
                metrics::histogram!(
                    "crmerp_vendor_call_seconds",
                    "system" => call.system.clone(),
                    "endpoint" => call.endpoint.clone(),
                    "status" => call.http_status.to_string()
                )
                .record(Duration::from_millis(call.duration_ms).as_secs_f64());
            }
            match result {
                Ok(success) => self.succeed(&message, &event, outcome, success).await,
                Err(failure) => {
                    self.fail(&message, &event, stream_seq, &attempt, outcome, failure)
                        .await
                }
            }
        }
        .instrument(span)
        .await;
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
        mut outcome: Outcome,
        success: Success,
    ) {
        outcome.status = OutcomeStatus::Succeeded as i32;
        outcome.crm_record = success.crm_record;
        outcome.erp_record = success.erp_record;
        outcome.erp_order_number = success.erp_order_number;
        if !self.publish_outcome(event, &outcome).await {
            nak(message, Some(self.settings.publish_retry_delay)).await;
            return;
        }
        count(&self.name, "succeeded");
        tracing::info!(erp_order_number = %outcome.erp_order_number, duration_ms = outcome.duration_ms, "Event processed.");
        if let Err(error) = message.double_ack().await {
            // The effects are idempotent: a redelivery finds them done.
            tracing::warn!(%error, "Ack not confirmed; the event may be redelivered.");
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
        outcome.resolution_code = error.resolution.clone().unwrap_or_default();
        outcome.endpoint = error.endpoint.clone();
        outcome.http_status = u32::from(error.http_status);
        outcome.response_body = truncate_detail(&error.detail).to_owned();

        if failure.is_retryable() && !attempt.is_last {
            let scheduled = self.settings.retry_delay(attempt.number);
            // A vendor asking for a longer pause wins over our schedule.
            let delay = error
                .retry_after
                .map_or(scheduled, |wait| wait.max(scheduled));
            outcome.status = OutcomeStatus::RetryScheduled as i32;
            outcome.next_retry_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            if !self.publish_outcome(event, &outcome).await {
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
        let dead_letter = DeadLetter {
            flow: self.name.clone(),
            class: class as i32,
            original: Some(Box::new(event.clone())),
            raw_payload: Vec::new(),
            original_subject: message.subject.to_string(),
            stream_seq,
            attempts: vec![outcome.clone()],
            error_category: outcome.error_category.clone(),
            error_detail: outcome.response_body.clone(),
            resolution_code: outcome.resolution_code.clone(),
            reason: error.message.clone(),
            dead_lettered_at: Some(timestamp_now()),
        };
        // The dead letter must be durable before the message is let go.
        if !self
            .publish_dead_letter(event, &event.id, dead_letter)
            .await
            || !self.publish_outcome(event, &outcome).await
        {
            nak(message, Some(self.settings.publish_retry_delay)).await;
            return;
        }
        count(&self.name, label);
        tracing::warn!(error = %error, class = ?class, "Event dead-lettered.");
        if let Err(error) = message.ack_with(AckKind::Term).await {
            tracing::warn!(%error, "Term not sent; the dead letter is de-duplicated on redelivery.");
        }
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
            ..Default::default()
        };
        if self
            .publish_dead_letter(&placeholder, &key, dead_letter)
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

    async fn publish_outcome(&self, cause: &EventEnvelope, outcome: &Outcome) -> bool {
        let status = OutcomeStatus::try_from(outcome.status).unwrap_or(OutcomeStatus::Unspecified);
        let label = status_label(status);
        let envelope = EventEnvelope {
            id: format!("{}/{}/{}", cause.id, outcome.attempt, label),
            source: format!("crmerp://{}", self.name),
            r#type: event_types::OUTCOME.to_owned(),
            subject: cause.subject.clone(),
            time: outcome.finished_at,
            correlation_id: cause.correlation_id.clone(),
            causation_id: cause.id.clone(),
            data: Some(Data::Outcome(outcome.clone())),
        };
        self.publish(outcome_subject(&self.name, label), envelope)
            .await
    }

    async fn publish_dead_letter(
        &self,
        cause: &EventEnvelope,
        key: &str,
        dead_letter: DeadLetter,
    ) -> bool {
        let envelope = EventEnvelope {
            id: format!("dlq:{key}"),
            source: format!("crmerp://{}", self.name),
            r#type: event_types::DEAD_LETTER.to_owned(),
            subject: cause.subject.clone(),
            time: dead_letter.dead_lettered_at,
            correlation_id: cause.correlation_id.clone(),
            causation_id: cause.id.clone(),
            data: Some(Data::DeadLetter(Box::new(dead_letter))),
        };
        self.publish(dlq_subject(&self.name), envelope).await
    }

    async fn publish(&self, subject: String, envelope: EventEnvelope) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, envelope.id.as_str());
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

fn fill_calls(outcome: &mut Outcome, calls: &CallLog) {
    outcome.calls = calls.snapshot();
    if let Some(last) = outcome.calls.last() {
        outcome.endpoint = last.endpoint.clone();
        outcome.http_status = last.http_status;
    }
}

fn status_label(status: OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Succeeded => "succeeded",
        OutcomeStatus::ValidationFailed => "validation_failed",
        OutcomeStatus::PermanentError => "permanent_error",
        OutcomeStatus::RetryScheduled => "retry_scheduled",
        OutcomeStatus::DeadLettered => "dead_lettered",
        OutcomeStatus::Unspecified => "unspecified",
    }
}

fn count(flow: &str, outcome: &'static str) {
    metrics::counter!("crmerp_flow_events_total", "flow" => flow.to_owned(), "outcome" => outcome)
        .increment(1);
}

async fn nak(message: &jetstream::Message, delay: Option<Duration>) {
    if let Err(error) = message.ack_with(AckKind::Nak(delay)).await {
        // Without the NAK the message still comes back after ack_wait.
        tracing::warn!(%error, "NAK not sent; the message returns after ack_wait.");
    }
}

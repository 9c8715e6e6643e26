//! Ingest: durable pull consumers on `INBOUND` (`inbound.>`, every accepted
//! event, logged as `received`), `OUTCOMES` (`outcome.>`) and `DLQ`
//! (`dlq.>`) write every message into the event log, a batch per transaction,
//! and acknowledge only after the commit. A redelivered message is stored once
//! (unique envelope id), so crashes between commit and ack are harmless.
//! Replicas share the durable consumers.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use crmerp_proto::{EventEnvelope, Message as _};
use crmerp_service_kit::Readiness;
use crmerp_service_kit::topology::{DLQ_STREAM, INBOUND_STREAM, OUTCOMES_STREAM};
use futures::StreamExt;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::records::{Record, from_envelope, inbound_from_envelope};
use crate::store::events::store_batch;

/// Durable consumer of outcomes.
pub const OUTCOMES_CONSUMER: &str = "monitoring-outcomes";
/// Durable consumer of dead letters.
pub const DLQ_CONSUMER: &str = "monitoring-dlq";
/// Durable consumer of accepted inbound events.
pub const INBOUND_CONSUMER: &str = "monitoring-inbound";

/// What a decoded envelope becomes in the event log (`None`: not loggable).
pub type Decoder = fn(&EventEnvelope, &[u8]) -> Option<Record>;

/// One ingest loop's configuration.
#[derive(Debug, Clone)]
pub struct IngestSpec {
    /// Stream name.
    pub stream: &'static str,
    /// Durable consumer name.
    pub consumer: &'static str,
    /// Filter subject.
    pub filter: &'static str,
    /// How its messages become rows.
    pub decode: Decoder,
}

/// Every ingest loop.
pub const SPECS: [IngestSpec; 3] = [
    IngestSpec {
        stream: INBOUND_STREAM,
        consumer: INBOUND_CONSUMER,
        filter: "inbound.>",
        decode: inbound_from_envelope,
    },
    IngestSpec {
        stream: OUTCOMES_STREAM,
        consumer: OUTCOMES_CONSUMER,
        filter: "outcome.>",
        decode: from_envelope,
    },
    IngestSpec {
        stream: DLQ_STREAM,
        consumer: DLQ_CONSUMER,
        filter: "dlq.>",
        decode: from_envelope,
    },
];

/// Batch shape.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Largest batch.
    pub size: usize,
    /// Longest wait for a batch to fill.
    pub wait: Duration,
}

async fn bind(
    js: &jetstream::Context,
    spec: &IngestSpec,
) -> Result<consumer::Consumer<consumer::pull::Config>, async_nats::Error> {
    let stream = js.get_stream(spec.stream).await?;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(spec.consumer.to_owned()),
            description: Some("Monitoring event log.".to_owned()),
            filter_subject: spec.filter.to_owned(),
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 10_000,
            ..Default::default()
        })
        .await?;
    Ok(consumer)
}

/// Runs one ingest loop until `shutdown`; binding and fetch errors are retried.
pub async fn run(
    js: jetstream::Context,
    pool: PgPool,
    spec: IngestSpec,
    batch: BatchSettings,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    let mut delay = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let consumer = match bind(&js, &spec).await {
            Ok(consumer) => consumer,
            Err(error) => {
                tracing::warn!(consumer = spec.consumer, %error, "Cannot bind the consumer yet; retrying.");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        readiness.set(true);
        tracing::info!(consumer = spec.consumer, "Ingesting.");
        loop {
            let fetched = tokio::select! {
                fetched = fetch_batch(&consumer, batch) => fetched,
                () = shutdown.cancelled() => return,
            };
            match fetched {
                Ok(messages) if messages.is_empty() => {}
                Ok(messages) => write(&pool, &spec, messages, &shutdown).await,
                Err(error) => {
                    tracing::warn!(consumer = spec.consumer, %error, "Fetch failed; rebinding.");
                    break;
                }
            }
        }
    }
}

async fn fetch_batch(
    consumer: &consumer::Consumer<consumer::pull::Config>,
    batch: BatchSettings,
) -> Result<Vec<jetstream::Message>, async_nats::Error> {
    let mut messages = consumer
        .fetch()
        .max_messages(batch.size)
        .expires(batch.wait.max(Duration::from_millis(100)))
        .messages()
        .await?;
    let mut out = Vec::new();
    while let Some(message) = messages.next().await {
        out.push(message?);
    }
    Ok(out)
}

async fn write(
    pool: &PgPool,
    spec: &IngestSpec,
    messages: Vec<jetstream::Message>,
    shutdown: &CancellationToken,
) {
    let mut records: Vec<Record> = Vec::with_capacity(messages.len());
    let mut undecodable = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        // Recording an outcome is the last step of the deal's trace.
        let span = tracing::info_span!("monitoring.record", subject = %message.subject);
        crmerp_service_kit::trace_context::set_parent(&span, message.headers.as_ref());
        let _entered = span.enter();
        match EventEnvelope::decode(message.payload.clone()) {
            Ok(envelope) => match (spec.decode)(&envelope, &message.payload) {
                Some(record) => records.push(record),
                None => undecodable.push(index),
            },
            Err(_) => undecodable.push(index),
        }
    }
    // The database may be down: keep retrying the same batch; JetStream keeps
    // the messages, and in-progress acks stop their redelivery meanwhile.
    let mut delay = Duration::from_millis(200);
    loop {
        match store_batch(pool, &records).await {
            Ok(inserted) => {
                metrics::counter!("crmerp_monitoring_events_stored_total", "stream" => spec.stream)
                    .increment(inserted);
                tracing::debug!(
                    consumer = spec.consumer,
                    batch = messages.len(),
                    inserted,
                    "Batch stored."
                );
                break;
            }
            Err(error) => {
                tracing::error!(consumer = spec.consumer, %error, "Cannot store a batch; retrying.");
                metrics::counter!("crmerp_monitoring_store_failures_total").increment(1);
                for message in &messages {
                    let _ = message.ack_with(AckKind::Progress).await;
                }
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    // Unacked messages come back to this or another replica.
                    () = shutdown.cancelled() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    for (index, message) in messages.iter().enumerate() {
        let kind = if undecodable.contains(&index) {
            tracing::warn!(consumer = spec.consumer, subject = %message.subject, "Undecodable message skipped.");
            metrics::counter!("crmerp_monitoring_undecodable_total", "stream" => spec.stream)
                .increment(1);
            AckKind::Term
        } else {
            AckKind::Ack
        };
        if let Err(error) = message.ack_with(kind).await {
            // Stored already: a redelivery is de-duplicated by envelope id.
            tracing::warn!(%error, "Ack not sent; the message will be redelivered and skipped.");
        }
    }
}

//! Publishing canonical events to JetStream, waiting for every PubAck.

use async_nats::jetstream;
use async_nats::{HeaderMap, connection::State};
use bytes::Bytes;
use crmerp_proto::{EventEnvelope, Message as _};
use crmerp_service_kit::{Readiness, trace_context};
use futures::future::join_all;
use tracing::Instrument as _;

use crate::error::IngressError;

/// Publishes envelopes and reports how many were new and how many duplicates.
#[derive(Clone)]
pub struct Publisher {
    client: async_nats::Client,
    js: jetstream::Context,
    readiness: Readiness,
}

/// What JetStream said about a batch of publishes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PublishReport {
    /// Newly stored events.
    pub stored: usize,
    /// Events JetStream recognised by `Nats-Msg-Id` and dropped.
    pub duplicates: usize,
}

impl Publisher {
    /// A publisher over an existing connection.
    pub fn new(client: async_nats::Client, js: jetstream::Context, readiness: Readiness) -> Self {
        Self {
            client,
            js,
            readiness,
        }
    }

    /// Publishes every `(subject, envelope)` concurrently and waits for all PubAcks.
    ///
    /// The envelope id is the `Nats-Msg-Id`; each event starts its own trace,
    /// whose W3C context travels in the message headers. Fails with 503 when NATS is not
    /// connected, streams are not declared yet, or any PubAck is missing; the
    /// vendor then re-sends, and the events already stored are de-duplicated.
    pub async fn publish_all(
        &self,
        events: Vec<(String, EventEnvelope)>,
    ) -> Result<PublishReport, IngressError> {
        self.ensure_available()?;
        let acks = join_all(events.into_iter().map(|(subject, envelope)| {
            // One trace per event (a webhook may carry several deals): this root
            // span is its first span, and consumers continue it from the headers.
            let span = tracing::info_span!(
                parent: None,
                "ingress.publish",
                otel.kind = "producer",
                event_id = %envelope.id,
                subject = %subject,
            );
            let payload = Bytes::from(envelope.encode_to_vec());
            self.send(subject, envelope.id, payload).instrument(span)
        }))
        .await;
        Self::report(acks)
    }

    /// Publishes `(subject, Nats-Msg-Id, payload)` messages that are not
    /// canonical events (e.g. unroutable notices) and waits for all PubAcks.
    pub(crate) async fn publish_raw(
        &self,
        messages: Vec<(String, String, Bytes)>,
    ) -> Result<PublishReport, IngressError> {
        self.ensure_available()?;
        let acks = join_all(
            messages
                .into_iter()
                .map(|(subject, id, payload)| self.send(subject, id, payload)),
        )
        .await;
        Self::report(acks)
    }

    /// 503 at once while NATS is not connected or the streams are not
    /// declared, instead of waiting out a request timeout.
    pub(crate) fn ensure_available(&self) -> Result<(), IngressError> {
        if self.client.connection_state() != State::Connected || !self.readiness.is_ready() {
            return Err(IngressError::Unavailable);
        }
        Ok(())
    }

    /// The JetStream context (for the buckets ingress keeps).
    pub(crate) fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    async fn send(
        &self,
        subject: String,
        id: String,
        payload: Bytes,
    ) -> Result<jetstream::publish::PublishAck, String> {
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        trace_context::inject(&mut headers);
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload)
            .await
            .map_err(|e| e.to_string())?;
        ack.await.map_err(|e| e.to_string())
    }

    fn report(
        acks: Vec<Result<jetstream::publish::PublishAck, String>>,
    ) -> Result<PublishReport, IngressError> {
        let mut report = PublishReport::default();
        for ack in acks {
            match ack {
                Ok(ack) if ack.duplicate => report.duplicates += 1,
                Ok(_) => report.stored += 1,
                Err(error) => {
                    tracing::error!(%error, "JetStream did not acknowledge an event.");
                    return Err(IngressError::Unavailable);
                }
            }
        }
        Ok(report)
    }
}

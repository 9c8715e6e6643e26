//! The runtime's per-message decisions, proven against a real nats-server.
//!
//! Each test starts its own JetStream server, declares the product's topology
//! with `ensure_streams`, runs [`crmerp_flow::run`] with a scripted [`Handler`]
//! (per event: succeed, fail transiently with an optional `Retry-After`, fail
//! permanently, or fail validation, chosen by delivery number) and observes only
//! real effects: when the handler was invoked for each delivery, the outcomes on
//! `OUTCOMES`, the dead letters on `DLQ` and the durable consumer's state.
//!
//! What is proven:
//! - a transient failure is NAKed with the scheduled delay for that attempt (the
//!   next delivery comes no sooner), and the message is acked after a success;
//! - a vendor's `Retry-After` longer than the schedule wins, a shorter one does not;
//! - the delivery numbered `max_deliver` is the last (`is_last`), and a transient
//!   failure there dead-letters the event with every attempt's outcome;
//! - a permanent or validation failure dead-letters at once and terminates the
//!   message: it is never delivered again (checked after a later message on the
//!   same record was processed, as a positive control);
//! - an undecodable payload is dead-lettered as poison and terminated;
//! - a message is never let go while its dead letter or its outcome cannot be
//!   stored: it comes back after `publish_retry_delay` and is dead-lettered or
//!   acked once the stream is back.
//!
//! `ack_wait` is 30 s everywhere, so every redelivery seen within a test comes
//! from the runtime's NAK, not from an ack timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use async_trait::async_trait;
use crmerp_connector::{ConnectorError, ErrorCategory, ErrorKind};
use crmerp_flow::{Attempt, Failure, FlowError, FlowSettings, Handler, Success};
use crmerp_proto::{
    DeadLetter, DeadLetterClass, Effect, EventEnvelope, Message as _, Outcome, OutcomeStatus,
    event_envelope::Data,
};
use crmerp_service_kit::Readiness;
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::topology::{
    DLQ_STREAM, INBOUND_STREAM, OUTCOMES_STREAM, dlq_subject, ensure_streams, outcome_subject,
};
use crmerp_testkit::{NatsServer, eventually};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const FLOW: &str = "decisions";
const FILTER: &str = "inbound.test.decisions.>";
/// How long any single expected effect may take to show up.
const PATIENCE: Duration = Duration::from_secs(10);
/// Slack over an expected retry delay before a redelivery counts as late.
const LATE: Duration = Duration::from_secs(2);

/// What the handler does on one delivery of one event.
#[derive(Debug, Clone)]
enum Step {
    Succeed,
    /// A rate-limited vendor (retryable, does not trip the breaker), with its `Retry-After`.
    Transient(Option<Duration>),
    /// The vendor rejected the record for good.
    Permanent,
    /// Our own validation rejected the record; the error itself looks transient.
    Invalid,
}

/// One invocation of the handler.
#[derive(Debug, Clone)]
struct Call {
    number: u32,
    is_last: bool,
    at: Instant,
}

/// A handler following a per-event script, indexed by delivery number (the
/// last step repeats; events without a script succeed).
#[derive(Default)]
struct Scripted {
    script: Mutex<HashMap<String, Vec<Step>>>,
    calls: Mutex<HashMap<String, Vec<Call>>>,
}

impl Scripted {
    fn script(&self, event_id: &str, steps: &[Step]) {
        self.script
            .lock()
            .unwrap()
            .insert(event_id.to_owned(), steps.to_vec());
    }

    fn calls(&self, event_id: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .get(event_id)
            .cloned()
            .unwrap_or_default()
    }

    fn step(&self, event_id: &str, number: u32) -> Step {
        let script = self.script.lock().unwrap();
        let Some(steps) = script.get(event_id) else {
            return Step::Succeed;
        };
        let index = usize::try_from(number.saturating_sub(1)).unwrap();
        steps
            .get(index)
            .or(steps.last())
            .cloned()
            .unwrap_or(Step::Succeed)
    }
}

fn vendor_error(kind: ErrorKind, category: ErrorCategory, message: &str) -> ConnectorError {
    ConnectorError::new(kind, category, "erp", "POST /orders", message)
}

#[async_trait]
impl Handler for Scripted {
    async fn handle(&self, event: &EventEnvelope, attempt: &Attempt) -> Result<Success, Failure> {
        self.calls
            .lock()
            .unwrap()
            .entry(event.id.clone())
            .or_default()
            .push(Call {
                number: attempt.number,
                is_last: attempt.is_last,
                at: Instant::now(),
            });
        match self.step(&event.id, attempt.number) {
            Step::Succeed => Ok(Success {
                effects: vec![Effect {
                    system: "erp".into(),
                    kind: "order".into(),
                    id: format!("SO-{}", event.id),
                    label: format!("SO-{}", event.id),
                }],
                ..Default::default()
            }),
            Step::Transient(retry_after) => Err(Failure::vendor(
                vendor_error(
                    ErrorKind::Transient,
                    ErrorCategory::RateLimited,
                    "too many requests",
                )
                .with_status(429)
                .with_retry_after(retry_after),
                None,
            )),
            Step::Permanent => Err(Failure::vendor(
                vendor_error(
                    ErrorKind::Permanent,
                    ErrorCategory::Validation,
                    "rejected by the ERP",
                )
                .with_status(400),
                None,
            )),
            Step::Invalid => Err(Failure {
                error: vendor_error(
                    ErrorKind::Transient,
                    ErrorCategory::MissingData,
                    "deal has no amount",
                ),
                crm_record: None,
                validation: true,
            }),
        }
    }

    async fn probe(&self, _system: &str) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Flow settings through the same deserializer the services use, so settings
/// added later with defaults need no change here.
fn settings(max_deliver: u32, retry_schedule: &[&str], publish_retry_delay: &str) -> FlowSettings {
    serde_json::from_value(serde_json::json!({
        "ack_wait": "30s",
        "max_deliver": max_deliver,
        "retry_schedule": retry_schedule,
        "max_ack_pending": 100,
        "concurrency": 4,
        "shutdown_grace": "1s",
        "publish_retry_delay": publish_retry_delay,
        "breaker_threshold": 5,
        "probe_interval": "1s",
    }))
    .unwrap()
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A nats-server with the product's topology, and the flow running on it.
struct Harness {
    js: jetstream::Context,
    nats: NatsSettings,
    handler: Arc<Scripted>,
    shutdown: CancellationToken,
    flow: Option<JoinHandle<Result<(), FlowError>>>,
    // Dropped after everything above: the server, then its store.
    _server: NatsServer,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts a server and declares the streams (the flow is not running yet).
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = NatsServer::start(dir.path()).await.unwrap();
        let js = jetstream::new(server.client().await.unwrap());
        let nats: NatsSettings = serde_json::from_value(serde_json::json!({
            "url": server.url(),
            "duplicate_window": "2m",
            "inbound_max_age": "1h",
            "outcome_max_age": "1h",
        }))
        .unwrap();
        ensure_streams(&js, &nats).await.unwrap();
        Self {
            js,
            nats,
            handler: Arc::new(Scripted::default()),
            shutdown: CancellationToken::new(),
            flow: None,
            _server: server,
            _dir: dir,
        }
    }

    /// Runs the flow in a task and waits until its durable consumer exists.
    async fn start(&mut self, settings: FlowSettings) {
        self.start_on(settings, &[FILTER]).await;
    }

    /// Runs the flow on `subjects` in a task and waits until its durable consumer exists.
    async fn start_on(&mut self, settings: FlowSettings, subjects: &'static [&'static str]) {
        self.shutdown = CancellationToken::new();
        let (js, handler, shutdown) = (
            self.js.clone(),
            Arc::clone(&self.handler),
            self.shutdown.clone(),
        );
        self.flow = Some(tokio::spawn(async move {
            crmerp_flow::run(
                FLOW,
                subjects,
                js,
                settings,
                handler,
                Readiness::new(),
                shutdown,
            )
            .await
        }));
        let js = &self.js;
        eventually("the flow's consumer", PATIENCE, move || async move {
            js.get_consumer_from_stream::<consumer::pull::Config, _, _>(FLOW, INBOUND_STREAM)
                .await
                .ok()
        })
        .await
        .unwrap();
    }

    /// Stops the flow and checks it ended cleanly.
    async fn stop(mut self) {
        self.stop_flow().await;
    }

    /// Stops the flow (the server keeps running) and checks it ended cleanly.
    async fn stop_flow(&mut self) {
        self.shutdown.cancel();
        let flow = self.flow.take().expect("flow started");
        tokio::time::timeout(Duration::from_secs(10), flow)
            .await
            .expect("flow stops")
            .expect("flow task")
            .expect("flow ends cleanly");
    }

    /// Re-declares the topology (after a test deleted a stream).
    async fn redeclare(&self) {
        ensure_streams(&self.js, &self.nats).await.unwrap();
    }

    /// Publishes `payload` about `record`; returns its stream sequence.
    async fn publish_raw(&self, record: &str, payload: Vec<u8>) -> u64 {
        self.js
            .publish(format!("inbound.test.decisions.{record}"), payload.into())
            .await
            .unwrap()
            .await
            .unwrap()
            .sequence
    }

    /// Publishes event `id` about `record`; returns its stream sequence.
    async fn publish(&self, id: &str, record: &str) -> u64 {
        let event = EventEnvelope {
            id: id.to_owned(),
            source: "test://decisions".to_owned(),
            r#type: "test.event".to_owned(),
            subject: record.to_owned(),
            correlation_id: id.to_owned(),
            ..Default::default()
        };
        self.publish_raw(record, event.encode_to_vec()).await
    }

    /// Every envelope in `stream`, in order.
    async fn read(&self, stream: &str) -> Vec<(String, EventEnvelope)> {
        let mut stream = self.js.get_stream(stream).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let mut envelopes = Vec::new();
        if state.messages == 0 {
            return envelopes;
        }
        for seq in state.first_sequence..=state.last_sequence {
            if let Ok(message) = stream.get_raw_message(seq).await {
                let envelope = EventEnvelope::decode(message.payload).unwrap();
                envelopes.push((message.subject.to_string(), envelope));
            }
        }
        envelopes
    }

    /// The outcomes of event `id` with their subjects, in publication order.
    async fn outcomes(&self, id: &str) -> Vec<(String, Outcome)> {
        self.read(OUTCOMES_STREAM)
            .await
            .into_iter()
            .filter(|(_, envelope)| envelope.causation_id == id)
            .filter_map(|(subject, envelope)| match envelope.data {
                Some(Data::Outcome(outcome)) => Some((subject, outcome)),
                _ => None,
            })
            .collect()
    }

    /// The dead letters caused by `cause` (an event id, or `poison:<seq>`).
    async fn dead_letters(&self, cause: &str) -> Vec<DeadLetter> {
        self.read(DLQ_STREAM)
            .await
            .into_iter()
            .filter(|(subject, envelope)| {
                *subject == dlq_subject(FLOW) && envelope.causation_id == cause
            })
            .filter_map(|(_, envelope)| match envelope.data {
                Some(Data::DeadLetter(dead_letter)) => Some(*dead_letter),
                _ => None,
            })
            .collect()
    }

    async fn consumer(&self) -> consumer::Info {
        self.js
            .get_consumer_from_stream::<consumer::pull::Config, _, _>(FLOW, INBOUND_STREAM)
            .await
            .unwrap()
            .get_info()
            .await
            .unwrap()
    }

    /// Waits until event `id` was handled `count` times; returns the calls.
    async fn wait_calls(&self, id: &str, count: usize) -> Vec<Call> {
        let handler = Arc::clone(&self.handler);
        eventually(&format!("{count} calls for {id}"), PATIENCE, || {
            let calls = handler.calls(id);
            async move { (calls.len() >= count).then_some(calls) }
        })
        .await
        .unwrap()
    }

    /// Waits for an outcome of event `id` published on `outcome.<flow>.<status>`.
    async fn wait_outcome(&self, id: &str, status: &str) -> Outcome {
        let subject = &outcome_subject(FLOW, status);
        eventually(
            &format!("{status} outcome of {id}"),
            PATIENCE,
            move || async move {
                self.outcomes(id)
                    .await
                    .into_iter()
                    .find(|(s, _)| s == subject)
                    .map(|(_, outcome)| outcome)
            },
        )
        .await
        .unwrap()
    }

    /// Waits until the consumer has delivered `deliveries` times in all and
    /// holds nothing (no message pending, none awaiting an ack or a NAK delay).
    async fn wait_settled(&self, deliveries: u64) -> consumer::Info {
        eventually(
            &format!("consumer settled after {deliveries} deliveries"),
            PATIENCE,
            move || async move {
                let info = self.consumer().await;
                (info.delivered.consumer_sequence >= deliveries
                    && info.num_ack_pending == 0
                    && info.num_pending == 0)
                    .then_some(info)
            },
        )
        .await
        .unwrap()
    }

    /// Waits for the dead letter caused by `cause`.
    async fn wait_dead_letter(&self, cause: &str) -> DeadLetter {
        eventually(
            &format!("dead letter of {cause}"),
            PATIENCE,
            move || async move { self.dead_letters(cause).await.into_iter().next() },
        )
        .await
        .unwrap()
    }

    /// Positive control for "never delivered again": processes a later event on
    /// the same record to success, then checks the consumer made exactly
    /// `deliveries` deliveries before it (plus the control's one) and holds nothing.
    async fn assert_no_more_deliveries(&self, record: &str, deliveries: u64) {
        let control = format!("control-{record}");
        self.publish(&control, record).await;
        self.wait_outcome(&control, "succeeded").await;
        let info = self.wait_settled(deliveries + 1).await;
        assert_eq!(
            info.delivered.consumer_sequence,
            deliveries + 1,
            "a terminated or acked message was delivered again: {info:?}"
        );
        assert_eq!(info.num_redelivered, 0, "{info:?}");
    }
}

fn status(outcome: &Outcome) -> OutcomeStatus {
    OutcomeStatus::try_from(outcome.status).unwrap()
}

/// Asserts the delivery `later` came at least (90% of) `expected` after
/// `earlier`, and not absurdly later: an immediate NAK gives a gap of a few ms.
fn assert_gap(earlier: &Call, later: &Call, expected: Duration) {
    let gap = later.at.duration_since(earlier.at);
    assert!(
        gap >= expected.mul_f64(0.9),
        "delivery {} came {gap:?} after delivery {}, expected a delay of {expected:?}",
        later.number,
        earlier.number
    );
    assert!(
        gap < expected + LATE,
        "delivery {} came {gap:?} after delivery {}, expected a delay of {expected:?}",
        later.number,
        earlier.number
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_after_the_scheduled_delays_then_acked() {
    let mut h = Harness::new().await;
    let (first, second) = (ms(500), ms(700));
    h.start(settings(3, &["500ms", "700ms"], "400ms")).await;
    h.handler.script(
        "retried",
        &[Step::Transient(None), Step::Transient(None), Step::Succeed],
    );
    let seq = h.publish("retried", "r1").await;

    let succeeded = h.wait_outcome("retried", "succeeded").await;
    assert_eq!(succeeded.attempt, 3);
    assert_eq!(succeeded.effects[0].id, "SO-retried");
    assert_eq!(succeeded.effects[0].kind, "order");

    let calls = h.handler.calls("retried");
    let numbers: Vec<_> = calls.iter().map(|c| (c.number, c.is_last)).collect();
    assert_eq!(numbers, [(1, false), (2, false), (3, true)]);
    assert_gap(&calls[0], &calls[1], first);
    assert_gap(&calls[1], &calls[2], second);

    let outcomes: Vec<_> = h
        .outcomes("retried")
        .await
        .into_iter()
        .map(|(_, o)| (o.attempt, status(&o), o.next_retry_ms))
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, OutcomeStatus::RetryScheduled, 500),
            (2, OutcomeStatus::RetryScheduled, 700),
            (3, OutcomeStatus::Succeeded, 0),
        ]
    );

    // Acked: nothing held, the ack floor is past the message, no dead letter.
    let info = h.wait_settled(3).await;
    assert_eq!(info.ack_floor.stream_sequence, seq, "{info:?}");
    assert!(h.dead_letters("retried").await.is_empty());
    h.assert_no_more_deliveries("r1", 3).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_retry_after_wins_over_the_schedule_and_a_shorter_one_does_not() {
    let mut h = Harness::new().await;
    let scheduled = ms(400);
    h.start(settings(3, &["400ms"], "400ms")).await;
    h.handler.script(
        "slow-vendor",
        &[Step::Transient(Some(ms(1500))), Step::Succeed],
    );
    h.handler.script(
        "eager-vendor",
        &[Step::Transient(Some(ms(50))), Step::Succeed],
    );
    h.publish("slow-vendor", "r1").await;
    h.publish("eager-vendor", "r2").await;

    h.wait_outcome("slow-vendor", "succeeded").await;
    h.wait_outcome("eager-vendor", "succeeded").await;

    let slow = h.handler.calls("slow-vendor");
    assert_eq!(slow.len(), 2);
    assert_gap(&slow[0], &slow[1], ms(1500));
    let eager = h.handler.calls("eager-vendor");
    assert_eq!(eager.len(), 2);
    assert_gap(&eager[0], &eager[1], scheduled);

    let slow_retry = h.wait_outcome("slow-vendor", "retry_scheduled").await;
    assert_eq!(slow_retry.next_retry_ms, 1500);
    let eager_retry = h.wait_outcome("eager-vendor", "retry_scheduled").await;
    assert_eq!(eager_retry.next_retry_ms, 400);
    h.wait_settled(4).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_on_the_last_attempt_dead_letters_with_every_attempt() {
    let mut h = Harness::new().await;
    h.start(settings(3, &["300ms"], "400ms")).await;
    h.handler
        .script("exhausted", &[Step::Transient(Some(ms(100)))]);
    let seq = h.publish("exhausted", "r1").await;

    let calls = h.wait_calls("exhausted", 3).await;
    // Terminated (or otherwise let go): at that moment the dead letter must exist.
    h.wait_settled(3).await;
    let dead_letters = h.dead_letters("exhausted").await;
    assert_eq!(
        dead_letters.len(),
        1,
        "the message was let go without exactly one dead letter"
    );
    let dead_letter = &dead_letters[0];
    assert_eq!(dead_letter.class, DeadLetterClass::Exhausted as i32);
    assert_eq!(dead_letter.flow, FLOW);
    assert_eq!(dead_letter.stream_seq, seq);
    assert_eq!(dead_letter.original_subject, "inbound.test.decisions.r1");
    assert_eq!(
        dead_letter.original.as_ref().map(|e| e.id.as_str()),
        Some("exhausted")
    );
    assert_eq!(dead_letter.error_category, "rate_limited");
    assert_eq!(dead_letter.reason, "too many requests");
    let attempts: Vec<_> = dead_letter
        .attempts
        .iter()
        .map(|o| (o.attempt, status(o), o.next_retry_ms))
        .collect();
    assert_eq!(
        attempts,
        [
            (1, OutcomeStatus::RetryScheduled, 300),
            (2, OutcomeStatus::RetryScheduled, 300),
            (3, OutcomeStatus::DeadLettered, 0),
        ]
    );
    assert_eq!(
        h.wait_outcome("exhausted", "dead_lettered").await.attempt,
        3
    );

    let numbers: Vec<_> = calls.iter().map(|c| (c.number, c.is_last)).collect();
    assert_eq!(numbers, [(1, false), (2, false), (3, true)]);
    h.assert_no_more_deliveries("r1", 3).await;
    assert_eq!(h.handler.calls("exhausted").len(), 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_dead_letters_at_once_and_is_never_delivered_again() {
    let mut h = Harness::new().await;
    h.start(settings(5, &["300ms"], "400ms")).await;
    h.handler.script("rejected", &[Step::Permanent]);
    let seq = h.publish("rejected", "r1").await;

    h.wait_calls("rejected", 1).await;
    // Terminated (or otherwise let go): at that moment the dead letter must exist.
    h.wait_settled(1).await;
    let dead_letters = h.dead_letters("rejected").await;
    assert_eq!(
        dead_letters.len(),
        1,
        "the message was let go without exactly one dead letter"
    );
    let dead_letter = &dead_letters[0];
    assert_eq!(dead_letter.class, DeadLetterClass::Permanent as i32);
    assert_eq!(dead_letter.stream_seq, seq);
    assert_eq!(dead_letter.error_category, "validation");
    let attempts: Vec<_> = dead_letter
        .attempts
        .iter()
        .map(|o| (o.attempt, status(o), o.http_status))
        .collect();
    assert_eq!(attempts, [(1, OutcomeStatus::PermanentError, 400)]);
    assert_eq!(
        h.wait_outcome("rejected", "permanent_error").await.attempt,
        1
    );

    h.assert_no_more_deliveries("r1", 1).await;
    let calls = h.handler.calls("rejected");
    assert_eq!(calls.len(), 1, "retried a permanent failure: {calls:?}");
    assert!(!calls[0].is_last);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_failure_is_not_retried_even_when_the_error_looks_transient() {
    let mut h = Harness::new().await;
    h.start(settings(5, &["300ms"], "400ms")).await;
    h.handler.script("invalid", &[Step::Invalid]);
    h.publish("invalid", "r1").await;

    h.wait_calls("invalid", 1).await;
    h.wait_settled(1).await;
    let dead_letters = h.dead_letters("invalid").await;
    assert_eq!(
        dead_letters.len(),
        1,
        "the message was let go without exactly one dead letter"
    );
    assert_eq!(dead_letters[0].class, DeadLetterClass::Permanent as i32);
    assert_eq!(dead_letters[0].error_category, "missing_data");
    let attempts: Vec<_> = dead_letters[0]
        .attempts
        .iter()
        .map(|o| (o.attempt, status(o)))
        .collect();
    assert_eq!(attempts, [(1, OutcomeStatus::ValidationFailed)]);
    assert_eq!(
        h.wait_outcome("invalid", "validation_failed").await.attempt,
        1
    );

    h.assert_no_more_deliveries("r1", 1).await;
    assert_eq!(h.handler.calls("invalid").len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_is_dead_lettered_as_poison_and_terminated() {
    let mut h = Harness::new().await;
    h.start(settings(5, &["300ms"], "400ms")).await;
    // An over-long varint: not a protobuf message.
    let garbage = vec![0xff; 12];
    assert!(EventEnvelope::decode(garbage.as_slice()).is_err());
    let seq = h.publish_raw("r1", garbage.clone()).await;

    h.wait_settled(1).await;
    let dead_letters = h.dead_letters(&format!("poison:{seq}")).await;
    assert_eq!(
        dead_letters.len(),
        1,
        "the message was let go without exactly one dead letter"
    );
    let dead_letter = &dead_letters[0];
    assert_eq!(dead_letter.class, DeadLetterClass::Poison as i32);
    assert_eq!(dead_letter.raw_payload, garbage);
    assert!(dead_letter.original.is_none());
    assert_eq!(dead_letter.stream_seq, seq);
    assert_eq!(dead_letter.original_subject, "inbound.test.decisions.r1");

    h.assert_no_more_deliveries("r1", 1).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_kept_while_its_dead_letter_cannot_be_stored() {
    let mut h = Harness::new().await;
    let publish_retry_delay = ms(400);
    h.js.delete_stream(DLQ_STREAM).await.unwrap();
    h.start(settings(5, &["300ms"], "400ms")).await;
    h.handler.script("undeliverable", &[Step::Permanent]);
    h.publish("undeliverable", "r1").await;

    // No PubAck for the dead letter: the message is handed back, not terminated.
    let calls = h.wait_calls("undeliverable", 2).await;
    assert_gap(&calls[0], &calls[1], publish_retry_delay);
    let info = h.consumer().await;
    assert_eq!(info.num_ack_pending, 1, "message let go: {info:?}");
    assert!(h.outcomes("undeliverable").await.is_empty());

    h.redeclare().await;
    let dead_letter = h.wait_dead_letter("undeliverable").await;
    assert_eq!(dead_letter.class, DeadLetterClass::Permanent as i32);
    let deliveries = h.handler.calls("undeliverable").len();
    assert_eq!(
        dead_letter.attempts.last().map(|o| o.attempt),
        u32::try_from(deliveries).ok()
    );
    h.wait_outcome("undeliverable", "permanent_error").await;
    h.assert_no_more_deliveries("r1", u64::try_from(deliveries).unwrap())
        .await;
    assert_eq!(h.handler.calls("undeliverable").len(), deliveries);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_kept_while_its_outcome_cannot_be_stored() {
    let mut h = Harness::new().await;
    let publish_retry_delay = ms(400);
    h.js.delete_stream(OUTCOMES_STREAM).await.unwrap();
    h.start(settings(5, &["300ms"], "400ms")).await;
    h.publish("unrecorded", "r1").await;

    // No PubAck for the outcome: the success is not acked; it comes back.
    let calls = h.wait_calls("unrecorded", 2).await;
    assert_gap(&calls[0], &calls[1], publish_retry_delay);
    let info = h.consumer().await;
    assert_eq!(info.num_ack_pending, 1, "message let go: {info:?}");

    h.redeclare().await;
    let succeeded = h.wait_outcome("unrecorded", "succeeded").await;
    let deliveries = h.handler.calls("unrecorded").len();
    assert_eq!(succeeded.attempt, u32::try_from(deliveries).unwrap());
    h.assert_no_more_deliveries("r1", u64::try_from(deliveries).unwrap())
        .await;
    assert_eq!(h.handler.calls("unrecorded").len(), deliveries);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_more_filter_subjects_updates_the_consumer_in_place() {
    const OTHER: &str = "inbound.test.other.>";
    let mut h = Harness::new().await;
    h.start(settings(3, &["300ms"], "400ms")).await;
    h.publish("before", "r1").await;
    h.wait_outcome("before", "succeeded").await;
    let event = EventEnvelope {
        id: "other-subject".to_owned(),
        subject: "o1".to_owned(),
        ..Default::default()
    };
    h.js.publish("inbound.test.other.o1", event.encode_to_vec().into())
        .await
        .unwrap()
        .await
        .unwrap();
    // Not this flow's subject yet.
    h.wait_settled(1).await;
    assert!(h.handler.calls("other-subject").is_empty());

    // A new release consumes a second subject: the durable is updated, not
    // refused, and keeps its position (the first event is not redelivered).
    h.stop_flow().await;
    h.start_on(settings(3, &["300ms"], "400ms"), &[FILTER, OTHER])
        .await;
    h.wait_outcome("other-subject", "succeeded").await;
    let info = h.wait_settled(2).await;
    assert_eq!(info.config.filter_subjects, [FILTER, OTHER], "{info:?}");
    assert_eq!(h.handler.calls("before").len(), 1);

    // And back to one subject, as today's single-subject deployments run.
    h.stop_flow().await;
    h.start(settings(3, &["300ms"], "400ms")).await;
    h.publish("after", "r2").await;
    h.wait_outcome("after", "succeeded").await;
    let info = h.wait_settled(3).await;
    assert_eq!(info.config.filter_subject, FILTER, "{info:?}");
    assert!(info.config.filter_subjects.is_empty(), "{info:?}");
    h.stop().await;
}

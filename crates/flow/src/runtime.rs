//! The consumer loop: fetch while no breaker is open, run each message in its
//! record's turn, probe paused vendors, drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use crmerp_service_kit::Readiness;
use crmerp_service_kit::topology::{ATTEMPTS_BUCKET, INBOUND_STREAM};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::breaker::Breakers;
use crate::handler::Handler;
use crate::history::History;
use crate::ordering::Sequencer;
use crate::process::Flow;
use crate::publish::Publisher;
use crate::settings::FlowSettings;

/// How long one pull request waits for messages before the loop re-checks
/// breakers and shutdown.
const PULL_EXPIRY: Duration = Duration::from_millis(500);

/// The flow could not start or its consumer broke for good.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The settings are invalid.
    #[error("invalid flow settings: {0}")]
    Settings(String),
    /// The stream, bucket or consumer could not be bound.
    #[error("cannot bind consumer {consumer}: {message}")]
    Consumer {
        /// Durable consumer name.
        consumer: String,
        /// What went wrong.
        message: String,
    },
}

/// Runs flow `name` on the durable consumer of the same name, filtered to
/// `filter_subjects` (one or more subjects or wildcards, e.g. order-status and
/// shipment events) on the `INBOUND` stream, until `shutdown` fires.
///
/// The consumer is created or updated in place: a restart with a changed
/// subject list (or changed ack settings) updates the durable consumer and
/// keeps its position, instead of failing on the old config.
///
/// Messages about the same record (the envelope `subject`) are handled one at a
/// time in stream order; different records run `concurrency` at a time. While a
/// vendor's breaker is open nothing is fetched and the vendor is probed every
/// `probe_interval`. On shutdown it stops fetching, lets in-flight messages
/// finish for `shutdown_grace`, and NAKs those still running.
pub async fn run<H: Handler>(
    name: &str,
    filter_subjects: &[&str],
    js: jetstream::Context,
    settings: FlowSettings,
    handler: Arc<H>,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<(), FlowError> {
    settings.validate().map_err(FlowError::Settings)?;
    if filter_subjects.is_empty() {
        return Err(FlowError::Settings(format!(
            "flow {name} needs at least one filter subject"
        )));
    }
    let bind_error = |message: String| FlowError::Consumer {
        consumer: name.to_owned(),
        message,
    };
    let consumer = bind_consumer(&js, name, filter_subjects, &settings)
        .await
        .map_err(bind_error)?;
    let store = js
        .get_key_value(ATTEMPTS_BUCKET)
        .await
        .map_err(|e| bind_error(e.to_string()))?;
    let flow = Arc::new(Flow {
        name: name.to_owned(),
        publisher: Publisher::new(js.clone(), name),
        history: History::new(store, name),
        breakers: Arc::new(Breakers::new(settings.breaker_threshold)),
        handler,
        settings,
    });
    let hard_stop = CancellationToken::new();
    spawn_hard_stop(&shutdown, &hard_stop, flow.settings.shutdown_grace);
    spawn_lag_gauge(consumer.clone(), name.to_owned(), shutdown.clone());

    let slots = Arc::new(Semaphore::new(flow.settings.concurrency));
    let sequencer = Sequencer::default();
    let mut tasks = JoinSet::new();
    readiness.set(true);
    tracing::info!(flow = name, ?filter_subjects, "Consuming.");
    while !shutdown.is_cancelled() {
        // Reap finished tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        if flow.breakers.any_open() {
            probe_until_closed(&flow, &shutdown).await;
            continue;
        }
        let free = slots.available_permits().max(1);
        let batch = consumer
            .batch()
            .max_messages(free)
            .expires(PULL_EXPIRY)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(flow = name, %error, "Cannot fetch; retrying.");
                readiness.set(false);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        readiness.set(true);
        while let Some(item) = batch.next().await {
            let message = match item {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(flow = name, %error, "Fetch error.");
                    break;
                }
            };
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let (attempt, stream_seq) = match message.info() {
                Ok(info) => (
                    u32::try_from(info.delivered).unwrap_or(u32::MAX),
                    info.stream_sequence,
                ),
                Err(error) => {
                    tracing::error!(flow = name, %error, "Message without JetStream metadata.");
                    continue;
                }
            };
            let Some(event) = flow.decode(&message, stream_seq).await else {
                continue;
            };
            // Taken here, in fetch order, so same-record events keep their order.
            let mut turn = sequencer.take(&event.subject);
            let (flow, hard_stop) = (Arc::clone(&flow), hard_stop.clone());
            tasks.spawn(async move {
                turn.wait().await;
                flow.process(message, event, attempt, stream_seq, &hard_stop)
                    .await;
                drop(turn);
                drop(permit);
            });
        }
    }
    readiness.set(false);
    tracing::info!(
        flow = name,
        in_flight = tasks.len(),
        "Draining in-flight messages."
    );
    while tasks.join_next().await.is_some() {}
    tracing::info!(flow = name, "Stopped consuming.");
    Ok(())
}

/// While paused, probes every open vendor each `probe_interval` and closes the
/// breakers of those that answer.
async fn probe_until_closed<H: Handler>(flow: &Flow<H>, shutdown: &CancellationToken) {
    for system in flow.breakers.open_systems() {
        match flow.handler.probe(&system).await {
            Ok(()) => {
                if let Some(closed) = flow.breakers.close(&system) {
                    tracing::info!(%system, "Vendor answers again; resuming the flow.");
                    metrics::gauge!("crmerp_flow_breaker_open", "flow" => flow.name.clone(), "system" => system.clone()).set(0.0);
                    flow.publisher.breaker(&closed, "").await;
                }
            }
            Err(error) => tracing::info!(%system, %error, "Vendor still unavailable."),
        }
    }
    if flow.breakers.any_open() {
        tokio::select! {
            () = tokio::time::sleep(flow.settings.probe_interval) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

fn spawn_hard_stop(shutdown: &CancellationToken, hard_stop: &CancellationToken, grace: Duration) {
    let (shutdown, hard_stop) = (shutdown.clone(), hard_stop.clone());
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
        hard_stop.cancel();
    });
}

/// Exports queue depth (pending) and in-flight (ack pending) as gauges.
fn spawn_lag_gauge(
    mut consumer: consumer::Consumer<consumer::pull::Config>,
    flow: String,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            if let Ok(info) = consumer.info().await {
                metrics::gauge!("crmerp_consumer_pending_messages", "flow" => flow.clone())
                    .set(info.num_pending as f64);
                metrics::gauge!("crmerp_consumer_ack_pending_messages", "flow" => flow.clone())
                    .set(info.num_ack_pending as f64);
                metrics::gauge!("crmerp_consumer_redelivered_messages", "flow" => flow.clone())
                    .set(info.num_redelivered as f64);
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
                () = shutdown.cancelled() => return,
            }
        }
    });
}

/// The durable consumer's config. One subject goes in `filter_subject`, as
/// before multi-subject flows existed, so a single-subject deployment keeps
/// exactly its config; several go in `filter_subjects` (nats-server 2.10+,
/// which rejects both fields set at once).
fn consumer_config(
    name: &str,
    filter_subjects: &[&str],
    settings: &FlowSettings,
) -> consumer::pull::Config {
    let (filter_subject, filter_subjects) = match filter_subjects {
        [one] => ((*one).to_owned(), Vec::new()),
        many => (
            String::new(),
            many.iter().map(|subject| (*subject).to_owned()).collect(),
        ),
    };
    consumer::pull::Config {
        durable_name: Some(name.to_owned()),
        description: Some(format!("Flow {name}.")),
        filter_subject,
        filter_subjects,
        deliver_policy: consumer::DeliverPolicy::All,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        max_deliver: i64::from(settings.max_deliver),
        max_ack_pending: settings.max_ack_pending,
        ..Default::default()
    }
}

async fn bind_consumer(
    js: &jetstream::Context,
    name: &str,
    filter_subjects: &[&str],
    settings: &FlowSettings,
) -> Result<consumer::Consumer<consumer::pull::Config>, String> {
    let config = consumer_config(name, filter_subjects, settings);
    let stream = js
        .get_stream(INBOUND_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    // Create-or-update: the server applies a changed filter or ack setting to
    // the existing durable (its delivered position is kept).
    stream
        .create_consumer(config)
        .await
        .map_err(|e| e.to_string())
}

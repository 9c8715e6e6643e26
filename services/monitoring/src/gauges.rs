//! Prometheus gauges: open dead letters per flow (from the dead-letter index),
//! the DLQ stream's size per flow and consumer lag (from JetStream: pending
//! count and the age of the oldest waiting event).
//! Refreshed periodically by every replica (gauges, so replicas agree).

use std::time::Duration;

use async_nats::jetstream;
use crmerp_service_kit::topology::{DLQ_STREAM, INBOUND_STREAM};
use futures::TryStreamExt;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::api::health::subject_counts;
use crate::store::dead_letters::open_counts;

/// Refreshes the gauges every `every` until `shutdown`.
pub async fn run(
    js: jetstream::Context,
    pool: PgPool,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(every);
    let mut seen = std::collections::HashSet::<String>::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(error) = refresh(&js).await {
            tracing::debug!(%error, "Cannot refresh JetStream gauges.");
        }
        match open_counts(&pool).await {
            Ok(counts) => {
                // A flow whose last dead letter closed is absent from the counts: show 0.
                for flow in seen.iter().filter(|f| !counts.iter().any(|(c, _)| c == *f)) {
                    metrics::gauge!("crmerp_dead_letters_open", "flow" => flow.clone()).set(0.0);
                }
                for (flow, count) in counts {
                    metrics::gauge!("crmerp_dead_letters_open", "flow" => flow.clone())
                        .set(count as f64);
                    seen.insert(flow);
                }
            }
            Err(error) => tracing::debug!(%error, "Cannot count open dead letters."),
        }
    }
}

async fn refresh(js: &jetstream::Context) -> Result<(), async_nats::Error> {
    for (subject, count) in subject_counts(js, DLQ_STREAM, "dlq.>").await? {
        let flow = subject.trim_start_matches("dlq.").to_owned();
        metrics::gauge!("crmerp_dlq_stream_messages", "flow" => flow.clone()).set(count as f64);
        // Deprecated alias of crmerp_dlq_stream_messages, kept for existing dashboards.
        metrics::gauge!("crmerp_dlq_depth", "flow" => flow).set(count as f64);
    }
    let stream = js.get_stream(INBOUND_STREAM).await?;
    let infos: Vec<_> = stream.consumers().try_collect().await?;
    let now = chrono::Utc::now();
    for info in infos {
        crate::alerts::lag::record_gauge(
            &info.name,
            crate::alerts::lag::oldest_waiting(&stream, &info).await?,
            now,
        );
        metrics::gauge!("crmerp_consumer_pending", "consumer" => info.name.clone())
            .set(info.num_pending as f64);
        metrics::gauge!("crmerp_consumer_ack_pending", "consumer" => info.name.clone())
            .set(info.num_ack_pending as f64);
    }
    Ok(())
}

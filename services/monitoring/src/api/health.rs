//! `GET /api/v1/health` (per-flow health now) and `GET /api/v1/health/series` (hourly, for charts).

use std::collections::HashMap;

use async_nats::jetstream;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use crmerp_service_kit::topology::{DLQ_STREAM, INBOUND_STREAM, OUTCOMES_STREAM};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::parse_int;
use crate::AppState;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::ingest::{DLQ_CONSUMER, INBOUND_CONSUMER, OUTCOMES_CONSUMER};
use crate::store::stats::{self, EndpointTrend, FlowStats, HourBucket};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/health/series", get(series))
}

/// Window parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// Hours back from now (default 24, at most 31 days).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 744)]
    hours: Option<String>,
}

fn hours(query: &WindowQuery, default: i32) -> Result<i32, ApiError> {
    let hours = parse_int("hours", query.hours.as_deref(), 1, 24 * 31)?;
    // In range, so the conversion cannot fail.
    Ok(hours.and_then(|h| i32::try_from(h).ok()).unwrap_or(default))
}

/// Health of one flow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlowHealth {
    #[serde(flatten)]
    stats: FlowStats,
    /// Outcomes per hour over the window.
    events_per_hour: f64,
    /// Successes over finished events (successes and failures), 0..1; `None` without any.
    success_rate: Option<f64>,
    /// Messages in JetStream's `DLQ` stream for this flow: every dead letter
    /// ever published (the stream never deletes), not how many are open.
    dlq_stream_messages: Option<usize>,
    /// Deprecated alias of `dlq_stream_messages` (its old name).
    dlq_depth: Option<usize>,
    /// Events waiting for the flow's consumer (not yet delivered).
    consumer_pending: Option<u64>,
    /// Events delivered to the flow and not yet acknowledged (in progress or waiting for a retry).
    consumer_ack_pending: Option<usize>,
}

/// Lag of one consumer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsumerLag {
    /// Stream.
    stream: &'static str,
    /// Durable consumer.
    consumer: String,
    /// Messages not yet delivered.
    pending: u64,
    /// Delivered, not yet acknowledged.
    ack_pending: usize,
}

/// The health response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// The window of the rates and latencies.
    window_hours: i32,
    /// One entry per flow seen in the window (or with open dead letters).
    flows: Vec<FlowHealth>,
    /// Monitoring's own consumers (how far the event log is behind).
    event_log_consumers: Vec<ConsumerLag>,
    /// Vendor endpoint response times per hour over the window.
    endpoints: Vec<EndpointTrend>,
}

/// Messages per subject in a stream, e.g. `dlq.deal-to-order` -> 3.
pub async fn subject_counts(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
) -> Result<HashMap<String, usize>, async_nats::Error> {
    let stream = js.get_stream(stream).await?;
    let subjects = stream.info_with_subjects(filter).await?;
    Ok(subjects.try_collect().await?)
}

/// Pending and ack-pending counts of a durable consumer.
pub async fn consumer_lag(
    js: &jetstream::Context,
    stream: &str,
    consumer: &str,
) -> Result<(u64, usize), async_nats::Error> {
    let stream = js.get_stream(stream).await?;
    let info = stream.consumer_info(consumer).await?;
    Ok((info.num_pending, info.num_ack_pending))
}

/// Per-flow health: events per hour, success rate, open dead letters and
/// the DLQ stream's size (JetStream),
/// latency, consumer lag; vendor endpoint response times.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "health",
    params(WindowQuery),
    responses((status = 200, description = "Health over the window", body = Health)),
)]
async fn health(
    Viewer(_): Viewer,
    State(state): State<AppState>,
    Query(query): Query<WindowQuery>,
) -> Result<Json<Health>, ApiError> {
    let hours = hours(&query, 24)?;
    let to = Utc::now();
    let from = to - Duration::hours(i64::from(hours));
    let per_flow = stats::flow_stats(&state.pool, from, to).await?;
    // JetStream may be briefly unavailable: report what the database knows.
    let dlq = subject_counts(&state.js, DLQ_STREAM, "dlq.>").await.ok();
    let mut flows = Vec::with_capacity(per_flow.len());
    for stats in per_flow {
        let lag = consumer_lag(&state.js, INBOUND_STREAM, &stats.flow)
            .await
            .ok();
        let finished = stats.successes + stats.failures;
        let stream_messages = dlq.as_ref().map(|counts| {
            counts
                .get(&format!("dlq.{}", stats.flow))
                .copied()
                .unwrap_or(0)
        });
        flows.push(FlowHealth {
            events_per_hour: stats.events as f64 / f64::from(hours),
            success_rate: (finished > 0).then(|| stats.successes as f64 / finished as f64),
            dlq_stream_messages: stream_messages,
            dlq_depth: stream_messages,
            consumer_pending: lag.map(|l| l.0),
            consumer_ack_pending: lag.map(|l| l.1),
            stats,
        });
    }
    let mut event_log_consumers = Vec::new();
    for (stream, consumer) in [
        (INBOUND_STREAM, INBOUND_CONSUMER),
        (OUTCOMES_STREAM, OUTCOMES_CONSUMER),
        (DLQ_STREAM, DLQ_CONSUMER),
    ] {
        if let Ok((pending, ack_pending)) = consumer_lag(&state.js, stream, consumer).await {
            event_log_consumers.push(ConsumerLag {
                stream,
                consumer: consumer.to_owned(),
                pending,
                ack_pending,
            });
        }
    }
    let endpoints = stats::endpoint_trends(&state.pool, from).await?;
    Ok(Json(Health {
        window_hours: hours,
        flows,
        event_log_consumers,
        endpoints,
    }))
}

/// Hourly buckets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Series {
    /// Per flow and hour, oldest first.
    items: Vec<HourBucket>,
}

/// Hourly events, successes, latency and DLQ depth per flow.
#[utoipa::path(
    get,
    path = "/api/v1/health/series",
    tag = "health",
    params(WindowQuery),
    responses((status = 200, description = "Hourly buckets", body = Series)),
)]
async fn series(
    Viewer(_): Viewer,
    State(state): State<AppState>,
    Query(query): Query<WindowQuery>,
) -> Result<Json<Series>, ApiError> {
    let hours = hours(&query, 24)?;
    Ok(Json(Series {
        items: stats::hourly(&state.pool, hours).await?,
    }))
}

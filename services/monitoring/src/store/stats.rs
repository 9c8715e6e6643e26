//! Aggregates for health and the SLA report, computed in Postgres.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::dead_letters::STILL_OPEN;

/// Per-flow processing figures over a window.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct FlowStats {
    /// Flow.
    pub flow: String,
    /// Outcomes in the window.
    pub events: i64,
    /// Successful outcomes.
    pub successes: i64,
    /// Outcomes that ended an event without success (validation, ERP error, dead-lettered).
    pub failures: i64,
    /// Retries scheduled.
    pub retries: i64,
    /// Mean processing time.
    pub avg_latency_ms: Option<f64>,
    /// 95th percentile processing time.
    pub p95_latency_ms: Option<f64>,
    /// Dead letters waiting now: open, or requeued without an outcome yet
    /// (a requeue that dead-lettered again counts once, as its newest dead letter).
    pub open_dead_letters: i64,
}

/// Per-flow figures for outcomes in `[from, to)`.
pub async fn flow_stats(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<FlowStats>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH o AS (SELECT flow, outcome, duration_ms FROM events \
           WHERE kind = 'outcome' AND occurred_at >= $1 AND occurred_at < $2), \
         flows AS (SELECT DISTINCT flow FROM o UNION SELECT DISTINCT d.flow FROM dead_letters d WHERE {STILL_OPEN}) \
         SELECT f.flow, \
           (SELECT count(*) FROM o WHERE o.flow = f.flow) AS events, \
           (SELECT count(*) FROM o WHERE o.flow = f.flow AND outcome = 'success') AS successes, \
           (SELECT count(*) FROM o WHERE o.flow = f.flow AND outcome IN ('validation_failure', 'erp_error', 'dead_lettered')) AS failures, \
           (SELECT count(*) FROM o WHERE o.flow = f.flow AND outcome = 'retry_scheduled') AS retries, \
           (SELECT avg(duration_ms)::float8 FROM o WHERE o.flow = f.flow) AS avg_latency_ms, \
           (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FROM o WHERE o.flow = f.flow) AS p95_latency_ms, \
           (SELECT count(*) FROM dead_letters d WHERE d.flow = f.flow AND {STILL_OPEN}) AS open_dead_letters \
         FROM flows f ORDER BY f.flow"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// One hour of one flow, for charts.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HourBucket {
    /// Flow.
    pub flow: String,
    /// Start of the hour.
    pub hour: DateTime<Utc>,
    /// Outcomes.
    pub events: i64,
    /// Successes.
    pub successes: i64,
    /// Mean processing time.
    pub avg_latency_ms: Option<f64>,
    /// Dead letters open at the end of the hour.
    pub dlq_depth: i64,
}

/// Hourly series of the last `hours` hours, per flow.
pub async fn hourly(pool: &PgPool, hours: i32) -> Result<Vec<HourBucket>, sqlx::Error> {
    sqlx::query_as(
        "WITH hours AS (SELECT generate_series(date_trunc('hour', now()) - make_interval(hours => $1 - 1), \
                 date_trunc('hour', now()), interval '1 hour') AS hour), \
         flows AS (SELECT DISTINCT flow FROM events WHERE kind = 'outcome' AND occurred_at >= now() - make_interval(hours => $1) \
                   UNION SELECT DISTINCT flow FROM dead_letters) \
         SELECT f.flow, h.hour, \
           count(e.id) AS events, \
           count(e.id) FILTER (WHERE e.outcome = 'success') AS successes, \
           avg(e.duration_ms)::float8 AS avg_latency_ms, \
           (SELECT count(*) FROM dead_letters d WHERE d.flow = f.flow \
              AND d.dead_lettered_at < h.hour + interval '1 hour' \
              AND (d.status IN ('open', 'requeued') OR d.updated_at >= h.hour + interval '1 hour')) AS dlq_depth \
         FROM flows f CROSS JOIN hours h \
         LEFT JOIN events e ON e.kind = 'outcome' AND e.flow = f.flow \
           AND e.occurred_at >= h.hour AND e.occurred_at < h.hour + interval '1 hour' \
         GROUP BY f.flow, h.hour ORDER BY f.flow, h.hour",
    )
    .bind(hours)
    .fetch_all(pool)
    .await
}

/// Response times of one vendor endpoint in one hour.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EndpointTrend {
    /// Vendor system.
    pub system: String,
    /// Method and path template.
    pub endpoint: String,
    /// Start of the hour.
    pub hour: DateTime<Utc>,
    /// Calls.
    pub calls: i64,
    /// Mean duration.
    pub avg_ms: Option<f64>,
    /// 95th percentile duration.
    pub p95_ms: Option<f64>,
    /// Calls answered with 5xx, 429 or no response.
    pub errors: i64,
}

/// Vendor call durations per endpoint and hour since `from`.
pub async fn endpoint_trends(
    pool: &PgPool,
    from: DateTime<Utc>,
) -> Result<Vec<EndpointTrend>, sqlx::Error> {
    // proto3 JSON omits zeros: a call that got no response has no `httpStatus`.
    sqlx::query_as(
        "WITH calls AS ( \
           SELECT date_trunc('hour', e.occurred_at) AS hour, c->>'system' AS system, c->>'endpoint' AS endpoint, \
             COALESCE((c->>'durationMs')::float8, 0) AS ms, COALESCE((c->>'httpStatus')::int, 0) AS status \
           FROM events e, jsonb_array_elements(e.payload->'data'->'outcome'->'calls') c \
           WHERE e.kind = 'outcome' AND e.occurred_at >= $1) \
         SELECT system, endpoint, hour, count(*) AS calls, avg(ms) AS avg_ms, \
           percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95_ms, \
           count(*) FILTER (WHERE status = 0 OR status = 429 OR status >= 500) AS errors \
         FROM calls GROUP BY system, endpoint, hour ORDER BY system, endpoint, hour",
    )
    .bind(from)
    .fetch_all(pool)
    .await
}

/// Dead-letter volume of one category in a period.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CategoryVolume {
    /// Flow.
    pub flow: String,
    /// Error category.
    pub category: String,
    /// Dead letters.
    pub dead_letters: i64,
}

/// Dead letters per flow and category in `[from, to)`.
pub async fn dlq_volume(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<CategoryVolume>, sqlx::Error> {
    sqlx::query_as(
        "SELECT flow, error_category AS category, count(*) AS dead_letters FROM dead_letters \
         WHERE dead_lettered_at >= $1 AND dead_lettered_at < $2 \
         GROUP BY flow, error_category ORDER BY flow, error_category",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Time to resolution of dead letters resolved in a period.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Resolution {
    /// Flow.
    pub flow: String,
    /// Dead letters resolved.
    pub resolved: i64,
    /// Mean minutes from dead letter to resolution.
    pub mean_minutes: Option<f64>,
    /// 95th percentile minutes.
    pub p95_minutes: Option<f64>,
}

/// Resolution times per flow for dead letters resolved in `[from, to)`.
pub async fn resolution_times(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Resolution>, sqlx::Error> {
    sqlx::query_as(
        "WITH r AS (SELECT flow, extract(epoch FROM resolved_at - dead_lettered_at)::float8 / 60 AS minutes \
           FROM dead_letters WHERE status = 'resolved' AND resolved_at >= $1 AND resolved_at < $2) \
         SELECT flow, count(*) AS resolved, avg(minutes) AS mean_minutes, \
           percentile_cont(0.95) WITHIN GROUP (ORDER BY minutes) AS p95_minutes \
         FROM r GROUP BY flow ORDER BY flow",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

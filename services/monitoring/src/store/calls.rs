//! The vendor calls of each outcome's attempt (migration 0005).

use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use crate::records::EventRow;

/// One vendor call as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredCall {
    /// The id of the event-log row (an outcome) whose attempt made the call.
    pub event_row_id: i64,
    /// Position in the attempt, from 0.
    pub seq: i32,
    /// System called, e.g. `netsuite`.
    pub system: String,
    /// Method and path template, e.g. `POST /services/rest/record/v1/salesOrder`.
    pub endpoint: String,
    /// HTTP status (0 when no answer was received).
    pub http_status: i32,
    /// Duration in milliseconds.
    pub duration_ms: i64,
    /// The response body, truncated to 10 KB (empty for authentication calls).
    pub response_body: String,
    /// True for the call that produced or found the attempt's result (the
    /// ERP order create or look-up): the row's endpoint and status are its.
    pub result: bool,
}

/// Stores the calls of `rows` (already inserted into `events`), skipping
/// calls already stored (a redelivered outcome).
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[&EventRow],
) -> Result<(), sqlx::Error> {
    let mut envelope_ids = Vec::new();
    let mut seqs = Vec::new();
    let mut systems = Vec::new();
    let mut endpoints = Vec::new();
    let mut statuses = Vec::new();
    let mut durations = Vec::new();
    let mut bodies = Vec::new();
    let mut results = Vec::new();
    for row in rows {
        for (seq, call) in row.calls.iter().enumerate() {
            envelope_ids.push(row.envelope_id.clone());
            seqs.push(i32::try_from(seq).unwrap_or(i32::MAX));
            systems.push(call.system.clone());
            endpoints.push(call.endpoint.clone());
            statuses.push(i32::try_from(call.http_status).unwrap_or(i32::MAX));
            durations.push(i64::try_from(call.duration_ms).unwrap_or(i64::MAX));
            bodies.push(call.response_body.clone());
            results.push(call.result);
        }
    }
    if envelope_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO vendor_calls (event_row_id, seq, system, endpoint, http_status, duration_ms, \
           response_body, result) \
         SELECT e.id, c.seq, c.system, c.endpoint, c.http_status, c.duration_ms, c.body, c.result \
         FROM UNNEST($1::text[], $2::int[], $3::text[], $4::text[], $5::int[], $6::bigint[], \
           $7::text[], $8::bool[]) \
           AS c(envelope_id, seq, system, endpoint, http_status, duration_ms, body, result) \
         JOIN events e ON e.envelope_id = c.envelope_id \
         ON CONFLICT (event_row_id, seq) DO NOTHING",
    )
    .bind(envelope_ids)
    .bind(seqs)
    .bind(systems)
    .bind(endpoints)
    .bind(statuses)
    .bind(durations)
    .bind(bodies)
    .bind(results)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The calls of the given event-log rows, by row then call order.
pub async fn of_rows(pool: &PgPool, row_ids: &[i64]) -> Result<Vec<StoredCall>, sqlx::Error> {
    if row_ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT event_row_id, seq, system, endpoint, http_status, duration_ms, response_body, result \
         FROM vendor_calls WHERE event_row_id = ANY($1) ORDER BY event_row_id, seq",
    )
    .bind(row_ids)
    .fetch_all(pool)
    .await
}

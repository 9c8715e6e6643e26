//! Each flow's circuit breaker per vendor, from the breaker changes the flows
//! publish (`BreakerChange`, logged with kind `breaker`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// A breaker's latest state.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BreakerState {
    /// The flow it pauses.
    pub flow: String,
    /// The vendor whose failures trip it, e.g. `netsuite`.
    pub system: String,
    /// `open` (the flow is paused for this vendor) or `closed`.
    pub state: String,
    /// When it last changed.
    pub since: DateTime<Utc>,
    /// Why it opened (empty when closed).
    pub reason: String,
    /// Error category of the failures that opened it.
    pub error_category: String,
    /// Recommended resolution code.
    pub resolution_code: String,
}

/// The latest state of every breaker that ever changed, open ones first.
pub async fn latest(pool: &PgPool) -> Result<Vec<BreakerState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT flow, system, state, since, reason, error_category, resolution_code FROM ( \
           SELECT DISTINCT ON (flow, endpoint) flow, endpoint AS system, \
             CASE outcome WHEN 'breaker_opened' THEN 'open' ELSE 'closed' END AS state, \
             occurred_at AS since, error_message AS reason, error_category, resolution_code \
           FROM events WHERE kind = 'breaker' \
           ORDER BY flow, endpoint, occurred_at DESC, id DESC) latest \
         ORDER BY state DESC, flow, system",
    )
    .fetch_all(pool)
    .await
}

//! Alert incidents as operators see them: what fired, when, how severe,
//! whether it is still open and who acknowledged it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::records::EventRow;

/// One incident (one row per incident key; a reopened incident is the same
/// row with a new `opened_at`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Incident {
    /// Incident key, e.g. `no_success:deal-to-order` or `breaker:deal-to-order:netsuite`
    /// (the PagerDuty dedup key).
    pub key: String,
    /// The rule that fired: `no_success`, `consumer_lag`, `breaker`, ...
    pub rule: String,
    /// Flow.
    pub flow: String,
    /// `P1`, `P2` or `P3`.
    pub severity: String,
    /// `open` or `resolved`.
    pub status: String,
    /// What the alert said.
    pub summary: String,
    /// When it (last) opened.
    pub opened_at: DateTime<Utc>,
    /// When it resolved, if it has.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When an operator acknowledged this opening.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
}

const COLUMNS: &str = "key, rule, flow, severity, status, summary, opened_at, resolved_at, \
    acknowledged_at, acknowledged_by";

/// List filters.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// `open`, `acknowledged` (open and acknowledged), `unacknowledged`
    /// (open, not acknowledged) or `resolved`.
    pub status: Option<String>,
    /// Flow.
    pub flow: Option<String>,
    /// Severity.
    pub severity: Option<String>,
}

/// Incidents, most recently opened first.
pub async fn list(
    pool: &PgPool,
    filter: &IncidentFilter,
    limit: i64,
) -> Result<Vec<Incident>, sqlx::Error> {
    let mut query =
        QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM alert_incidents WHERE TRUE"));
    match filter.status.as_deref() {
        Some("acknowledged") => {
            query.push(" AND status = 'open' AND acknowledged_at IS NOT NULL");
        }
        Some("unacknowledged") => {
            query.push(" AND status = 'open' AND acknowledged_at IS NULL");
        }
        Some(status) => {
            query.push(" AND status = ").push_bind(status.to_owned());
        }
        None => {}
    }
    if let Some(flow) = &filter.flow {
        query.push(" AND flow = ").push_bind(flow.clone());
    }
    if let Some(severity) = &filter.severity {
        query.push(" AND severity = ").push_bind(severity.clone());
    }
    query
        .push(" ORDER BY opened_at DESC, key LIMIT ")
        .push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// Why an acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// No incident has this key.
    #[error("no such incident")]
    NotFound,
    /// It resolved, or someone acknowledged this opening already.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Acknowledges an open incident and audits it in the event log
/// (`monitoring.alert.acknowledged`), in one transaction.
pub async fn acknowledge(
    pool: &PgPool,
    key: &str,
    actor: &str,
    note: &str,
) -> Result<Incident, AckError> {
    let mut tx = pool.begin().await?;
    let current: Option<Incident> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_incidents WHERE key = $1 FOR UPDATE"
    ))
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    let current = current.ok_or(AckError::NotFound)?;
    if current.status != "open" {
        return Err(AckError::Conflict(format!(
            "the incident is {}; only an open incident can be acknowledged",
            current.status
        )));
    }
    if let Some(by) = &current.acknowledged_by {
        return Err(AckError::Conflict(format!(
            "the incident was acknowledged already by {by}"
        )));
    }
    let incident: Incident = sqlx::query_as(&format!(
        "UPDATE alert_incidents SET acknowledged_at = now(), acknowledged_by = $2 \
         WHERE key = $1 RETURNING {COLUMNS}"
    ))
    .bind(key)
    .bind(actor)
    .fetch_one(&mut *tx)
    .await?;
    let row = EventRow {
        envelope_id: format!("audit:{}", uuid::Uuid::now_v7()),
        kind: "audit",
        event_type: "monitoring.alert.acknowledged".into(),
        flow: incident.flow.clone(),
        outcome: "acknowledged".into(),
        causation_id: incident.key.clone(),
        actor: actor.to_owned(),
        occurred_at: Utc::now(),
        payload: json!({"key": incident.key, "rule": incident.rule, "severity": incident.severity,
            "summary": incident.summary, "openedAt": incident.opened_at, "note": note}),
        ..Default::default()
    };
    super::events::insert_events(&mut tx, &[&row]).await?;
    tx.commit().await?;
    Ok(incident)
}

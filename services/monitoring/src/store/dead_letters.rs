//! The dead-letter index: review state, requeue and discard, each audited in the event log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};

use super::events::{Cursor, Page};
use crate::records::EventRow;

/// SQL condition (on alias `d`) of a dead letter still waiting for an
/// operator or its requeue: `open` or `requeued`, and not followed by a newer
/// dead letter of its requeued event (that one is counted instead).
pub const STILL_OPEN: &str = "d.status IN ('open', 'requeued') AND NOT EXISTS ( \
    SELECT 1 FROM dead_letters n WHERE n.original_event_id = ANY(d.requeue_event_ids))";

/// Open dead letters per flow (see [`STILL_OPEN`]).
pub async fn open_counts(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT d.flow, count(*) FROM dead_letters d WHERE {STILL_OPEN} GROUP BY d.flow"
    ))
    .fetch_all(pool)
    .await
}

/// A dead letter as the API lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeadLetterSummary {
    /// Dead-letter id (its envelope id).
    pub id: String,
    /// Flow.
    pub flow: String,
    /// `permanent`, `exhausted` or `poison`.
    pub class: String,
    /// Error category, e.g. `missing_data`.
    pub error_category: String,
    /// Recommended resolution code.
    pub resolution_code: String,
    /// Why it failed.
    pub reason: String,
    /// The vendor's error detail.
    pub error_detail: String,
    /// CRM system.
    pub crm_system: String,
    /// CRM object type.
    pub crm_object_type: String,
    /// CRM record id.
    pub crm_record_id: String,
    /// Id of the event that failed.
    pub original_event_id: String,
    /// Its subject.
    pub original_subject: String,
    /// When it was dead-lettered.
    pub dead_lettered_at: DateTime<Utc>,
    /// `open`, `requeued`, `resolved` or `discarded`.
    pub status: String,
    /// Events published by requeues, oldest first.
    pub requeue_event_ids: Vec<String>,
    /// When its requeued event succeeded.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Why it was discarded.
    pub discard_reason: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The dead letter this one came from: its requeued event failed again
    /// and became this one.
    pub previous_dead_letter_id: Option<String>,
    /// The dead letter this one became: the newest dead letter of one of its
    /// requeued events.
    pub next_dead_letter_id: Option<String>,
}

/// List filters.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Flow.
    pub flow: Option<String>,
    /// Error category.
    pub category: Option<String>,
    /// Review status.
    pub status: Option<String>,
    /// The CRM record's id.
    pub crm_record_id: Option<String>,
    /// The recommended resolution code, e.g. `add_missing_field:shipping_address`.
    pub resolution_code: Option<String>,
    /// Dead-lettered at least this long ago.
    pub older_than: Option<DateTime<Utc>>,
    /// Dead-lettered at most this long ago.
    pub newer_than: Option<DateTime<Utc>>,
}

// The chain links are derived (migration 0004), so they hold whichever of the
// requeue's commit and the new dead letter's ingest comes first.
const COLUMNS: &str = "id, flow, class, error_category, resolution_code, reason, error_detail, \
    crm_system, crm_object_type, crm_record_id, original_event_id, original_subject, \
    dead_lettered_at, status, requeue_event_ids, resolved_at, discard_reason, updated_at, \
    (SELECT p.id FROM dead_letters p WHERE dead_letters.original_event_id = ANY(p.requeue_event_ids) \
       ORDER BY p.dead_lettered_at DESC, p.id DESC LIMIT 1) AS previous_dead_letter_id, \
    (SELECT n.id FROM dead_letters n WHERE n.original_event_id = ANY(dead_letters.requeue_event_ids) \
       ORDER BY n.dead_lettered_at DESC, n.id DESC LIMIT 1) AS next_dead_letter_id";

/// Appends `filter`'s conditions (after a `WHERE`) to `query`.
fn push_filter(query: &mut QueryBuilder<'_, Postgres>, filter: &DeadLetterFilter) {
    for (column, value) in [
        ("flow", &filter.flow),
        ("error_category", &filter.category),
        ("status", &filter.status),
        ("crm_record_id", &filter.crm_record_id),
        ("resolution_code", &filter.resolution_code),
    ] {
        if let Some(value) = value {
            query
                .push(format!(" AND {column} = "))
                .push_bind(value.clone());
        }
    }
    if let Some(at) = filter.older_than {
        query.push(" AND dead_lettered_at <= ").push_bind(at);
    }
    if let Some(at) = filter.newer_than {
        query.push(" AND dead_lettered_at >= ").push_bind(at);
    }
}

/// How many dead letters the filter matches, counting no further than `up_to`.
pub async fn count_up_to(
    pool: &PgPool,
    filter: &DeadLetterFilter,
    up_to: i64,
) -> Result<i64, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT count(*) FROM (SELECT 1 FROM dead_letters WHERE TRUE",
    );
    push_filter(&mut query, filter);
    query.push(" LIMIT ").push_bind(up_to).push(") matched");
    query.build_query_scalar().fetch_one(pool).await
}

/// Lists dead letters, newest first (at most `limit`, no paging).
pub async fn list(
    pool: &PgPool,
    filter: &DeadLetterFilter,
    limit: i64,
) -> Result<Vec<DeadLetterSummary>, sqlx::Error> {
    let mut query =
        QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM dead_letters WHERE TRUE"));
    push_filter(&mut query, filter);
    query
        .push(" ORDER BY dead_lettered_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}

/// One page of dead letters, newest first: `limit` rows after `cursor`.
pub async fn page(
    pool: &PgPool,
    filter: &DeadLetterFilter,
    cursor: Option<&Cursor<String>>,
    limit: i64,
) -> Result<Page<DeadLetterSummary>, sqlx::Error> {
    let mut query =
        QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM dead_letters WHERE TRUE"));
    push_filter(&mut query, filter);
    if let Some(cursor) = cursor {
        query
            .push(" AND (dead_lettered_at, id) < (")
            .push_bind(cursor.at().unwrap_or_default())
            .push(", ")
            .push_bind(cursor.key().clone())
            .push(")");
    }
    query
        .push(" ORDER BY dead_lettered_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
    let mut items: Vec<DeadLetterSummary> = query.build_query_as().fetch_all(pool).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items
            .last()
            .map(|d| Cursor::after(d.dead_lettered_at, d.id.clone()).encode())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Ids of the open dead letters matching `filter` (its `status` ignored),
/// oldest first, at most `limit`; with `lock`, locked for a bulk action in
/// the caller's transaction.
pub async fn open_ids(
    tx: &mut Transaction<'_, Postgres>,
    filter: &DeadLetterFilter,
    limit: i64,
    lock: bool,
) -> Result<Vec<String>, sqlx::Error> {
    let filter = DeadLetterFilter {
        status: Some("open".to_owned()),
        ..filter.clone()
    };
    let mut query = QueryBuilder::<Postgres>::new("SELECT id FROM dead_letters WHERE TRUE");
    push_filter(&mut query, &filter);
    query
        .push(" ORDER BY dead_lettered_at, id LIMIT ")
        .push_bind(limit);
    if lock {
        query.push(" FOR UPDATE");
    }
    query.build_query_scalar().fetch_all(&mut **tx).await
}

/// One dead letter and its bytes, read in the caller's transaction.
pub async fn get_in(
    tx: &mut Transaction<'_, Postgres>,
    id: &str,
) -> Result<Option<StoredDeadLetter>, sqlx::Error> {
    let summary: Option<DeadLetterSummary> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(summary) = summary else {
        return Ok(None);
    };
    let (envelope, corrected_event): (Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT envelope, corrected_event FROM dead_letters WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(Some(StoredDeadLetter {
        summary,
        envelope,
        corrected_event,
    }))
}

/// Audits a bulk action (`bulk_requeued` or `bulk_discarded`) in the event
/// log: who, when, the filter, the count and the ids in `detail`.
pub async fn record_bulk(
    tx: &mut Transaction<'_, Postgres>,
    bulk_id: &str,
    action: &str,
    flow: &str,
    actor: &str,
    detail: Value,
) -> Result<(), sqlx::Error> {
    let row = EventRow {
        envelope_id: format!("audit:{bulk_id}"),
        kind: "audit",
        event_type: format!("monitoring.dead_letters.{action}"),
        flow: flow.to_owned(),
        outcome: action.to_owned(),
        causation_id: bulk_id.to_owned(),
        actor: actor.to_owned(),
        occurred_at: Utc::now(),
        payload: detail,
        ..Default::default()
    };
    super::events::insert_events(tx, &[&row]).await.map(drop)
}

/// A stored dead letter with its bytes.
#[derive(Debug, Clone)]
pub struct StoredDeadLetter {
    /// What the API lists.
    pub summary: DeadLetterSummary,
    /// The dead-letter envelope as published (protobuf).
    pub envelope: Vec<u8>,
    /// Its original event as last corrected by an operator (protobuf), if ever.
    pub corrected_event: Option<Vec<u8>>,
}

/// One dead letter and its bytes.
pub async fn get(pool: &PgPool, id: &str) -> Result<Option<StoredDeadLetter>, sqlx::Error> {
    let summary: Option<DeadLetterSummary> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    let Some(summary) = summary else {
        return Ok(None);
    };
    let (envelope, corrected_event): (Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT envelope, corrected_event FROM dead_letters WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
    Ok(Some(StoredDeadLetter {
        summary,
        envelope,
        corrected_event,
    }))
}

/// Locks a dead letter for an action and returns its status and requeue count.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    id: &str,
) -> Result<Option<(String, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, cardinality(requeue_event_ids) FROM dead_letters WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// Records a requeue (before the publish, in the caller's transaction);
/// `corrected_event` (the corrected original event, protobuf) becomes the base
/// of later requeues of this dead letter.
pub async fn record_requeue(
    tx: &mut Transaction<'_, Postgres>,
    dead_letter: &DeadLetterSummary,
    event_id: &str,
    actor: &str,
    correction: Option<&Value>,
    corrected_event: Option<&[u8]>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE dead_letters SET status = 'requeued', updated_at = now(), \
         requeue_event_ids = array_append(requeue_event_ids, $2), \
         corrected_event = COALESCE($3, corrected_event) WHERE id = $1",
    )
    .bind(&dead_letter.id)
    .bind(event_id)
    .bind(corrected_event)
    .execute(&mut **tx)
    .await?;
    // The chain in the timeline: the requeue names the dead letter it came from.
    let detail = json!({"deadLetterId": dead_letter.id, "requeuedEventId": event_id, "patch": correction,
        "previousDeadLetterId": dead_letter.previous_dead_letter_id});
    audit(tx, dead_letter, "requeued", actor, event_id, detail).await
}

/// Records the write-back of a requeued correction to the CRM record
/// (`crm_corrected`) or its failure (`crm_correction_failed`), in the
/// timeline beside the requeue.
pub async fn record_crm_correction(
    pool: &sqlx::PgPool,
    dead_letter: &DeadLetterSummary,
    actor: &str,
    event_id: &str,
    applied: bool,
    detail: Value,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let action = if applied {
        "crm_corrected"
    } else {
        "crm_correction_failed"
    };
    audit(&mut tx, dead_letter, action, actor, event_id, detail).await?;
    tx.commit().await
}

/// Marks a dead letter discarded.
pub async fn record_discard(
    tx: &mut Transaction<'_, Postgres>,
    dead_letter: &DeadLetterSummary,
    actor: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE dead_letters SET status = 'discarded', discard_reason = $2, updated_at = now() WHERE id = $1",
    )
    .bind(&dead_letter.id)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    let detail = json!({"deadLetterId": dead_letter.id, "reason": reason});
    audit(tx, dead_letter, "discarded", actor, "", detail).await
}

async fn audit(
    tx: &mut Transaction<'_, Postgres>,
    dead_letter: &DeadLetterSummary,
    action: &str,
    actor: &str,
    event_id: &str,
    detail: Value,
) -> Result<(), sqlx::Error> {
    let row = EventRow {
        envelope_id: format!("audit:{}", uuid::Uuid::now_v7()),
        kind: "audit",
        event_type: format!("monitoring.dead_letter.{action}"),
        flow: dead_letter.flow.clone(),
        outcome: action.to_owned(),
        crm: crmerp_proto::RecordRef {
            system: dead_letter.crm_system.clone(),
            object_type: dead_letter.crm_object_type.clone(),
            id: dead_letter.crm_record_id.clone(),
        },
        resolution_code: dead_letter.resolution_code.clone(),
        event_id: event_id.to_owned(),
        causation_id: dead_letter.id.clone(),
        actor: actor.to_owned(),
        occurred_at: Utc::now(),
        payload: detail,
        ..Default::default()
    };
    super::events::insert_events(tx, &[&row]).await.map(drop)
}

/// Resolves requeued dead letters whose requeued event succeeded, auditing each.
pub async fn resolve_by_success(
    tx: &mut Transaction<'_, Postgres>,
    succeeded_event_ids: &[String],
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "WITH resolved AS ( \
           UPDATE dead_letters SET status = 'resolved', resolved_at = now(), updated_at = now() \
           WHERE status = 'requeued' AND requeue_event_ids && $1::text[] \
           RETURNING id, flow, resolution_code, crm_system, crm_object_type, crm_record_id) \
         INSERT INTO events (envelope_id, kind, event_type, flow, outcome, crm_system, \
           crm_object_type, crm_record_id, resolution_code, causation_id, actor, occurred_at, payload) \
         SELECT 'audit:resolved:' || id, 'audit', 'monitoring.dead_letter.resolved', flow, 'resolved', \
           crm_system, crm_object_type, crm_record_id, resolution_code, id, 'system', now(), \
           jsonb_build_object('deadLetterId', id) FROM resolved \
         ON CONFLICT (envelope_id) DO NOTHING",
    )
    .bind(succeeded_event_ids)
    .execute(&mut **tx)
    .await?;
    if result.rows_affected() > 0 {
        tracing::info!(
            resolved = result.rows_affected(),
            "Dead letters resolved by a successful requeue."
        );
        metrics::counter!("crmerp_monitoring_dead_letters_resolved_total")
            .increment(result.rows_affected());
    }
    Ok(result.rows_affected())
}

/// Resolves a dead letter whose requeued event succeeded before the requeue was
/// recorded (the success outcome can overtake the requeue's commit).
pub async fn resolve_if_already_succeeded(pool: &PgPool, id: &str) -> Result<(), sqlx::Error> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT e.event_id FROM events e JOIN dead_letters d ON e.event_id = ANY(d.requeue_event_ids) \
         WHERE d.id = $1 AND d.status = 'requeued' AND e.kind = 'outcome' AND e.outcome = 'success'",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    if !ids.is_empty() {
        let mut tx = pool.begin().await?;
        resolve_by_success(&mut tx, &ids).await?;
        tx.commit().await?;
    }
    Ok(())
}

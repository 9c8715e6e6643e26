//! The append-only event log: batched idempotent writes, search and timelines.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};

use crate::records::{DeadLetterRow, EventRow, Record};

/// One stored event as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredEvent {
    /// Row id (increases with arrival).
    pub id: i64,
    /// Envelope id on the bus.
    pub envelope_id: String,
    /// `inbound`, `outcome`, `dead_letter`, `breaker` or `audit`.
    pub kind: String,
    /// Event type.
    pub event_type: String,
    /// Flow.
    pub flow: String,
    /// `received` (inbound), `success`, `validation_failure`, `erp_error`, `retry_scheduled`, `dead_lettered`, or an action.
    pub outcome: String,
    /// CRM system of the record.
    pub crm_system: String,
    /// CRM object type.
    pub crm_object_type: String,
    /// CRM record id.
    pub crm_record_id: String,
    /// ERP order number (the id of the outcome's `order` effect).
    pub erp_order_number: String,
    /// What the attempt created, found or changed: the outcome's effects as
    /// proto3 JSON (`[{"system", "kind", "id", "label"}]`), empty when none.
    #[schema(value_type = Vec<Object>)]
    pub effects: serde_json::Value,
    /// Endpoint called.
    pub endpoint: String,
    /// HTTP status.
    pub http_status: i32,
    /// Response body (truncated at 10 KB).
    pub response_body: String,
    /// Processing duration.
    pub duration_ms: i64,
    /// Attempt number.
    pub attempt: i32,
    /// Error category.
    pub error_category: String,
    /// Error message.
    pub error_message: String,
    /// Resolution code.
    pub resolution_code: String,
    /// Trace id.
    pub trace_id: String,
    /// Processed event id.
    pub event_id: String,
    /// Correlation id.
    pub correlation_id: String,
    /// Causation id.
    pub causation_id: String,
    /// Who acted (audit entries).
    pub actor: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When it was stored.
    pub recorded_at: DateTime<Utc>,
    /// The full structured event.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// Search filters; every one is optional.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// CRM record id.
    pub crm_record_id: Option<String>,
    /// ERP order number.
    pub erp_order_number: Option<String>,
    /// The id of any effect (an order number, a customer id, ...).
    pub effect_id: Option<String>,
    /// Event type.
    pub event_type: Option<String>,
    /// Flow.
    pub flow: Option<String>,
    /// Outcome label.
    pub outcome: Option<String>,
    /// Not before.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
}

/// A position in a newest-first order: the time and key of the last row
/// shown (`(occurred_at, id)` of an event, `(dead_lettered_at, id)` of a dead letter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor<K = i64> {
    at_micros: i64,
    key: K,
}

impl<K: std::fmt::Display + std::str::FromStr> Cursor<K> {
    /// The cursor after a row with this time and key.
    pub fn after(at: DateTime<Utc>, key: K) -> Self {
        Self {
            at_micros: at.timestamp_micros(),
            key,
        }
    }

    /// The opaque string form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.at_micros, self.key))
    }

    /// Parses the opaque string form; `None` for anything this API did not
    /// issue, including a time outside years 1 to 9999 (Postgres would refuse it).
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        // The time holds no ':'; a text key may.
        let (micros, key) = text.split_once(':')?;
        let cursor = Self {
            at_micros: micros.parse().ok()?,
            key: key.parse().ok()?,
        };
        cursor.at().map(|_| cursor)
    }

    /// The time of the last row shown, when it is one Postgres can compare.
    pub fn at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.at_micros).filter(|t| (1..=9999).contains(&t.year()))
    }

    /// The key of the last row shown.
    pub fn key(&self) -> &K {
        &self.key
    }
}

/// The outcome's effects inside the stored payload (see migration 0003).
const EFFECTS: &str = "(payload -> 'data' -> 'outcome' -> 'effects')";

const COLUMNS: &str = "id, envelope_id, kind, event_type, flow, outcome, crm_system, crm_object_type, \
    crm_record_id, erp_order_number, \
    COALESCE(payload -> 'data' -> 'outcome' -> 'effects', '[]'::jsonb) AS effects, \
    endpoint, http_status, response_body, duration_ms, attempt, \
    error_category, error_message, resolution_code, trace_id, event_id, correlation_id, causation_id, \
    actor, occurred_at, recorded_at, payload";

/// Stores a batch in one transaction; rows already stored are skipped. Returns
/// how many event rows were new.
pub async fn store_batch(pool: &PgPool, records: &[Record]) -> Result<u64, sqlx::Error> {
    if records.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    let rows: Vec<&EventRow> = records
        .iter()
        .map(|r| match r {
            Record::Outcome(row) | Record::DeadLetter(row, _) => row,
        })
        .collect();
    let inserted = insert_events(&mut tx, &rows).await?;
    super::calls::insert(&mut tx, &rows).await?;
    let dead_letters: Vec<&DeadLetterRow> = records
        .iter()
        .filter_map(|r| match r {
            Record::DeadLetter(_, dl) => Some(dl.as_ref()),
            Record::Outcome(_) => None,
        })
        .collect();
    insert_dead_letters(&mut tx, &dead_letters).await?;
    let succeeded: Vec<String> = rows
        .iter()
        .filter(|r| r.kind == "outcome" && r.outcome == "success")
        .map(|r| r.event_id.clone())
        .collect();
    if !succeeded.is_empty() {
        super::dead_letters::resolve_by_success(&mut tx, &succeeded).await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// Inserts event rows, skipping envelope ids already stored.
pub async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[&EventRow],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut query = QueryBuilder::<Postgres>::new(
        "INSERT INTO events (envelope_id, kind, event_type, flow, outcome, crm_system, crm_object_type, \
         crm_record_id, erp_order_number, endpoint, http_status, response_body, duration_ms, attempt, \
         error_category, error_message, resolution_code, trace_id, event_id, correlation_id, causation_id, \
         actor, occurred_at, payload) ",
    );
    query.push_values(rows, |mut b, row| {
        b.push_bind(&row.envelope_id)
            .push_bind(row.kind)
            .push_bind(&row.event_type)
            .push_bind(&row.flow)
            .push_bind(&row.outcome)
            .push_bind(&row.crm.system)
            .push_bind(&row.crm.object_type)
            .push_bind(&row.crm.id)
            .push_bind(&row.erp_order_number)
            .push_bind(&row.endpoint)
            .push_bind(row.http_status)
            .push_bind(&row.response_body)
            .push_bind(row.duration_ms)
            .push_bind(row.attempt)
            .push_bind(&row.error_category)
            .push_bind(&row.error_message)
            .push_bind(&row.resolution_code)
            .push_bind(&row.trace_id)
            .push_bind(&row.event_id)
            .push_bind(&row.correlation_id)
            .push_bind(&row.causation_id)
            .push_bind(&row.actor)
            .push_bind(row.occurred_at)
            .push_bind(&row.payload);
    });
    query.push(" ON CONFLICT (envelope_id) DO NOTHING");
    Ok(query.build().execute(&mut **tx).await?.rows_affected())
}

async fn insert_dead_letters(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[&DeadLetterRow],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::<Postgres>::new(
        "INSERT INTO dead_letters (id, flow, class, error_category, resolution_code, reason, \
         error_detail, crm_system, crm_object_type, crm_record_id, original_event_id, \
         original_subject, dead_lettered_at, envelope) ",
    );
    query.push_values(rows, |mut b, row| {
        b.push_bind(&row.id)
            .push_bind(&row.flow)
            .push_bind(row.class)
            .push_bind(&row.error_category)
            .push_bind(&row.resolution_code)
            .push_bind(&row.reason)
            .push_bind(&row.error_detail)
            .push_bind(&row.crm.system)
            .push_bind(&row.crm.object_type)
            .push_bind(&row.crm.id)
            .push_bind(&row.original_event_id)
            .push_bind(&row.original_subject)
            .push_bind(row.dead_lettered_at)
            .push_bind(&row.envelope);
    });
    query.push(" ON CONFLICT (id) DO NOTHING");
    query.build().execute(&mut **tx).await?;
    Ok(())
}

/// One page of search results, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Appends the search conditions (after a `WHERE`) to `query`.
fn push_filter(query: &mut QueryBuilder<'_, Postgres>, filter: &EventFilter) {
    // An accepted inbound event shows as `received` until its first outcome
    // (or dead letter); from then on that row speaks for it (the timeline keeps both).
    query.push(
        "NOT (kind = 'inbound' AND EXISTS ( \
           SELECT 1 FROM events o WHERE o.event_id = events.event_id \
           AND o.kind IN ('outcome', 'dead_letter')))",
    );
    let text_filters = [
        ("crm_record_id", &filter.crm_record_id),
        ("erp_order_number", &filter.erp_order_number),
        ("event_type", &filter.event_type),
        ("flow", &filter.flow),
        ("outcome", &filter.outcome),
    ];
    for (column, value) in text_filters {
        if let Some(value) = value {
            query
                .push(format!(" AND {column} = "))
                .push_bind(value.clone());
        }
    }
    if let Some(id) = &filter.effect_id {
        query
            .push(format!(" AND {EFFECTS} @> "))
            .push_bind(serde_json::json!([{ "id": id }]));
    }
    if let Some(from) = filter.from {
        query.push(" AND occurred_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND occurred_at < ").push_bind(to);
    }
}

/// How many events the search matches, counting no further than `up_to`.
pub async fn count_up_to(
    pool: &PgPool,
    filter: &EventFilter,
    up_to: i64,
) -> Result<i64, sqlx::Error> {
    let mut query =
        QueryBuilder::<Postgres>::new("SELECT count(*) FROM (SELECT 1 FROM events WHERE ");
    push_filter(&mut query, filter);
    query.push(" LIMIT ").push_bind(up_to).push(") matched");
    query.build_query_scalar().fetch_one(pool).await
}

/// Searches the log, newest first, `limit` rows after `cursor`; an inbound
/// event is listed (as `received`) only while it has no outcome.
pub async fn search(
    pool: &PgPool,
    filter: &EventFilter,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Page<StoredEvent>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM events WHERE "));
    push_filter(&mut query, filter);
    if let Some(cursor) = cursor {
        let at = cursor.at().unwrap_or_default();
        query
            .push(" AND (occurred_at, id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(*cursor.key())
            .push(")");
    }
    query
        .push(" ORDER BY occurred_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
    let mut items: Vec<StoredEvent> = query.build_query_as().fetch_all(pool).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items
            .last()
            .map(|e| Cursor::after(e.occurred_at, e.id).encode())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Every event about one CRM record (and, for an ERP order number, the CRM
/// records it came from), oldest first.
pub async fn timeline(
    pool: &PgPool,
    crm_record_id: Option<&str>,
    erp_order_number: Option<&str>,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE crm_record_id <> '' AND crm_record_id IN ( \
           SELECT $1::text WHERE $1::text IS NOT NULL \
           UNION SELECT crm_record_id FROM events WHERE $2::text IS NOT NULL AND erp_order_number = $2) \
         ORDER BY occurred_at, id LIMIT 2000"
    );
    sqlx::query_as(&sql)
        .bind(crm_record_id)
        .bind(erp_order_number)
        .fetch_all(pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("time");
        let cursor = Cursor::after(at, 42_i64);
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::<i64>::decode("!!"), None);
        assert_eq!(Cursor::<i64>::decode(&URL_SAFE_NO_PAD.encode("a:b")), None);
        // A text key may hold the separator.
        let text = Cursor::after(at, "dl:1:x".to_owned());
        assert_eq!(Cursor::decode(&text.encode()), Some(text));
        // Times Postgres cannot hold are not cursors this API issued.
        for micros in [i64::MIN, -62_200_000_000_000_000, 253_402_300_800_000_000] {
            assert_eq!(
                Cursor::<i64>::decode(&URL_SAFE_NO_PAD.encode(format!("{micros}:1"))),
                None
            );
        }
    }
}

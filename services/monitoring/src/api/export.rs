//! `GET /api/v1/events/export` and `GET /api/v1/dead-letters/export`: the
//! filtered event log or dead letters as CSV or JSON, streamed a page at a
//! time (the server never holds the whole export), at most
//! [`MAX_EXPORT_ROWS`] rows (more is a 422 asking for a narrower filter),
//! personal data masked for viewers exactly as the JSON API masks it.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::dead_letters::dead_letter_filter;
use super::events::EventFilterQuery;
use super::text;
use crate::AppState;
use crate::auth::Viewer;
use crate::error::{ApiError, Problem};
use crate::pii;
use crate::store::dead_letters::{self, DeadLetterFilter, DeadLetterSummary};
use crate::store::events::{self, Cursor, EventFilter, Page, StoredEvent};

/// Most rows one export holds.
pub const MAX_EXPORT_ROWS: i64 = 100_000;

/// Rows fetched per page while streaming.
const PAGE: i64 = 500;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events/export", get(export_events))
        .route("/api/v1/dead-letters/export", get(export_dead_letters))
}

/// `csv` or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated, a header row first (RFC 4180).
    Csv,
    /// One JSON array of the rows the search and list answer.
    Json,
}

fn format_of(value: Option<String>) -> Result<ExportFormat, ApiError> {
    match text("format", value)?.as_deref() {
        None | Some("csv") => Ok(ExportFormat::Csv),
        Some("json") => Ok(ExportFormat::Json),
        Some(_) => Err(ApiError::BadRequest("format must be csv or json".into())),
    }
}

/// A row type that can be exported.
trait Exported: Serialize + Send + 'static {
    /// The CSV header.
    const HEADER: &'static [&'static str];
    /// The CSV fields, in header order.
    fn fields(&self) -> Vec<String>;
}

impl Exported for StoredEvent {
    const HEADER: &'static [&'static str] = &[
        "id",
        "occurred_at",
        "recorded_at",
        "kind",
        "event_type",
        "flow",
        "outcome",
        "crm_system",
        "crm_object_type",
        "crm_record_id",
        "erp_order_number",
        "endpoint",
        "http_status",
        "duration_ms",
        "attempt",
        "error_category",
        "error_message",
        "resolution_code",
        "actor",
        "event_id",
        "trace_id",
        "correlation_id",
        "causation_id",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.occurred_at.to_rfc3339(),
            self.recorded_at.to_rfc3339(),
            self.kind.clone(),
            self.event_type.clone(),
            self.flow.clone(),
            self.outcome.clone(),
            self.crm_system.clone(),
            self.crm_object_type.clone(),
            self.crm_record_id.clone(),
            self.erp_order_number.clone(),
            self.endpoint.clone(),
            self.http_status.to_string(),
            self.duration_ms.to_string(),
            self.attempt.to_string(),
            self.error_category.clone(),
            self.error_message.clone(),
            self.resolution_code.clone(),
            self.actor.clone(),
            self.event_id.clone(),
            self.trace_id.clone(),
            self.correlation_id.clone(),
            self.causation_id.clone(),
        ]
    }
}

impl Exported for DeadLetterSummary {
    const HEADER: &'static [&'static str] = &[
        "id",
        "dead_lettered_at",
        "flow",
        "class",
        "error_category",
        "resolution_code",
        "status",
        "crm_system",
        "crm_object_type",
        "crm_record_id",
        "reason",
        "error_detail",
        "original_event_id",
        "requeue_event_ids",
        "resolved_at",
        "discard_reason",
        "previous_dead_letter_id",
        "next_dead_letter_id",
        "updated_at",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.dead_lettered_at.to_rfc3339(),
            self.flow.clone(),
            self.class.clone(),
            self.error_category.clone(),
            self.resolution_code.clone(),
            self.status.clone(),
            self.crm_system.clone(),
            self.crm_object_type.clone(),
            self.crm_record_id.clone(),
            self.reason.clone(),
            self.error_detail.clone(),
            self.original_event_id.clone(),
            self.requeue_event_ids.join(" "),
            self.resolved_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            self.discard_reason.clone(),
            self.previous_dead_letter_id.clone().unwrap_or_default(),
            self.next_dead_letter_id.clone().unwrap_or_default(),
            self.updated_at.to_rfc3339(),
        ]
    }
}

/// One CSV field: quoted when it holds a separator, quote or line break;
/// a leading `=`, `+`, `-`, `@` or tab gets a `'` so a spreadsheet shows
/// the text instead of running it as a formula (vendor errors are
/// untrusted text).
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv_line(fields: impl IntoIterator<Item = String>) -> String {
    let mut line = fields
        .into_iter()
        .map(|f| csv_field(&f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// Fetches the page after a cursor (already masked as the caller may see it).
type Fetch<T> =
    Arc<dyn Fn(Option<String>) -> BoxFuture<'static, Result<Page<T>, sqlx::Error>> + Send + Sync>;

enum Step {
    Next(Option<String>),
    Close,
    Done,
}

/// Renders a page: the rows after `started` (whether any row came before).
fn render<T: Exported>(format: ExportFormat, items: &[T], mut started: bool) -> String {
    let mut out = String::new();
    for item in items {
        match format {
            ExportFormat::Csv => out.push_str(&csv_line(item.fields())),
            ExportFormat::Json => {
                if started {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(item).unwrap_or_else(|_| "null".into()));
                out.push('\n');
            }
        }
        started = true;
    }
    out
}

/// The response: the first page (already read, so an outage before any byte
/// is a proper 503), then the rest fetched as the client reads.
fn respond<T: Exported>(
    format: ExportFormat,
    name: &str,
    first: Page<T>,
    fetch: Fetch<T>,
) -> Response {
    let mut head = match format {
        ExportFormat::Csv => csv_line(T::HEADER.iter().map(|h| (*h).to_owned())),
        ExportFormat::Json => "[\n".to_owned(),
    };
    head.push_str(&render(format, &first.items, false));
    let started = !first.items.is_empty();
    let step = match first.next_cursor {
        Some(cursor) => Step::Next(Some(cursor)),
        None => Step::Close,
    };
    let rest = futures::stream::unfold((step, started), move |(step, started)| {
        let fetch = fetch.clone();
        async move {
            match step {
                Step::Done => None,
                Step::Close => {
                    let tail = if format == ExportFormat::Json {
                        "]\n"
                    } else {
                        ""
                    };
                    Some((Ok(Bytes::from(tail)), (Step::Done, started)))
                }
                Step::Next(cursor) => match fetch(cursor).await {
                    Ok(page) => {
                        let chunk = render(format, &page.items, started);
                        let started = started || !page.items.is_empty();
                        let next = match page.next_cursor {
                            Some(cursor) => Step::Next(Some(cursor)),
                            None => Step::Close,
                        };
                        Some((Ok(Bytes::from(chunk)), (next, started)))
                    }
                    Err(error) => {
                        // The status is sent already: cut the body short, so
                        // the client sees an incomplete download, not a short one.
                        tracing::warn!(error = %error, "An export stopped: the event log failed mid-way.");
                        Some((Err(std::io::Error::other(error)), (Step::Done, started)))
                    }
                },
            }
        }
    });
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) })
        .chain(rest);
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/json", "json"),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{extension}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

fn too_many() -> ApiError {
    ApiError::Unprocessable(format!(
        "more than {MAX_EXPORT_ROWS} rows match; narrow the filter (e.g. from and to)"
    ))
}

/// Event export parameters: the search's filters and the format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventExportQuery {
    /// `csv` (default) or `json`.
    #[param(value_type = Option<ExportFormat>)]
    format: Option<String>,
    /// CRM record id.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    crm_record_id: Option<String>,
    /// ERP order number.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    erp_order_number: Option<String>,
    /// The id of any outcome effect.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    effect_id: Option<String>,
    /// Event type.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    event_type: Option<String>,
    /// Flow.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    flow: Option<String>,
    /// Outcome, e.g. `received` or `success`.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    outcome: Option<String>,
    /// Not before (RFC 3339, years 0001 to 9999).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Before (RFC 3339, years 0001 to 9999).
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
}

/// The events the search would show, every page, newest first, as CSV (no
/// payloads or response bodies) or JSON (the search's rows); at most
/// 100,000 rows.
#[utoipa::path(
    get,
    path = "/api/v1/events/export",
    tag = "events",
    params(EventExportQuery),
    responses(
        (status = 200, description = "The export, streamed", content(
            (Vec<StoredEvent> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 422, description = "More than 100,000 rows match", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn export_events(
    Viewer(principal): Viewer,
    State(state): State<AppState>,
    Query(query): Query<EventExportQuery>,
) -> Result<Response, ApiError> {
    let format = format_of(query.format)?;
    let filter = EventFilterQuery {
        crm_record_id: query.crm_record_id,
        erp_order_number: query.erp_order_number,
        effect_id: query.effect_id,
        event_type: query.event_type,
        flow: query.flow,
        outcome: query.outcome,
        from: query.from,
        to: query.to,
    }
    .parse()?;
    if events::count_up_to(&state.pool, &filter, MAX_EXPORT_ROWS + 1).await? > MAX_EXPORT_ROWS {
        return Err(too_many());
    }
    let fetch = event_pages(state.pool.clone(), filter, !principal.sees_personal_data());
    let first = fetch(None).await?;
    Ok(respond(format, "events", first, fetch))
}

fn event_pages(pool: PgPool, filter: EventFilter, mask: bool) -> Fetch<StoredEvent> {
    Arc::new(move |cursor: Option<String>| {
        let (pool, filter) = (pool.clone(), filter.clone());
        Box::pin(async move {
            let cursor = cursor.as_deref().and_then(Cursor::decode);
            let mut page = events::search(&pool, &filter, cursor, PAGE).await?;
            if mask {
                page.items.iter_mut().for_each(pii::mask_event);
            }
            Ok(page)
        })
    })
}

/// Dead-letter export parameters: the list's filters and the format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterExportQuery {
    /// `csv` (default) or `json`.
    #[param(value_type = Option<ExportFormat>)]
    format: Option<String>,
    /// e.g. `deal-to-order`.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    flow: Option<String>,
    /// Error category.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    category: Option<String>,
    /// Review status.
    #[param(value_type = Option<super::dead_letters::DeadLetterStatus>)]
    status: Option<String>,
    /// The CRM record's id.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    crm_record_id: Option<String>,
    /// The recommended resolution code.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    resolution_code: Option<String>,
    /// Dead-lettered at least this many minutes ago (at most a year).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 525_600)]
    min_age_minutes: Option<String>,
    /// Dead-lettered at most this many minutes ago (at most a year).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 525_600)]
    max_age_minutes: Option<String>,
}

/// The dead letters the list would show, every page, newest first, as CSV
/// or JSON (the list's rows, without the envelope); at most 100,000 rows.
#[utoipa::path(
    get,
    path = "/api/v1/dead-letters/export",
    tag = "dead-letters",
    params(DeadLetterExportQuery),
    responses(
        (status = 200, description = "The export, streamed", content(
            (Vec<DeadLetterSummary> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 422, description = "More than 100,000 rows match", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn export_dead_letters(
    Viewer(principal): Viewer,
    State(state): State<AppState>,
    Query(query): Query<DeadLetterExportQuery>,
) -> Result<Response, ApiError> {
    let format = format_of(query.format)?;
    let filter = dead_letter_filter(
        text("flow", query.flow)?,
        text("category", query.category)?,
        query.status,
        text("crm_record_id", query.crm_record_id)?,
        text("resolution_code", query.resolution_code)?,
        query.min_age_minutes,
        query.max_age_minutes,
    )?;
    if dead_letters::count_up_to(&state.pool, &filter, MAX_EXPORT_ROWS + 1).await? > MAX_EXPORT_ROWS
    {
        return Err(too_many());
    }
    let fetch = dead_letter_pages(state.pool.clone(), filter, !principal.sees_personal_data());
    let first = fetch(None).await?;
    Ok(respond(format, "dead-letters", first, fetch))
}

fn dead_letter_pages(
    pool: PgPool,
    filter: DeadLetterFilter,
    mask: bool,
) -> Fetch<DeadLetterSummary> {
    Arc::new(move |cursor: Option<String>| {
        let (pool, filter) = (pool.clone(), filter.clone());
        Box::pin(async move {
            let cursor = cursor.as_deref().and_then(Cursor::<String>::decode);
            let mut page = dead_letters::page(&pool, &filter, cursor.as_ref(), PAGE).await?;
            if mask {
                page.items.iter_mut().for_each(pii::mask_summary);
            }
            Ok(page)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_line(["a".into(), "b,c".into()]), "a,\"b,c\"\r\n");
    }

    #[test]
    fn json_pages_join_into_one_array() {
        #[derive(Serialize)]
        struct Row(u8);
        impl Exported for Row {
            const HEADER: &'static [&'static str] = &["n"];
            fn fields(&self) -> Vec<String> {
                vec![self.0.to_string()]
            }
        }
        let first = render(ExportFormat::Json, &[Row(1), Row(2)], false);
        let second = render(ExportFormat::Json, &[Row(3)], true);
        let whole: serde_json::Value =
            serde_json::from_str(&format!("[\n{first}{second}]\n")).expect("one array");
        assert_eq!(whole, serde_json::json!([1, 2, 3]));
        assert_eq!(render(ExportFormat::Csv, &[Row(7)], false), "7\r\n");
    }
}

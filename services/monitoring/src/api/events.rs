//! `GET /api/v1/events` (search) and `GET /api/v1/timeline` (one record's history).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{parse_limit, parse_time, text};
use crate::AppState;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::pii;
use crate::records::RECEIVED;
use crate::store;
use crate::store::calls::StoredCall;
use crate::store::dead_letters::{DeadLetterFilter, DeadLetterSummary};
use crate::store::events::{self, Cursor, EventFilter, Page, StoredEvent};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", get(search))
        .route("/api/v1/timeline", get(timeline))
}

/// Search parameters; all optional, none empty, none unknown.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// CRM record id, e.g. a HubSpot deal id.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    crm_record_id: Option<String>,
    /// ERP order number (the id of an outcome's order effect).
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    erp_order_number: Option<String>,
    /// The id of any outcome effect, e.g. an ERP order number or customer id.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    effect_id: Option<String>,
    /// e.g. `integration.outcome`, `integration.dead_letter`, `monitoring.dead_letter.requeued`.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    event_type: Option<String>,
    /// e.g. `deal-to-order`.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    flow: Option<String>,
    /// `received` (an accepted inbound event), `success`, `validation_failure`, `erp_error`, `retry_scheduled`, `dead_lettered`, `requeued`, `discarded`, `resolved`.
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
    /// Rows per page (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    cursor: Option<String>,
}

/// The search filters as the query gives them, unchecked.
#[derive(Debug, Default)]
pub(crate) struct EventFilterQuery {
    pub crm_record_id: Option<String>,
    pub erp_order_number: Option<String>,
    pub effect_id: Option<String>,
    pub event_type: Option<String>,
    pub flow: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl EventFilterQuery {
    /// Checks each filter at the edge (a 400 names the parameter).
    pub(crate) fn parse(self) -> Result<EventFilter, ApiError> {
        Ok(EventFilter {
            crm_record_id: text("crm_record_id", self.crm_record_id)?,
            erp_order_number: text("erp_order_number", self.erp_order_number)?,
            effect_id: text("effect_id", self.effect_id)?,
            event_type: text("event_type", self.event_type)?,
            flow: text("flow", self.flow)?,
            outcome: text("outcome", self.outcome)?,
            from: parse_time("from", self.from.as_deref())?,
            to: parse_time("to", self.to.as_deref())?,
        })
    }
}

/// Search the event log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    params(SearchQuery),
    responses((status = 200, description = "A page of events", body = Page<StoredEvent>)),
)]
async fn search(
    Viewer(principal): Viewer,
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Page<StoredEvent>>, ApiError> {
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
    let cursor = match text("cursor", query.cursor)? {
        Some(text) => Some(
            Cursor::decode(&text)
                .ok_or_else(|| ApiError::BadRequest("cursor is not one this API issued".into()))?,
        ),
        None => None,
    };
    let limit = parse_limit(query.limit.as_deref(), 50, 500)?;
    let mut page = events::search(&state.pool, &filter, cursor, limit).await?;
    if !principal.sees_personal_data() {
        page.items.iter_mut().for_each(pii::mask_event);
    }
    Ok(Json(page))
}

/// Timeline parameters: one of the two.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// CRM record id.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    crm_record_id: Option<String>,
    /// ERP order number: the timeline of the CRM records it came from.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    erp_order_number: Option<String>,
}

/// A record's events, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Timeline {
    /// Where the record stands: `received` while an accepted event has no
    /// outcome yet, else the newest outcome (e.g. `success`,
    /// `retry_scheduled`, `dead_lettered`); absent without any event.
    pub state: Option<String>,
    /// The events.
    pub items: Vec<StoredEvent>,
    /// The record's dead letters, oldest first, each linked to the one it
    /// came from and the one it became (a requeue that failed again).
    pub dead_letters: Vec<DeadLetterSummary>,
    /// Every vendor call of the outcomes' attempts, each naming its event
    /// (`event_row_id` = the item's `id`), by event then call order.
    pub calls: Vec<StoredCall>,
}

/// The record's state from its events, oldest first (see [`Timeline::state`]).
fn record_state(items: &[StoredEvent]) -> Option<String> {
    let reported = |event_id: &str| {
        items
            .iter()
            .any(|e| matches!(e.kind.as_str(), "outcome" | "dead_letter") && e.event_id == event_id)
    };
    if items
        .iter()
        .any(|e| e.kind == "inbound" && !reported(&e.event_id))
    {
        return Some(RECEIVED.to_owned());
    }
    items
        .iter()
        .rev()
        .find(|e| matches!(e.kind.as_str(), "outcome" | "dead_letter"))
        .map(|e| e.outcome.clone())
}

/// Every event about one record, oldest first (at most 2,000); give one of the two parameters.
#[utoipa::path(
    get,
    path = "/api/v1/timeline",
    tag = "events",
    params(TimelineQuery),
    responses((status = 200, description = "The record's events", body = Timeline)),
)]
async fn timeline(
    Viewer(principal): Viewer,
    State(state): State<AppState>,
    Query(query): Query<TimelineQuery>,
) -> Result<Json<Timeline>, ApiError> {
    let crm = text("crm_record_id", query.crm_record_id)?;
    let erp = text("erp_order_number", query.erp_order_number)?;
    if crm.is_none() && erp.is_none() {
        return Err(ApiError::BadRequest(
            "give crm_record_id or erp_order_number".into(),
        ));
    }
    let mut items = events::timeline(&state.pool, crm.as_deref(), erp.as_deref()).await?;
    let mut records: Vec<String> = items.iter().map(|e| e.crm_record_id.clone()).collect();
    records.sort();
    records.dedup();
    let mut dead_letters = Vec::new();
    for record in records {
        let filter = DeadLetterFilter {
            crm_record_id: Some(record),
            ..DeadLetterFilter::default()
        };
        dead_letters.extend(store::dead_letters::list(&state.pool, &filter, 1000).await?);
    }
    dead_letters.sort_by(|a, b| (a.dead_lettered_at, &a.id).cmp(&(b.dead_lettered_at, &b.id)));
    let row_ids: Vec<i64> = items.iter().map(|e| e.id).collect();
    let mut calls = store::calls::of_rows(&state.pool, &row_ids).await?;
    if !principal.sees_personal_data() {
        items.iter_mut().for_each(pii::mask_event);
        dead_letters.iter_mut().for_each(pii::mask_summary);
        calls.iter_mut().for_each(pii::mask_call);
    }
    Ok(Json(Timeline {
        state: record_state(&items),
        items,
        dead_letters,
        calls,
    }))
}

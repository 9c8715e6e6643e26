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
use crate::store::events::{self, Cursor, EventFilter, Page, StoredEvent};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", get(search))
        .route("/api/v1/timeline", get(timeline))
}

/// Search parameters; all optional, none empty, none unknown.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    crm_record_id: Option<String>,
    erp_order_number: Option<String>,
    effect_id: Option<String>,
    event_type: Option<String>,
    flow: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn search(
    Viewer(principal): Viewer,
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Page<StoredEvent>>, ApiError> {
    let filter = EventFilter {
        crm_record_id: text("crm_record_id", query.crm_record_id)?,
        erp_order_number: text("erp_order_number", query.erp_order_number)?,
        effect_id: text("effect_id", query.effect_id)?,
        event_type: text("event_type", query.event_type)?,
        flow: text("flow", query.flow)?,
        outcome: text("outcome", query.outcome)?,
        from: parse_time("from", query.from.as_deref())?,
        to: parse_time("to", query.to.as_deref())?,
    };
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    crm_record_id: Option<String>,
    erp_order_number: Option<String>,
}

/// A record's events, oldest first.
#[derive(Debug, Serialize)]
pub struct Timeline {
    /// The events.
    pub items: Vec<StoredEvent>,
}

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
    if !principal.sees_personal_data() {
        items.iter_mut().for_each(pii::mask_event);
    }
    Ok(Json(Timeline { items }))
}

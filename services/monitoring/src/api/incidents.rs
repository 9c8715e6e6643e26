//! `GET /api/v1/incidents` and `POST /api/v1/incidents/{key}/acknowledge`:
//! the alert incidents (what fired, when, how severe, open or resolved) and
//! an operator's acknowledgement, audited.
//!
//! The evaluator notifies on transitions only (opened, resolved), never again
//! while an incident stays open, so an acknowledgement has nothing to
//! silence: it records who took the incident. A reopened incident needs a
//! new acknowledgement (migration 0006 clears it).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::dead_letters::{MAX_REASON, json_body};
use super::{check_text, parse_limit, text};
use crate::AppState;
use crate::auth::{Operator, Viewer};
use crate::error::{ApiError, Problem};
use crate::store::incidents::{self, AckError, Incident, IncidentFilter};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/incidents", get(list))
        .route("/api/v1/incidents/{key}/acknowledge", post(acknowledge))
}

/// An incident's state, as the list filters it.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// Open, acknowledged or not.
    Open,
    /// Open and acknowledged.
    Acknowledged,
    /// Open and nobody acknowledged it.
    Unacknowledged,
    /// Resolved.
    Resolved,
}

const STATUSES: [&str; 4] = ["open", "acknowledged", "unacknowledged", "resolved"];
const SEVERITIES: [&str; 3] = ["P1", "P2", "P3"];

/// List filters; all optional, none empty, none unknown.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// The incident's state.
    #[param(value_type = Option<IncidentStatus>)]
    status: Option<String>,
    /// e.g. `deal-to-order`.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    flow: Option<String>,
    /// `P1`, `P2` or `P3`.
    #[param(pattern = "^P[123]$")]
    severity: Option<String>,
    /// Rows (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// The list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentList {
    /// Most recently opened first.
    pub items: Vec<Incident>,
}

/// Alert incidents, most recently opened first.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    tag = "alerts",
    params(IncidentQuery),
    responses((status = 200, description = "Incidents", body = IncidentList)),
)]
async fn list(
    Viewer(_): Viewer,
    State(state): State<AppState>,
    Query(query): Query<IncidentQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let status = text("status", query.status)?;
    if let Some(status) = &status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    let severity = text("severity", query.severity)?;
    if let Some(severity) = &severity
        && !SEVERITIES.contains(&severity.as_str())
    {
        return Err(ApiError::BadRequest(
            "severity must be one of P1, P2, P3".into(),
        ));
    }
    let filter = IncidentFilter {
        status,
        flow: text("flow", query.flow)?,
        severity,
    };
    let limit = parse_limit(query.limit.as_deref(), 100, 1000)?;
    Ok(Json(IncidentList {
        items: incidents::list(&state.pool, &filter, limit).await?,
    }))
}

/// Body of an acknowledgement (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// A note for the audit trail (at most 2,000 characters, no NUL).
    #[schema(max_length = 2000, pattern = r"^[^\x00]*$")]
    #[serde(default)]
    note: String,
}

/// Acknowledge an open incident: records who and when (audited as
/// `monitoring.alert.acknowledged`).
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{key}/acknowledge",
    tag = "alerts",
    params(("key" = String, Path, description = "Incident key, e.g. `no_success:deal-to-order`", min_length = 1, max_length = 256, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")),
    request_body(content = Option<AcknowledgeRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Acknowledged", body = Incident),
        (status = 404, description = "No such incident", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Resolved, or acknowledged already", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn acknowledge(
    Operator(principal): Operator,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Json<Incident>, ApiError> {
    let key = check_text("key", key)?;
    // An object or nothing: serde would also read the struct from an array.
    let request: AcknowledgeRequest =
        json_body::<serde_json::Map<String, serde_json::Value>>(&body)?
            .map(|object| serde_json::from_value(serde_json::Value::Object(object)))
            .transpose()
            .map_err(|e| {
                ApiError::BadRequest(format!("the body is not valid JSON for this action: {e}"))
            })?
            .unwrap_or_default();
    let note = request.note.trim();
    if note.chars().count() > MAX_REASON || note.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "note must be at most {MAX_REASON} characters without NUL"
        )));
    }
    let incident = incidents::acknowledge(&state.pool, &key, &principal.name, note)
        .await
        .map_err(|e| match e {
            AckError::NotFound => ApiError::NotFound("incident"),
            AckError::Conflict(message) => ApiError::Conflict(message),
            AckError::Db(e) => e.into(),
        })?;
    tracing::info!(incident = %key, actor = %principal.name, "Incident acknowledged.");
    Ok(Json(incident))
}

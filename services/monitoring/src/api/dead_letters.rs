//! Dead-letter review: list, detail, correct-and-requeue, discard.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Duration, Utc};
use crmerp_connector::CallLog;
use crmerp_proto::{EventEnvelope, Message as _, event_envelope::Data};
use crmerp_rules::{Base, Corrected, Correction, CorrectionError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{check_text, parse_int, parse_limit, text};
use crate::AppState;
use crate::auth::{Operator, Viewer};
use crate::error::{ApiError, Problem};
use crate::pii;
use crate::records::envelope_json;
use crate::resolution::explain;
use crate::store::dead_letters::{self, DeadLetterFilter, DeadLetterSummary};
use crate::store::events::Cursor;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dead-letters", get(list))
        .route("/api/v1/dead-letters/{id}", get(detail))
        .route("/api/v1/dead-letters/{id}/requeue", post(requeue))
        .route("/api/v1/dead-letters/{id}/discard", post(discard))
}

/// List filters; all optional, none empty, none unknown. Ages are in minutes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// e.g. `deal-to-order`.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    flow: Option<String>,
    /// Error category, e.g. `missing_data`.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    category: Option<String>,
    /// Review status.
    #[param(value_type = Option<DeadLetterStatus>)]
    status: Option<String>,
    /// The CRM record's id.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    crm_record_id: Option<String>,
    /// The recommended resolution code, e.g. `add_missing_field:shipping_address`.
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
    /// Rows per page (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    cursor: Option<String>,
}

/// A dead letter's review status, as the OpenAPI document lists it (the
/// handler checks the text against [`STATUSES`] to name the parameter).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum DeadLetterStatus {
    /// Waiting for review.
    Open,
    /// Requeued, waiting for the outcome.
    Requeued,
    /// Its requeued event succeeded.
    Resolved,
    /// Discarded with a reason.
    Discarded,
}

/// A listed dead letter with its resolution in words.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListedDeadLetter {
    #[serde(flatten)]
    summary: DeadLetterSummary,
    /// The recommended resolution in plain words.
    resolution: String,
}

/// One page of the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetterList {
    /// Newest first.
    pub items: Vec<ListedDeadLetter>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

const STATUSES: [&str; 4] = ["open", "requeued", "resolved", "discarded"];

/// The list's filter from its checked text parameters, the status and the
/// ages (in minutes, at most a year) still to check.
pub(crate) fn dead_letter_filter(
    flow: Option<String>,
    category: Option<String>,
    status: Option<String>,
    crm_record_id: Option<String>,
    resolution_code: Option<String>,
    min_age_minutes: Option<String>,
    max_age_minutes: Option<String>,
) -> Result<DeadLetterFilter, ApiError> {
    let status = text("status", status)?;
    if let Some(status) = &status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    let now = Utc::now();
    // At most a year: the subtraction below cannot overflow.
    let minutes = |name: &str, value: Option<String>| -> Result<Option<i64>, ApiError> {
        parse_int(name, value.as_deref(), 0, 525_600)
    };
    Ok(DeadLetterFilter {
        flow,
        category,
        status,
        crm_record_id,
        resolution_code,
        older_than: minutes("min_age_minutes", min_age_minutes)?
            .map(|m| now - Duration::minutes(m)),
        newer_than: minutes("max_age_minutes", max_age_minutes)?
            .map(|m| now - Duration::minutes(m)),
    })
}

/// List dead letters, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/dead-letters",
    tag = "dead-letters",
    params(ListQuery),
    responses((status = 200, description = "Dead letters", body = DeadLetterList)),
)]
async fn list(
    Viewer(principal): Viewer,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<DeadLetterList>, ApiError> {
    let filter = dead_letter_filter(
        text("flow", query.flow)?,
        text("category", query.category)?,
        query.status,
        text("crm_record_id", query.crm_record_id)?,
        text("resolution_code", query.resolution_code)?,
        query.min_age_minutes,
        query.max_age_minutes,
    )?;
    let cursor = match text("cursor", query.cursor)? {
        Some(text) => Some(
            Cursor::<String>::decode(&text)
                .ok_or_else(|| ApiError::BadRequest("cursor is not one this API issued".into()))?,
        ),
        None => None,
    };
    let mask = !principal.sees_personal_data();
    let limit = parse_limit(query.limit.as_deref(), 100, 1000)?;
    let page = dead_letters::page(&state.pool, &filter, cursor.as_ref(), limit).await?;
    let items = page
        .items
        .into_iter()
        .map(|mut summary| {
            if mask {
                pii::mask_summary(&mut summary);
            }
            ListedDeadLetter {
                resolution: explain(&summary.resolution_code),
                summary,
            }
        })
        .collect();
    Ok(Json(DeadLetterList {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Everything an operator needs to decide.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetterDetail {
    #[serde(flatten)]
    summary: DeadLetterSummary,
    /// The recommended resolution in plain words.
    resolution: String,
    /// Link to the CRM record, when configured.
    crm_record_url: Option<String>,
    /// The dead letter as published, including the original event and every attempt.
    #[schema(value_type = Object)]
    envelope: Value,
    /// The record a correction patches, as proto3 JSON (for deal-to-order the
    /// canonical deal: the last correction, or the CRM's current data).
    #[schema(value_type = Option<Object>)]
    deal: Option<Value>,
    /// Why `deal` is missing, if it is.
    deal_error: Option<String>,
}

/// A dead letter as loaded for an action: its summary, its envelope, and
/// its original event as last corrected by an operator, if ever.
struct Loaded {
    summary: DeadLetterSummary,
    envelope: EventEnvelope,
    corrected: Option<EventEnvelope>,
}

async fn load(state: &AppState, id: &str) -> Result<Loaded, ApiError> {
    check_text("id", id.to_owned())?;
    let stored = dead_letters::get(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("dead letter"))?;
    let envelope = EventEnvelope::decode(stored.envelope.as_slice())
        .map_err(|e| anyhow::anyhow!("stored dead letter {id} does not decode: {e}"))?;
    let corrected = stored
        .corrected_event
        .map(|bytes| EventEnvelope::decode(bytes.as_slice()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("stored correction of {id} does not decode: {e}"))?;
    Ok(Loaded {
        summary: stored.summary,
        envelope,
        corrected,
    })
}

/// The event a requeue of the dead letter starts from, and its flow's
/// correction rules: the last correction when there is one (so a later
/// requeue keeps it), else the dead letter's original event.
fn correction_of<'a>(
    state: &'a AppState,
    loaded: &'a Loaded,
) -> Result<(&'a dyn Correction, &'a EventEnvelope), ApiError> {
    let Some(Data::DeadLetter(dl)) = &loaded.envelope.data else {
        return Err(ApiError::Conflict("not a dead letter".into()));
    };
    let original = dl.original.as_deref().ok_or_else(|| {
        ApiError::Conflict("the dead letter has no decodable original event".into())
    })?;
    let correction = state
        .corrections
        .for_flow(&dl.flow)
        .map_err(correction_problem)?;
    Ok((correction, loaded.corrected.as_ref().unwrap_or(original)))
}

/// A refused correction as the API answers it.
fn correction_problem(error: CorrectionError) -> ApiError {
    match error {
        CorrectionError::UnknownFlow(_) | CorrectionError::NotApplicable(_) => {
            ApiError::Conflict(error.to_string())
        }
        CorrectionError::Patch(_) => ApiError::BadRequest(error.to_string()),
        CorrectionError::Malformed(_) | CorrectionError::StillInvalid(_) => {
            ApiError::Unprocessable(error.to_string())
        }
    }
}

/// The document a correction patches: carried by the event (an earlier
/// correction), or the record as its system holds it now.
async fn current_document(
    state: &AppState,
    correction: &dyn Correction,
    original: &EventEnvelope,
) -> Result<Value, ApiError> {
    match correction.base(original).map_err(correction_problem)? {
        Base::Carried(document) => Ok(document),
        Base::CrmDeal(deal_ref) => {
            let crm = state.crm.as_ref().ok_or_else(|| {
                ApiError::Unavailable("no CRM is configured to read the deal".into())
            })?;
            let deal = crm
                .fetch_deal(&deal_ref.id, &CallLog::new())
                .await
                .map_err(|e| {
                    ApiError::Unavailable(format!("cannot read the deal from the CRM: {e}"))
                })?;
            serde_json::to_value(&deal)
                .map_err(|e| anyhow::anyhow!("the deal does not serialise: {e}").into())
        }
    }
}

/// A dead letter with the original event, every attempt, the vendor error,
/// the resolution in plain words and the deal to correct; personal data is
/// masked for viewers.
#[utoipa::path(
    get,
    path = "/api/v1/dead-letters/{id}",
    tag = "dead-letters",
    params(("id" = String, Path, description = "Dead-letter id", min_length = 1, max_length = 256, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")),
    responses((status = 200, description = "The dead letter", body = DeadLetterDetail)),
)]
async fn detail(
    Viewer(principal): Viewer,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeadLetterDetail>, ApiError> {
    let loaded = load(&state, &id).await?;
    let document = match correction_of(&state, &loaded) {
        Ok((correction, original)) => current_document(&state, correction, original).await,
        Err(error) => Err(error),
    };
    let Loaded {
        summary, envelope, ..
    } = loaded;
    let (deal, deal_error) = match document {
        Ok(document) => (Some(document), None),
        Err(error) => (None, Some(error.to_string())),
    };
    let mut detail = DeadLetterDetail {
        resolution: explain(&summary.resolution_code),
        crm_record_url: state.record_link(
            &summary.crm_system,
            &summary.crm_object_type,
            &summary.crm_record_id,
        ),
        envelope: envelope_json(&envelope),
        summary,
        deal,
        deal_error,
    };
    if !principal.sees_personal_data() {
        pii::mask_summary(&mut detail.summary);
        pii::mask_json(&mut detail.envelope);
        if let Some(deal) = &mut detail.deal {
            pii::mask_json(deal);
        }
        if let Some(error) = &mut detail.deal_error {
            *error = pii::mask_text(error);
        }
    }
    Ok(Json(detail))
}

/// Body of a requeue: an optional RFC 6902 JSON patch of the record a
/// correction patches (for deal-to-order, the canonical deal). Absent means
/// "requeue as is"; `null` is refused.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RequeueRequest {
    /// RFC 6902 operations on the record, e.g. `[{"op": "add", "path": "/shippingAddress", "value": {...}}]`.
    #[serde(default, deserialize_with = "present_patch")]
    #[schema(value_type = Vec<PatchOperation>)]
    patch: Option<json_patch::Patch>,
    /// Write the corrected fields back to the CRM record too. Unset: yes,
    /// for the fields the CRM can write (the others are reported); `true`:
    /// every corrected field must be writable, else nothing happens (422);
    /// `false`: the correction stays in the requeued event only.
    #[serde(default)]
    apply_to_crm: Option<bool>,
}

/// One RFC 6902 operation, as the OpenAPI document describes it (parsed
/// with `json_patch`).
#[derive(utoipa::ToSchema)]
pub struct PatchOperation {
    /// What to do.
    #[schema(value_type = PatchOp)]
    pub op: String,
    /// JSON Pointer into the record, e.g. `/shippingAddress`.
    #[schema(pattern = "^(/[^/]*)*$")]
    pub path: String,
    /// The new value (`add`, `replace`, `test`).
    #[schema(value_type = Option<Value>)]
    pub value: Option<Value>,
    /// JSON Pointer of the source (`move`, `copy`).
    #[schema(pattern = "^(/[^/]*)*$")]
    pub from: Option<String>,
}

/// RFC 6902 operation names.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum PatchOp {
    /// Add a member or element.
    Add,
    /// Remove one.
    Remove,
    /// Replace one.
    Replace,
    /// Move one.
    Move,
    /// Copy one.
    Copy,
    /// Test a value.
    Test,
}

/// A present `patch` must be a patch: `null` does not mean "no patch".
fn present_patch<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<json_patch::Patch>, D::Error> {
    json_patch::Patch::deserialize(deserializer)
        .map(Some)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "patch must be an array of RFC 6902 operations (omit it for none): {e}"
            ))
        })
}

/// True when any key or string in `value` holds a NUL character.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        _ => false,
    }
}

/// Longest discard reason, in characters.
pub(crate) const MAX_REASON: usize = 2000;

/// What a requeue did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequeueResponse {
    /// The dead letter.
    pub dead_letter_id: String,
    /// The id of the event now on its way.
    pub requeued_event_id: String,
    /// The dead letter's new status.
    pub status: &'static str,
    /// What became of the correction in the CRM record (corrections only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm: Option<CrmCorrection>,
}

/// The write-back of a correction to the CRM record.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct CrmCorrection {
    /// Corrected fields written to the CRM record.
    pub applied: Vec<String>,
    /// Corrected fields the CRM cannot write (or the operator kept out).
    pub not_applied: Vec<String>,
    /// Why the write-back failed, when it did (the requeue stands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A planned write-back: the deal, its corrected form, the fields to write.
struct CrmWrite {
    deal_id: String,
    deal: crmerp_proto::Deal,
    fields: Vec<&'static str>,
}

/// Decides, before anything is requeued, what of a correction goes to the
/// CRM record; refuses (422) what `apply_to_crm = true` cannot honour.
fn plan_crm_write(
    state: &AppState,
    corrected: &EventEnvelope,
    changes: &json_patch::Patch,
    apply_to_crm: Option<bool>,
) -> Result<(Option<CrmWrite>, CrmCorrection), ApiError> {
    let mut changed: Vec<String> = changes
        .0
        .iter()
        .filter_map(|op| {
            let path = serde_json::to_value(op).ok()?["path"].as_str()?.to_owned();
            path.trim_start_matches('/')
                .split('/')
                .next()
                .map(str::to_owned)
        })
        .filter(|field| !field.is_empty())
        .collect();
    changed.sort();
    changed.dedup();
    let mut report = CrmCorrection::default();
    if apply_to_crm == Some(false) {
        report.not_applied = changed;
        return Ok((None, report));
    }
    let Some(Data::DealWon(won)) = &corrected.data else {
        return Ok((None, report));
    };
    let (Some(deal), Some(deal_ref)) = (&won.corrected_deal, &won.deal) else {
        return Ok((None, report));
    };
    let editable = state
        .crm_editor
        .as_ref()
        .map(|editor| editor.editable_fields())
        .unwrap_or_default();
    let (fields, not_applied): (Vec<String>, Vec<String>) = changed
        .into_iter()
        .partition(|field| editable.contains(&field.as_str()));
    if apply_to_crm == Some(true) && !not_applied.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "the CRM record cannot take {} (writable: {}); requeue with \"apply_to_crm\": false to keep the correction in the event only",
            not_applied.join(", "),
            if editable.is_empty() {
                "none".to_owned()
            } else {
                editable.join(", ")
            }
        )));
    }
    report.not_applied = not_applied;
    let fields: Vec<&'static str> = editable
        .into_iter()
        .filter(|field| fields.iter().any(|f| f == field))
        .collect();
    if fields.is_empty() {
        return Ok((None, report));
    }
    Ok((
        Some(CrmWrite {
            deal_id: deal_ref.id.clone(),
            deal: deal.clone(),
            fields,
        }),
        report,
    ))
}

/// Applies the patch with the flow's correction rules; returns the corrected
/// original event and what changed.
async fn corrected_event(
    state: &AppState,
    loaded: &Loaded,
    patch: &json_patch::Patch,
) -> Result<Corrected, ApiError> {
    let (correction, original) = correction_of(state, loaded)?;
    let base = current_document(state, correction, original).await?;
    correction
        .apply(original, &base, patch)
        .map_err(correction_problem)
}

/// Parses an optional JSON body, answering problems as problem+json.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        ApiError::BadRequest(format!("the body is not valid JSON for this action: {e}"))
    })
}

fn ensure_actionable(status: &str) -> Result<(), ApiError> {
    match status {
        "open" | "requeued" => Ok(()),
        other => Err(ApiError::Conflict(format!(
            "the dead letter is already {other}"
        ))),
    }
}

/// Correct (optionally, with a JSON patch of the record) and requeue; the
/// body may be empty or `{}` to requeue as is.
#[utoipa::path(
    post,
    path = "/api/v1/dead-letters/{id}/requeue",
    tag = "dead-letters",
    params(("id" = String, Path, description = "Dead-letter id", min_length = 1, max_length = 256, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")),
    request_body(content = Option<RequeueRequest>, content_type = "application/json"),
    responses(
        (status = 202, description = "Requeued", body = RequeueResponse),
        (status = 409, description = "Already resolved or discarded, or not correctable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The corrected record is still invalid", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn requeue(
    Operator(principal): Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<RequeueResponse>), ApiError> {
    let request: RequeueRequest = json_body(&body)?.unwrap_or_default();
    if let Some(patch) = &request.patch {
        // Postgres' jsonb (the audit trail) cannot hold NUL, and no field needs it.
        let value = serde_json::to_value(patch)
            .map_err(|e| anyhow::anyhow!("a parsed patch does not serialise: {e}"))?;
        if contains_nul(&value) {
            return Err(ApiError::BadRequest(
                "patch must not contain NUL characters".into(),
            ));
        }
    }
    let loaded = load(&state, &id).await?;
    ensure_actionable(&loaded.summary.status)?;
    let (corrected, changes) = match &request.patch {
        Some(patch) => {
            let Corrected { event, changes } = corrected_event(&state, &loaded, patch).await?;
            (Some(event), Some(changes))
        }
        // Requeued as is, an earlier correction still travels with the event.
        None => (loaded.corrected.clone(), None),
    };
    let Loaded {
        summary, envelope, ..
    } = loaded;
    let (crm_write, mut crm_report) = match (&corrected, &changes) {
        (Some(event), Some(changes)) => {
            let (write, report) = plan_crm_write(&state, event, changes, request.apply_to_crm)?;
            (write, Some(report))
        }
        _ => (None, None),
    };
    let mut tx = state.pool.begin().await?;
    let (status, count) = dead_letters::lock(&mut tx, &id)
        .await?
        .ok_or(ApiError::NotFound("dead letter"))?;
    ensure_actionable(&status)?;
    let attempt = u32::try_from(count).unwrap_or(0) + 1;
    let (_, event) = crmerp_flow::requeue::requeued_event(&envelope, corrected.clone(), attempt)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    // The audit keeps what changed, whatever shape of patch the caller sent.
    let patch_json = changes.as_ref().and_then(|p| serde_json::to_value(p).ok());
    // Only a new correction is stored: an unchanged one is there already.
    let corrected_bytes = changes
        .is_some()
        .then(|| corrected.as_ref().map(|e| e.encode_to_vec()))
        .flatten();
    dead_letters::record_requeue(
        &mut tx,
        &summary,
        &event.id,
        &principal.name,
        patch_json.as_ref(),
        corrected_bytes.as_deref(),
    )
    .await?;
    // Published inside the transaction: if JetStream refuses, nothing is recorded;
    // if the commit fails after the publish, a retry reuses the id and JetStream de-duplicates it.
    let event_id = crmerp_flow::requeue::requeue(&state.js, &envelope, corrected, attempt)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    tx.commit().await?;
    dead_letters::resolve_if_already_succeeded(&state.pool, &id).await?;
    tracing::info!(dead_letter = %id, event_id = %event_id, actor = %principal.name, corrected = request.patch.is_some(), "Dead letter requeued.");
    // The requeue stands whatever the CRM answers; the write-back's outcome
    // is audited and reported, so an operator can retry it by hand.
    if let (Some(write), Some(editor), Some(report)) =
        (crm_write, state.crm_editor.as_ref(), crm_report.as_mut())
    {
        let result = editor
            .apply_correction(&write.deal_id, &write.deal, &write.fields, &CallLog::new())
            .await;
        let fields: Vec<String> = write.fields.iter().map(|f| (*f).to_owned()).collect();
        let detail = match &result {
            Ok(()) => serde_json::json!({"fields": fields}),
            Err(e) => serde_json::json!({"fields": fields, "error": e.to_string()}),
        };
        dead_letters::record_crm_correction(
            &state.pool,
            &summary,
            &principal.name,
            &event_id,
            result.is_ok(),
            detail,
        )
        .await?;
        match result {
            Ok(()) => report.applied = fields,
            Err(e) => {
                tracing::warn!(dead_letter = %id, error = %e, "The correction could not be written back to the CRM record.");
                report.not_applied.extend(fields);
                report.error = Some(e.to_string());
            }
        }
    }
    metrics::counter!("crmerp_monitoring_requeues_total").increment(1);
    Ok((
        StatusCode::ACCEPTED,
        Json(RequeueResponse {
            dead_letter_id: id,
            requeued_event_id: event_id,
            status: "requeued",
            crm: crm_report,
        }),
    ))
}

/// Body of a discard.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DiscardRequest {
    /// Why (required; at most 2,000 characters, no NUL).
    #[schema(min_length = 1, max_length = 2000, pattern = r"^[^\x00]*$")]
    reason: String,
}

/// What a discard did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiscardResponse {
    /// The dead letter.
    pub dead_letter_id: String,
    /// Its new status, `discarded`.
    pub status: &'static str,
}

/// Discard with a reason.
#[utoipa::path(
    post,
    path = "/api/v1/dead-letters/{id}/discard",
    tag = "dead-letters",
    params(("id" = String, Path, description = "Dead-letter id", min_length = 1, max_length = 256, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")),
    request_body(content = DiscardRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Discarded", body = DiscardResponse),
        (status = 409, description = "Already resolved or discarded", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn discard(
    Operator(principal): Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<DiscardResponse>, ApiError> {
    let reason = json_body::<DiscardRequest>(&body)?
        .map(|b| b.reason.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::BadRequest("give a non-empty reason".into()))?;
    if reason.chars().count() > MAX_REASON || reason.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "reason must be at most {MAX_REASON} characters without NUL"
        )));
    }
    let summary = load(&state, &id).await?.summary;
    let mut tx = state.pool.begin().await?;
    let (status, _) = dead_letters::lock(&mut tx, &id)
        .await?
        .ok_or(ApiError::NotFound("dead letter"))?;
    ensure_actionable(&status)?;
    dead_letters::record_discard(&mut tx, &summary, &principal.name, &reason).await?;
    tx.commit().await?;
    tracing::info!(dead_letter = %id, actor = %principal.name, "Dead letter discarded.");
    Ok(Json(DiscardResponse {
        dead_letter_id: id,
        status: "discarded",
    }))
}

//! Bulk requeue and discard of a filtered set of open dead letters.
//!
//! Two steps: `POST /api/v1/dead-letters/bulk/dry-run` names the set (count,
//! ids) and a token bound to it; `POST /api/v1/dead-letters/bulk` acts only
//! when the same action and filter still select exactly that set (else 409,
//! nothing changes). The token is a hash of the action, the filter and the
//! ids, so it needs no server-side state and any replica can check it.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use crmerp_proto::{EventEnvelope, Message as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::dead_letters::{MAX_REASON, json_body};
use super::text;
use crate::AppState;
use crate::auth::Operator;
use crate::error::{ApiError, Problem};
use crate::store::dead_letters::{self, DeadLetterFilter};

/// Most dead letters one bulk action takes; a larger set must be narrowed.
pub const MAX_BULK: i64 = 500;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dead-letters/bulk/dry-run", post(dry_run))
        .route("/api/v1/dead-letters/bulk", post(apply))
}

/// What to do with every dead letter of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BulkAction {
    /// Requeue each as is (an earlier correction travels with it).
    Requeue,
    /// Discard each with the given reason.
    Discard,
}

/// Which open dead letters: every field optional (none selects all open
/// ones), none empty; the same meaning as the list's parameters.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    /// e.g. `deal-to-order`.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Error category, e.g. `missing_data`.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The CRM record's id.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_record_id: Option<String>,
    /// The recommended resolution code, e.g. `add_missing_field:shipping_address`.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*$"
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_code: Option<String>,
    /// Dead-lettered at least this many minutes ago (at most a year).
    #[schema(minimum = 0, maximum = 525_600)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age_minutes: Option<i64>,
    /// Dead-lettered at most this many minutes ago (at most a year).
    #[schema(minimum = 0, maximum = 525_600)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_minutes: Option<i64>,
}

impl BulkFilter {
    /// Checks every field as the list's parameters are checked.
    fn to_filter(&self) -> Result<DeadLetterFilter, ApiError> {
        let now = Utc::now();
        let minutes = |name: &str, value: Option<i64>| -> Result<Option<_>, ApiError> {
            match value {
                Some(m) if !(0..=525_600).contains(&m) => Err(ApiError::BadRequest(format!(
                    "filter.{name} must be an integer from 0 to 525600"
                ))),
                Some(m) => Ok(Some(now - Duration::minutes(m))),
                None => Ok(None),
            }
        };
        Ok(DeadLetterFilter {
            flow: text("filter.flow", self.flow.clone())?,
            category: text("filter.category", self.category.clone())?,
            status: None,
            crm_record_id: text("filter.crm_record_id", self.crm_record_id.clone())?,
            resolution_code: text("filter.resolution_code", self.resolution_code.clone())?,
            older_than: minutes("min_age_minutes", self.min_age_minutes)?,
            newer_than: minutes("max_age_minutes", self.max_age_minutes)?,
        })
    }
}

/// A filter must be a JSON object: serde would also build the struct from
/// an array of its fields in order, which the API does not promise.
fn filter_object<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BulkFilter, D::Error> {
    let object = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
    serde_json::from_value(serde_json::Value::Object(object)).map_err(serde::de::Error::custom)
}

/// Body of a dry run.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// The action the set is for.
    action: BulkAction,
    /// Which open dead letters.
    #[serde(default, deserialize_with = "filter_object")]
    filter: BulkFilter,
}

/// The set a bulk action would take.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkPlan {
    /// The action.
    pub action: BulkAction,
    /// How many open dead letters match.
    pub count: usize,
    /// Their ids, oldest first.
    pub ids: Vec<String>,
    /// Pass to `POST /api/v1/dead-letters/bulk` with the same action and
    /// filter; refused if the set is no longer exactly these ids.
    pub token: String,
}

/// Body of a bulk action: the dry run's action, filter and token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// The action (as in the dry run).
    action: BulkAction,
    /// The filter (as in the dry run).
    #[serde(default, deserialize_with = "filter_object")]
    filter: BulkFilter,
    /// The dry run's token.
    #[schema(min_length = 64, max_length = 64, pattern = "^[0-9a-f]{64}$")]
    token: String,
    /// Why (required for `discard`; at most 2,000 characters, no NUL).
    #[schema(min_length = 1, max_length = 2000, pattern = r"^[^\x00]*$")]
    #[serde(default)]
    reason: Option<String>,
}

/// One dead letter of a bulk action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkItem {
    /// The dead letter.
    pub dead_letter_id: String,
    /// The event its requeue published (requeue only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requeued_event_id: Option<String>,
}

/// What a bulk action did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    /// Id of the bulk action (the audit entry's `causation_id`).
    pub bulk_id: String,
    /// The action.
    pub action: BulkAction,
    /// How many dead letters it took.
    pub count: usize,
    /// Each of them, oldest first.
    pub items: Vec<BulkItem>,
}

/// The token of a set: hex SHA-256 over the action, the filter and the ids.
fn token(action: BulkAction, filter: &BulkFilter, ids: &[String]) -> String {
    let canonical = serde_json::json!({"action": action, "filter": filter, "ids": ids});
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn too_many() -> ApiError {
    ApiError::Unprocessable(format!(
        "more than {MAX_BULK} open dead letters match; narrow the filter"
    ))
}

/// Dry run: the open dead letters a bulk action with this filter would take,
/// and the token that binds the action to exactly them. Changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/dead-letters/bulk/dry-run",
    tag = "dead-letters",
    request_body(content = DryRunRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The set and its token", body = BulkPlan),
        (status = 422, description = "More than 500 dead letters match", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn dry_run(
    Operator(_): Operator,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<BulkPlan>, ApiError> {
    let request: DryRunRequest = json_body(&body)?
        .ok_or_else(|| ApiError::BadRequest("give the action and the filter".into()))?;
    let filter = request.filter.to_filter()?;
    let mut tx = state.pool.begin().await?;
    let ids = dead_letters::open_ids(&mut tx, &filter, MAX_BULK + 1, false).await?;
    tx.rollback().await?;
    if ids.len() as i64 > MAX_BULK {
        return Err(too_many());
    }
    Ok(Json(BulkPlan {
        action: request.action,
        count: ids.len(),
        token: token(request.action, &request.filter, &ids),
        ids,
    }))
}

/// Requeue or discard the set a dry run named, all or nothing: refused (409)
/// when the action and filter no longer select exactly that set. Audited once
/// for the set (`monitoring.dead_letters.bulk_requeued` / `bulk_discarded`,
/// with the filter, count and ids) and once per dead letter.
#[utoipa::path(
    post,
    path = "/api/v1/dead-letters/bulk",
    tag = "dead-letters",
    request_body(content = BulkRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Done", body = BulkResult),
        (status = 409, description = "The set changed since the dry run", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "More than 500 dead letters match", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn apply(
    Operator(principal): Operator,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<BulkResult>, ApiError> {
    let request: BulkRequest = json_body(&body)?
        .ok_or_else(|| ApiError::BadRequest("give the action, filter and token".into()))?;
    let filter = request.filter.to_filter()?;
    let reason = match request.action {
        BulkAction::Discard => {
            let reason = request
                .reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| ApiError::BadRequest("give a non-empty reason".into()))?;
            if reason.chars().count() > MAX_REASON || reason.contains('\0') {
                return Err(ApiError::BadRequest(format!(
                    "reason must be at most {MAX_REASON} characters without NUL"
                )));
            }
            Some(reason.to_owned())
        }
        BulkAction::Requeue if request.reason.is_some() => {
            return Err(ApiError::BadRequest(
                "reason is for discard only; a requeue takes none".into(),
            ));
        }
        BulkAction::Requeue => None,
    };
    let mut tx = state.pool.begin().await?;
    let ids = dead_letters::open_ids(&mut tx, &filter, MAX_BULK + 1, true).await?;
    if ids.len() as i64 > MAX_BULK {
        return Err(too_many());
    }
    if token(request.action, &request.filter, &ids) != request.token {
        return Err(ApiError::Conflict(format!(
            "the set changed since the dry run (now {} open dead letters match); run the dry run again",
            ids.len()
        )));
    }
    let bulk_id = uuid::Uuid::now_v7().to_string();
    let mut items = Vec::with_capacity(ids.len());
    for id in &ids {
        let stored = dead_letters::get_in(&mut tx, id)
            .await?
            .ok_or(ApiError::NotFound("dead letter"))?;
        let requeued_event_id = match request.action {
            BulkAction::Requeue => {
                Some(requeue_one(&state, &mut tx, stored, &principal.name).await?)
            }
            BulkAction::Discard => {
                let reason = reason.as_deref().unwrap_or_default();
                dead_letters::record_discard(&mut tx, &stored.summary, &principal.name, reason)
                    .await?;
                None
            }
        };
        items.push(BulkItem {
            dead_letter_id: id.clone(),
            requeued_event_id,
        });
    }
    let action = match request.action {
        BulkAction::Requeue => "bulk_requeued",
        BulkAction::Discard => "bulk_discarded",
    };
    let detail = serde_json::json!({"bulkId": bulk_id, "filter": request.filter,
        "count": ids.len(), "deadLetterIds": ids, "reason": reason});
    dead_letters::record_bulk(
        &mut tx,
        &bulk_id,
        action,
        request.filter.flow.as_deref().unwrap_or_default(),
        &principal.name,
        detail,
    )
    .await?;
    tx.commit().await?;
    if request.action == BulkAction::Requeue {
        for id in &ids {
            dead_letters::resolve_if_already_succeeded(&state.pool, id).await?;
        }
        metrics::counter!("crmerp_monitoring_requeues_total").increment(ids.len() as u64);
    }
    tracing::info!(bulk_id = %bulk_id, action, count = ids.len(), actor = %principal.name, "Bulk dead-letter action done.");
    Ok(Json(BulkResult {
        bulk_id,
        action: request.action,
        count: ids.len(),
        items,
    }))
}

/// Requeues one locked dead letter as is (an earlier correction travels with
/// it), recorded in the caller's transaction before the publish, as a single
/// requeue is. A publish refused half-way rolls every record back; the
/// events already published keep their ids, so a retried bulk action
/// publishes the same ids and JetStream de-duplicates them.
async fn requeue_one(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    stored: dead_letters::StoredDeadLetter,
    actor: &str,
) -> Result<String, ApiError> {
    let id = &stored.summary.id;
    let envelope = EventEnvelope::decode(stored.envelope.as_slice())
        .map_err(|e| anyhow::anyhow!("stored dead letter {id} does not decode: {e}"))?;
    let corrected = stored
        .corrected_event
        .as_deref()
        .map(EventEnvelope::decode)
        .transpose()
        .map_err(|e| anyhow::anyhow!("stored correction of {id} does not decode: {e}"))?;
    let attempt = u32::try_from(stored.summary.requeue_event_ids.len()).unwrap_or(0) + 1;
    let (_, event) = crmerp_flow::requeue::requeued_event(&envelope, corrected.clone(), attempt)
        .map_err(|e| ApiError::Conflict(format!("dead letter {id}: {e}")))?;
    dead_letters::record_requeue(tx, &stored.summary, &event.id, actor, None, None).await?;
    crmerp_flow::requeue::requeue(&state.js, &envelope, corrected, attempt)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_binds_action_filter_and_ids() {
        let filter = BulkFilter {
            flow: Some("deal-to-order".into()),
            ..BulkFilter::default()
        };
        let ids = vec!["a".to_owned(), "b".to_owned()];
        let base = token(BulkAction::Requeue, &filter, &ids);
        assert_eq!(base.len(), 64);
        assert_eq!(base, token(BulkAction::Requeue, &filter, &ids));
        assert_ne!(base, token(BulkAction::Discard, &filter, &ids));
        assert_ne!(
            base,
            token(BulkAction::Requeue, &BulkFilter::default(), &ids)
        );
        assert_ne!(base, token(BulkAction::Requeue, &filter, &ids[..1]));
    }

    #[test]
    fn a_filter_is_an_object_of_known_fields() {
        let parse = |body: &str| serde_json::from_str::<DryRunRequest>(body);
        assert!(parse(r#"{"action": "requeue", "filter": {"flow": "x"}}"#).is_ok());
        assert!(parse(r#"{"action": "requeue"}"#).is_ok());
        for bad in [
            r#"{"action": "requeue", "filter": [null, null]}"#,
            r#"{"action": "requeue", "filter": null}"#,
            r#"{"action": "requeue", "filter": {"colour": "red"}}"#,
            r#"{"action": "requeue", "filter": {"min_age_minutes": "5"}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

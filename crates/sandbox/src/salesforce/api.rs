//! `/services/data/{version}/...`: sObject rows, relationships, sObject
//! Collections, composite requests, query pages and limits. One dispatcher
//! serves both top-level requests and composite sub-requests.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::SfError;
use super::store::{self, normalize_id, project, spec};

/// A successful answer: status and optional body.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<Value>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
        }
    }
}

pub(crate) async fn handle(
    State(shared): State<AppState>,
    method: Method,
    Path((version, rest)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let body = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(value) => Some(value),
            Err(error) => return SfError::json(error.to_string()).into_response(),
        }
    };
    match dispatch(
        &shared,
        &method,
        &version,
        &rest,
        query.as_deref().unwrap_or(""),
        body,
    ) {
        Ok(Reply {
            status,
            body: Some(body),
        }) => (status, Json(body)).into_response(),
        Ok(Reply { status, body: None }) => status.into_response(),
        Err(error) => error.into_response(),
    }
}

fn params(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Routes one request below `/services/data/{version}/`.
pub(crate) fn dispatch(
    shared: &AppState,
    method: &Method,
    version: &str,
    rest: &str,
    query: &str,
    body: Option<Value>,
) -> Result<Reply, SfError> {
    let number = version
        .strip_prefix('v')
        .and_then(|v| v.parse::<f32>().ok());
    if number.is_none_or(|n| n < 31.0) {
        return Err(SfError::not_found());
    }
    let q = params(query);
    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["limits"]) => {
            let used = shared.data.read().api_requests;
            let max = shared.config.daily_api_limit;
            Ok(Reply::ok(
                json!({ "DailyApiRequests": { "Max": max, "Remaining": max.saturating_sub(used) } }),
            ))
        }
        ("POST", ["sobjects", object]) => {
            let spec = spec(object)?;
            let fields = object_body(body)?;
            let (id, won) = {
                let mut data = shared.data.write();
                let id = data.create(spec, fields)?;
                let won = data.get(spec.name, &id).filter(|r| is_won(r)).map(stage);
                (id, won)
            };
            if let Some(stage) = won {
                shared.notifier.won(&id, &stage);
            }
            Ok(Reply {
                status: StatusCode::CREATED,
                body: Some(json!({ "id": id, "success": true, "errors": [] })),
            })
        }
        ("GET", ["sobjects", object, id]) => {
            let spec = spec(object)?;
            let id = normalize_id(id)?;
            let data = shared.data.read();
            let record = data.get(spec.name, &id).ok_or_else(SfError::not_found)?;
            project(spec, record, q.get("fields").map(String::as_str), version).map(Reply::ok)
        }
        ("PATCH", ["sobjects", object, id]) => {
            let spec = spec(object)?;
            let id = normalize_id(id)?;
            let fields = object_body(body)?;
            let (before, after) = shared.data.write().update(spec, &id, fields)?;
            if !is_won(&before) && is_won(&after) {
                shared.notifier.won(&id, &stage(&after));
            }
            Ok(Reply {
                status: StatusCode::NO_CONTENT,
                body: None,
            })
        }
        ("DELETE", ["sobjects", object, id]) => {
            let spec = spec(object)?;
            let id = normalize_id(id)?;
            shared.data.write().delete(spec, &id)?;
            Ok(Reply {
                status: StatusCode::NO_CONTENT,
                body: None,
            })
        }
        ("GET", ["sobjects", "Opportunity", id, "OpportunityLineItems"]) => {
            let id = normalize_id(id)?;
            let data = shared.data.read();
            data.get("Opportunity", &id)
                .ok_or_else(SfError::not_found)?;
            let lines = data.lines_of(&id);
            page(
                shared,
                version,
                &id,
                &lines,
                0,
                q.get("fields").map(String::as_str),
            )
        }
        ("GET", ["sobjects", "Opportunity", id, "Tasks"]) => {
            // The opportunity's Tasks related list (child relationship of Task.WhatId).
            let id = normalize_id(id)?;
            let data = shared.data.read();
            data.get("Opportunity", &id)
                .ok_or_else(SfError::not_found)?;
            let task = spec("Task")?;
            let records = data
                .records
                .get("Task")
                .into_iter()
                .flat_map(|tasks| tasks.values())
                .filter(|t| {
                    t.get("WhatId")
                        .and_then(Value::as_str)
                        .and_then(|w| normalize_id(w).ok())
                        .as_deref()
                        == Some(id.as_str())
                })
                .map(|t| project(task, t, q.get("fields").map(String::as_str), version))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Reply::ok(
                json!({ "totalSize": records.len(), "done": true, "records": records }),
            ))
        }
        ("GET", ["query", locator]) => {
            // Locators are `<opportunity id>-<offset>-<fields>`, opaque to callers.
            let mut parts = locator.splitn(3, '-');
            let (Some(opp), Some(offset)) = (
                parts.next(),
                parts.next().and_then(|o| o.parse::<usize>().ok()),
            ) else {
                return Err(SfError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_QUERY_LOCATOR",
                    "invalid query locator",
                ));
            };
            let fields = parts.next().filter(|f| !f.is_empty()).map(str::to_owned);
            let lines = shared.data.read().lines_of(opp);
            page(shared, version, opp, &lines, offset, fields.as_deref())
        }
        ("GET", ["composite", "sobjects", object]) => {
            let spec = spec(object)?;
            let ids = q.get("ids").ok_or_else(|| {
                SfError::new(
                    StatusCode::BAD_REQUEST,
                    "MALFORMED_QUERY",
                    "ids is required",
                )
            })?;
            let data = shared.data.read();
            let mut records = Vec::new();
            for id in ids.split(',').filter(|s| !s.is_empty()).take(2000) {
                let record = normalize_id(id)
                    .ok()
                    .and_then(|id| data.get(spec.name, &id).cloned());
                records.push(match record {
                    Some(r) => project(spec, &r, q.get("fields").map(String::as_str), version)?,
                    None => Value::Null,
                });
            }
            Ok(Reply::ok(Value::Array(records)))
        }
        ("POST", ["composite"]) => super::composite::run(shared, version, body),
        _ => Err(SfError::not_found()),
    }
}

fn is_won(record: &Map<String, Value>) -> bool {
    record.get("IsWon").and_then(Value::as_bool) == Some(true)
}

fn stage(record: &Map<String, Value>) -> String {
    record
        .get("StageName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn object_body(body: Option<Value>) -> Result<Map<String, Value>, SfError> {
    match body {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(SfError::json("Expected a JSON object of field values")),
    }
}

/// One page of an opportunity's line items, with `nextRecordsUrl` while more remain.
fn page(
    shared: &AppState,
    version: &str,
    opp: &str,
    lines: &[Map<String, Value>],
    offset: usize,
    fields: Option<&str>,
) -> Result<Reply, SfError> {
    let spec = store::spec("OpportunityLineItem")?;
    let size = shared.config.page_size.max(1);
    let records = lines
        .iter()
        .skip(offset)
        .take(size)
        .map(|l| project(spec, l, fields, version))
        .collect::<Result<Vec<_>, _>>()?;
    let next = offset + size;
    let mut body =
        json!({ "totalSize": lines.len(), "done": next >= lines.len(), "records": records });
    if next < lines.len() {
        body["nextRecordsUrl"] = json!(format!(
            "/services/data/{version}/query/{opp}-{next}-{}",
            fields.unwrap_or_default()
        ));
    }
    Ok(Reply::ok(body))
}

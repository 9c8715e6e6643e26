//! Batch endpoints (`batch/read`, `batch/create`, `batch/update`) and search.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::HsError;
use super::objects::{
    IdValue, OBJECT_PREFIXES, ObjectInput, TypePath, UpdateInput, commit_create, prepare_create,
    update_object,
};
use super::render::{Selection, render};
use super::schema::ObjectType;
use super::store::{CrmObject, HubSpotData};
use super::{AppState, object_type, parse_body};
use crate::util::rfc3339_millis;

/// Largest batch HubSpot accepts.
const MAX_BATCH: usize = 100;

pub(super) fn routes() -> Router<AppState> {
    OBJECT_PREFIXES
        .iter()
        .fold(Router::new(), |router, prefix| {
            router
                .route(
                    &format!("{prefix}/{{object_type}}/batch/read"),
                    post(batch_read),
                )
                .route(
                    &format!("{prefix}/{{object_type}}/batch/create"),
                    post(batch_create),
                )
                .route(
                    &format!("{prefix}/{{object_type}}/batch/update"),
                    post(batch_update),
                )
                .route(
                    &format!("{prefix}/{{object_type}}/search"),
                    post(super::search::search),
                )
        })
}

#[derive(Debug, Deserialize)]
struct IdInput {
    id: IdValue,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchReadInput {
    inputs: Vec<IdInput>,
    #[serde(default)]
    properties: Vec<String>,
    id_property: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BatchCreateInput {
    inputs: Vec<ObjectInput>,
}

#[derive(Debug, Deserialize)]
struct UpdateItem {
    id: IdValue,
    #[serde(flatten)]
    update: UpdateInput,
}

#[derive(Debug, Deserialize)]
struct BatchUpdateInput {
    inputs: Vec<UpdateItem>,
}

fn check_batch_size(len: usize) -> Result<(), HsError> {
    if len > MAX_BATCH {
        return Err(HsError::validation(format!(
            "Batch input size of {len} exceeds the limit of {MAX_BATCH}."
        )));
    }
    Ok(())
}

/// `{"status":"COMPLETE","results",...}`, with 207 and `errors` when some ids were missing.
fn batch_response(
    object_type: ObjectType,
    results: Vec<Value>,
    missing: &[String],
    started: chrono::DateTime<Utc>,
    ok_status: StatusCode,
) -> Response {
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": rfc3339_millis(started),
        "completedAt": rfc3339_millis(Utc::now()),
    });
    if missing.is_empty() {
        return (ok_status, Json(body)).into_response();
    }
    body["numErrors"] = json!(1);
    body["errors"] = json!([{
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!(
            "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
            object_type.upper_singular()
        ),
        "context": { "ids": missing },
    }]);
    (StatusCode::MULTI_STATUS, Json(body)).into_response()
}

fn lookup<'a>(
    data: &'a HubSpotData,
    object_type: ObjectType,
    id: &str,
    id_property: Option<&str>,
) -> Option<&'a CrmObject> {
    match id_property {
        Some(property) if property != "hs_object_id" => {
            data.find_by_property(object_type, property, id)
        }
        _ => id.parse().ok().and_then(|id| data.get(object_type, id)),
    }
}

async fn batch_read(
    State(shared): State<AppState>,
    Path(path): Path<TypePath>,
    body: Bytes,
) -> Result<Response, HsError> {
    let started = Utc::now();
    let object_type = object_type(&path.object_type)?;
    let input: BatchReadInput = parse_body(&body)?;
    check_batch_size(input.inputs.len())?;
    let selection = if input.properties.is_empty() {
        Selection::Default
    } else {
        Selection::Listed(&input.properties)
    };
    let data = shared.data.read();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for item in &input.inputs {
        let id = item.id.as_string();
        match lookup(&data, object_type, &id, input.id_property.as_deref()) {
            Some(object) => results.push(render(&data, object_type, object, selection, &[])),
            None => missing.push(id),
        }
    }
    Ok(batch_response(
        object_type,
        results,
        &missing,
        started,
        StatusCode::OK,
    ))
}

async fn batch_create(
    State(shared): State<AppState>,
    Path(path): Path<TypePath>,
    body: Bytes,
) -> Result<Response, HsError> {
    let started = Utc::now();
    let object_type = object_type(&path.object_type)?;
    let input: BatchCreateInput = parse_body(&body)?;
    check_batch_size(input.inputs.len())?;
    let mut data = shared.data.write();
    // Validate everything first so a bad input creates nothing, as HubSpot does.
    let prepared = input
        .inputs
        .iter()
        .map(|item| prepare_create(&shared, &data, object_type, item))
        .collect::<Result<Vec<_>, _>>()?;
    let mut results = Vec::new();
    for item in prepared {
        let id = commit_create(&shared, &mut data, object_type, item, Utc::now());
        if let Some(object) = data.get(object_type, id) {
            results.push(render(&data, object_type, object, Selection::AllSet, &[]));
        }
    }
    Ok(batch_response(
        object_type,
        results,
        &[],
        started,
        StatusCode::CREATED,
    ))
}

async fn batch_update(
    State(shared): State<AppState>,
    Path(path): Path<TypePath>,
    body: Bytes,
) -> Result<Response, HsError> {
    let started = Utc::now();
    let object_type = object_type(&path.object_type)?;
    let input: BatchUpdateInput = parse_body(&body)?;
    check_batch_size(input.inputs.len())?;
    let mut data = shared.data.write();
    for item in &input.inputs {
        super::properties::validate(
            &data,
            object_type,
            &item.update.properties,
            false,
            shared.config.portal_id,
        )?;
    }
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for item in &input.inputs {
        let id = item.id.as_string();
        let Some(numeric) = id.parse::<u64>().ok() else {
            missing.push(id);
            continue;
        };
        match update_object(
            &shared,
            &mut data,
            object_type,
            numeric,
            &item.update,
            Utc::now(),
        )? {
            Some(()) => {
                if let Some(object) = data.get(object_type, numeric) {
                    results.push(render(&data, object_type, object, Selection::AllSet, &[]));
                }
            }
            None => missing.push(id),
        }
    }
    Ok(batch_response(
        object_type,
        results,
        &missing,
        started,
        StatusCode::OK,
    ))
}

//! Association endpoints: v4 (`/crm/v4/objects/...`) and the v3 list form.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::association_types::{self, HUBSPOT_DEFINED};
use super::error::HsError;
use super::objects::{AssociationSpec, association_def, invalid_association};
use super::render::{v3_association_results, v4_association_types};
use super::schema::ObjectType;
use super::store::HubSpotData;
use super::{AppState, object_type, parse_body};
use crate::util::{parse_query, query_value, rfc3339_millis};

/// Default and largest page of a v4 association list.
const V4_PAGE: usize = 500;

pub(super) fn routes() -> Router<AppState> {
    let v4 = "/crm/v4/objects/{object_type}/{object_id}/associations";
    let dated = "/crm/objects/{version}/{object_type}/{object_id}/associations";
    let mut router = Router::new().route(
        "/crm/v3/objects/{object_type}/{object_id}/associations/{to_type}",
        get(list_v3),
    );
    for prefix in [v4, dated] {
        router = router
            .route(&format!("{prefix}/{{to_type}}"), get(list_v4))
            .route(
                &format!("{prefix}/default/{{to_type}}/{{to_id}}"),
                put(associate_default),
            )
            .route(
                &format!("{prefix}/{{to_type}}/{{to_id}}"),
                put(associate_labelled).delete(remove),
            );
    }
    router
}

#[derive(Debug, Deserialize)]
struct ListPath {
    #[serde(rename = "object_type")]
    from_type: String,
    #[serde(rename = "object_id")]
    from_id: String,
    to_type: String,
}

#[derive(Debug, Deserialize)]
struct PairPath {
    #[serde(rename = "object_type")]
    from_type: String,
    #[serde(rename = "object_id")]
    from_id: String,
    to_type: String,
    to_id: String,
}

/// Both objects of a pair path, checked to exist.
struct Pair {
    from: ObjectType,
    from_id: u64,
    to: ObjectType,
    to_id: u64,
}

fn resolve_pair(data: &HubSpotData, path: &PairPath) -> Result<Pair, HsError> {
    let from = object_type(&path.from_type)?;
    let to = object_type(&path.to_type)?;
    let existing = |object_type: ObjectType, raw: &str| {
        raw.parse::<u64>()
            .ok()
            .filter(|id| data.get(object_type, *id).is_some())
            .ok_or_else(|| {
                invalid_association(
                    format!("{} {raw} does not exist.", object_type.type_id()),
                    "INVALID_OBJECT_ID",
                )
            })
    };
    Ok(Pair {
        from,
        from_id: existing(from, &path.from_id)?,
        to,
        to_id: existing(to, &path.to_id)?,
    })
}

async fn list_v4(
    State(shared): State<AppState>,
    Path(path): Path<ListPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, HsError> {
    let from = object_type(&path.from_type)?;
    let to = object_type(&path.to_type)?;
    let query = parse_query(query.as_deref());
    let limit = query_value(&query, "limit")
        .and_then(|raw| raw.parse::<usize>().ok())
        .unwrap_or(V4_PAGE)
        .clamp(1, V4_PAGE);
    let after = query_value(&query, "after")
        .and_then(|raw| raw.parse::<u64>().ok())
        .unwrap_or(0);
    let data = shared.data.read();
    let targets = path
        .from_id
        .parse::<u64>()
        .ok()
        .and_then(|id| data.get(from, id))
        .and_then(|object| object.associations.get(&to));
    let mut page: Vec<Value> = Vec::new();
    let mut next = None;
    for (to_id, type_ids) in targets
        .into_iter()
        .flat_map(|targets| targets.range(after..))
    {
        if type_ids.is_empty() {
            continue;
        }
        if page.len() == limit {
            next = Some(*to_id);
            break;
        }
        page.push(json!({
            "toObjectId": to_id,
            "associationTypes": v4_association_types(from, to, type_ids),
        }));
    }
    let mut body = json!({ "results": page });
    if let Some(next) = next {
        body["paging"] = json!({ "next": { "after": next.to_string(), "link": null } });
    }
    Ok(Json(body))
}

async fn list_v3(
    State(shared): State<AppState>,
    Path(path): Path<ListPath>,
) -> Result<Json<Value>, HsError> {
    let from = object_type(&path.from_type)?;
    let to = object_type(&path.to_type)?;
    let data = shared.data.read();
    let object = path
        .from_id
        .parse::<u64>()
        .ok()
        .and_then(|id| data.get(from, id))
        .ok_or_else(|| HsError::object_not_found(&path.from_id))?;
    Ok(Json(
        json!({ "results": v3_association_results(from, object, to) }),
    ))
}

async fn associate_default(
    State(shared): State<AppState>,
    Path(path): Path<PairPath>,
) -> Result<Json<Value>, HsError> {
    let started = Utc::now();
    let mut data = shared.data.write();
    let pair = resolve_pair(&data, &path)?;
    let def = association_types::default_association(pair.from, pair.to).ok_or_else(|| {
        invalid_association(
            format!(
                "No default association exists from {} to {}.",
                pair.from.type_id(),
                pair.to.type_id()
            ),
            "INVALID_ASSOCIATION_TYPE",
        )
    })?;
    data.associate(def, pair.from_id, pair.to_id);
    Ok(Json(json!({
        "status": "COMPLETE",
        "results": [{
            "from": { "id": pair.from_id.to_string() },
            "to": { "id": pair.to_id.to_string() },
            "associationSpec": {
                "associationCategory": HUBSPOT_DEFINED,
                "associationTypeId": def.type_id,
            },
        }],
        "startedAt": rfc3339_millis(started),
        "completedAt": rfc3339_millis(Utc::now()),
    })))
}

async fn associate_labelled(
    State(shared): State<AppState>,
    Path(path): Path<PairPath>,
    body: Bytes,
) -> Result<Response, HsError> {
    let specs: Vec<AssociationSpec> = parse_body(&body)?;
    if specs.is_empty() {
        return Err(HsError::validation(
            "At least one association type is required.",
        ));
    }
    let mut data = shared.data.write();
    let pair = resolve_pair(&data, &path)?;
    let defs = specs
        .iter()
        .map(|spec| association_def(pair.from, Some(pair.to), spec))
        .collect::<Result<Vec<_>, _>>()?;
    for def in &defs {
        data.associate(def, pair.from_id, pair.to_id);
    }
    let labels: Vec<&str> = defs.iter().filter_map(|def| def.label).collect();
    let body = json!({
        "fromObjectTypeId": pair.from.type_id(),
        "fromObjectId": pair.from_id,
        "toObjectTypeId": pair.to.type_id(),
        "toObjectId": pair.to_id,
        "labels": labels,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn remove(
    State(shared): State<AppState>,
    Path(path): Path<PairPath>,
) -> Result<StatusCode, HsError> {
    let from = object_type(&path.from_type)?;
    let to = object_type(&path.to_type)?;
    if let (Ok(from_id), Ok(to_id)) = (path.from_id.parse(), path.to_id.parse()) {
        shared.data.write().dissociate(from, from_id, to, to_id);
    }
    Ok(StatusCode::NO_CONTENT)
}

//! Single-object v3 endpoints: create, read, update, archive and list.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::association_types::{self, AssociationDef, HUBSPOT_DEFINED};
use super::error::HsError;
use super::render::{Selection, render};
use super::schema::ObjectType;
use super::store::{CrmObject, HubSpotData};
use super::{AppState, Shared, base_url, object_type, parse_body, properties};
use crate::util::{parse_query, query_list, query_value};

/// Largest page of a list request.
const MAX_LIST_LIMIT: usize = 100;

/// Path prefixes the object endpoints live under (v3 and date-versioned).
pub(super) const OBJECT_PREFIXES: [&str; 2] = ["/crm/v3/objects", "/crm/objects/{version}"];

pub(super) fn routes() -> Router<AppState> {
    OBJECT_PREFIXES
        .iter()
        .fold(Router::new(), |router, prefix| {
            router
                .route(&format!("{prefix}/{{object_type}}"), get(list).post(create))
                .route(
                    &format!("{prefix}/{{object_type}}/{{object_id}}"),
                    get(read).patch(update).delete(archive),
                )
        })
}

/// `{object_type}` path parameters.
#[derive(Debug, Deserialize)]
pub(super) struct TypePath {
    pub(super) object_type: String,
}

/// `{object_type}/{object_id}` path parameters.
#[derive(Debug, Deserialize)]
pub(super) struct ObjectPath {
    object_type: String,
    object_id: String,
}

/// An id given as a string or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum IdValue {
    /// `"123"`.
    Text(String),
    /// `123`.
    Number(u64),
}

impl IdValue {
    /// The id as a string.
    pub(super) fn as_string(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Number(number) => number.to_string(),
        }
    }
}

/// Body of a create (also one input of a batch create).
#[derive(Debug, Deserialize)]
pub(super) struct ObjectInput {
    #[serde(default)]
    pub(super) properties: Map<String, Value>,
    #[serde(default)]
    pub(super) associations: Vec<AssociationInput>,
}

/// One inline association of a create.
#[derive(Debug, Deserialize)]
pub(super) struct AssociationInput {
    to: AssociationTarget,
    types: Vec<AssociationSpec>,
}

#[derive(Debug, Deserialize)]
struct AssociationTarget {
    id: IdValue,
}

/// `{"associationCategory","associationTypeId"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AssociationSpec {
    pub(super) association_category: String,
    pub(super) association_type_id: u32,
}

/// Body of an update.
#[derive(Debug, Deserialize)]
pub(super) struct UpdateInput {
    #[serde(default)]
    pub(super) properties: Map<String, Value>,
}

/// An association error of HubSpot's shape.
pub(super) fn invalid_association(message: String, code: &'static str) -> HsError {
    HsError::validation("One or more associations are invalid")
        .with_errors(vec![json!({ "message": message, "code": code })])
}

/// Resolves an association spec from `from` to its definition.
pub(super) fn association_def(
    from: ObjectType,
    to: Option<ObjectType>,
    spec: &AssociationSpec,
) -> Result<&'static AssociationDef, HsError> {
    let def = if spec.association_category == HUBSPOT_DEFINED {
        match to {
            Some(to) => association_types::association_between(from, to, spec.association_type_id),
            None => association_types::association_from(from, spec.association_type_id),
        }
    } else {
        None
    };
    def.ok_or_else(|| {
        invalid_association(
            format!(
                "{} association type {} is not valid from {}",
                spec.association_category,
                spec.association_type_id,
                from.type_id()
            ),
            "INVALID_ASSOCIATION_TYPE",
        )
    })
}

/// Checks inline associations, returning each definition and target id.
fn resolve_associations(
    data: &HubSpotData,
    from: ObjectType,
    inputs: &[AssociationInput],
) -> Result<Vec<(&'static AssociationDef, u64)>, HsError> {
    let mut resolved = Vec::new();
    for input in inputs {
        let raw_id = input.to.id.as_string();
        for spec in &input.types {
            let def = association_def(from, None, spec)?;
            let target = raw_id
                .parse::<u64>()
                .ok()
                .filter(|id| data.get(def.to, *id).is_some());
            let Some(to_id) = target else {
                return Err(invalid_association(
                    format!("{} {raw_id} does not exist.", def.to.type_id()),
                    "INVALID_OBJECT_ID",
                ));
            };
            resolved.push((def, to_id));
        }
    }
    Ok(resolved)
}

/// A validated create, ready to be stored.
pub(super) struct PreparedCreate {
    values: std::collections::BTreeMap<String, String>,
    links: Vec<(&'static AssociationDef, u64)>,
}

/// Validates a create without changing anything.
pub(super) fn prepare_create(
    shared: &Shared,
    data: &HubSpotData,
    object_type: ObjectType,
    input: &ObjectInput,
) -> Result<PreparedCreate, HsError> {
    let values = properties::validate(
        data,
        object_type,
        &input.properties,
        true,
        shared.config.portal_id,
    )?;
    let links = resolve_associations(data, object_type, &input.associations)?;
    Ok(PreparedCreate { values, links })
}

/// Stores a validated create, emits its webhooks and returns the new id.
pub(super) fn commit_create(
    shared: &Shared,
    data: &mut HubSpotData,
    object_type: ObjectType,
    prepared: PreparedCreate,
    now: DateTime<Utc>,
) -> u64 {
    let id = data.insert(object_type, prepared.values, now);
    for (def, to_id) in prepared.links {
        data.associate(def, id, to_id);
    }
    if object_type == ObjectType::Deals {
        let stage = data
            .get(object_type, id)
            .and_then(|deal| deal.property("dealstage"));
        shared
            .webhooks
            .deal_created(id, stage.filter(|stage| !stage.is_empty()));
    }
    id
}

/// Validates and applies an update; returns `None` when the object does not exist.
pub(super) fn update_object(
    shared: &Shared,
    data: &mut HubSpotData,
    object_type: ObjectType,
    id: u64,
    input: &UpdateInput,
    now: DateTime<Utc>,
) -> Result<Option<()>, HsError> {
    if data.get(object_type, id).is_none() {
        return Ok(None);
    }
    let values = properties::validate(
        data,
        object_type,
        &input.properties,
        false,
        shared.config.portal_id,
    )?;
    let Some(object) = data.get_mut(object_type, id) else {
        return Ok(None);
    };
    let old_stage = object.property("dealstage");
    object.properties.extend(values);
    object.updated_at = now;
    let new_stage = object.property("dealstage");
    if object_type == ObjectType::Deals
        && new_stage != old_stage
        && let Some(stage) = new_stage.filter(|stage| !stage.is_empty())
    {
        shared.webhooks.deal_stage_changed(id, stage);
    }
    Ok(Some(()))
}

/// Parses `associations=a,b` into object types.
pub(super) fn association_types(names: &[String]) -> Result<Vec<ObjectType>, HsError> {
    names.iter().map(|name| super::object_type(name)).collect()
}

/// Finds an object by id, or by `idProperty` when given.
fn find<'a>(
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

async fn create(
    State(shared): State<AppState>,
    Path(path): Path<TypePath>,
    body: Bytes,
) -> Result<Response, HsError> {
    let object_type = object_type(&path.object_type)?;
    let input: ObjectInput = parse_body(&body)?;
    let mut data = shared.data.write();
    let prepared = prepare_create(&shared, &data, object_type, &input)?;
    let id = commit_create(&shared, &mut data, object_type, prepared, Utc::now());
    let body = data
        .get(object_type, id)
        .map(|object| render(&data, object_type, object, Selection::AllSet, &[]));
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn read(
    State(shared): State<AppState>,
    Path(path): Path<ObjectPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, HsError> {
    let object_type = object_type(&path.object_type)?;
    let query = parse_query(query.as_deref());
    let names = query_list(&query, "properties");
    let associations = association_types(&query_list(&query, "associations"))?;
    let data = shared.data.read();
    let object = find(
        &data,
        object_type,
        &path.object_id,
        query_value(&query, "idProperty"),
    )
    .ok_or_else(|| HsError::object_not_found(&path.object_id))?;
    let selection = if names.is_empty() {
        Selection::Default
    } else {
        Selection::Listed(&names)
    };
    Ok(Json(render(
        &data,
        object_type,
        object,
        selection,
        &associations,
    )))
}

async fn update(
    State(shared): State<AppState>,
    Path(path): Path<ObjectPath>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, HsError> {
    let object_type = object_type(&path.object_type)?;
    let input: UpdateInput = parse_body(&body)?;
    let query = parse_query(query.as_deref());
    let mut data = shared.data.write();
    let id = find(
        &data,
        object_type,
        &path.object_id,
        query_value(&query, "idProperty"),
    )
    .map(|object| object.id)
    .ok_or_else(|| HsError::object_not_found(&path.object_id))?;
    update_object(&shared, &mut data, object_type, id, &input, Utc::now())?
        .ok_or_else(|| HsError::object_not_found(&path.object_id))?;
    let object = data
        .get(object_type, id)
        .ok_or_else(|| HsError::object_not_found(&path.object_id))?;
    Ok(Json(render(
        &data,
        object_type,
        object,
        Selection::AllSet,
        &[],
    )))
}

async fn archive(
    State(shared): State<AppState>,
    Path(path): Path<ObjectPath>,
) -> Result<StatusCode, HsError> {
    let object_type = object_type(&path.object_type)?;
    // HubSpot answers 204 whether or not the object existed.
    if let Ok(id) = path.object_id.parse::<u64>() {
        shared.data.write().archive(object_type, id);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn list(
    State(shared): State<AppState>,
    Path(path): Path<TypePath>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, HsError> {
    let object_type = object_type(&path.object_type)?;
    let query = parse_query(raw_query.as_deref());
    let limit = match query_value(&query, "limit") {
        None => 10,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| HsError::validation(format!("Invalid limit: {raw}")))?
            .clamp(1, MAX_LIST_LIMIT),
    };
    let after = match query_value(&query, "after") {
        None | Some("") => 0,
        Some(raw) => raw
            .parse::<u64>()
            .map_err(|_| HsError::validation(format!("Invalid after: {raw}")))?,
    };
    let names = query_list(&query, "properties");
    let associations = association_types(&query_list(&query, "associations"))?;
    let selection = if names.is_empty() {
        Selection::Default
    } else {
        Selection::Listed(&names)
    };
    let data = shared.data.read();
    let mut page: Vec<&CrmObject> = data
        .objects_from(object_type, after)
        .take(limit + 1)
        .collect();
    let next = (page.len() > limit)
        .then(|| page.pop().map(|object| object.id))
        .flatten();
    let results: Vec<Value> = page
        .iter()
        .map(|object| render(&data, object_type, object, selection, &associations))
        .collect();
    let mut body = json!({ "results": results });
    if let Some(next) = next {
        body["paging"] = json!({
            "next": {
                "after": next.to_string(),
                "link": format!(
                    "{}/crm/v3/objects/{}?limit={limit}&after={next}",
                    base_url(&headers),
                    object_type.name()
                ),
            }
        });
    }
    Ok(Json(body))
}

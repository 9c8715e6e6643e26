//! `POST /crm/v3/objects/{objectType}/search` with filter groups, sorts and paging.

use std::cmp::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::HsError;
use super::objects::{IdValue, TypePath};
use super::render::{Selection, render};
use super::schema::ObjectType;
use super::store::{CrmObject, HubSpotData};
use super::{AppState, object_type, parse_body};

/// Default and largest search page.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 200;
/// HubSpot stops paging search results here.
const MAX_TOTAL: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchInput {
    #[serde(default)]
    filter_groups: Vec<FilterGroup>,
    #[serde(default)]
    sorts: Vec<SortInput>,
    #[serde(default)]
    properties: Vec<String>,
    limit: Option<usize>,
    after: Option<IdValue>,
    query: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FilterGroup {
    #[serde(default)]
    filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: String,
    value: Option<Value>,
    high_value: Option<Value>,
    values: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SortInput {
    Text(String),
    Spec(SortSpec),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SortSpec {
    property_name: String,
    direction: Option<String>,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn compare(left: &str, right: &str) -> Ordering {
    match (left.parse::<f64>(), right.parse::<f64>()) {
        (Ok(left), Ok(right)) => left.partial_cmp(&right).unwrap_or(Ordering::Equal),
        _ => left.cmp(right),
    }
}

fn check_filter(
    data: &HubSpotData,
    object_type: ObjectType,
    filter: &Filter,
) -> Result<(), HsError> {
    const OPERATORS: [&str; 14] = [
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
        "EQ_ANY",
    ];
    if !OPERATORS.contains(&filter.operator.as_str()) {
        return Err(HsError::validation(format!(
            "Invalid operator \"{}\" for property {}",
            filter.operator, filter.property_name
        )));
    }
    if !data.has_property(object_type, &filter.property_name) {
        return Err(HsError::validation(format!(
            "There was a problem with the request: property \"{}\" does not exist",
            filter.property_name
        )));
    }
    Ok(())
}

fn matches(object: &CrmObject, filter: &Filter) -> bool {
    let actual = object
        .property(&filter.property_name)
        .filter(|value| !value.is_empty());
    let expected = filter.value.as_ref().map(text).unwrap_or_default();
    let in_values = |actual: &str| {
        filter
            .values
            .iter()
            .flatten()
            .any(|value| text(value).eq_ignore_ascii_case(actual))
    };
    let token = expected.trim_matches('*').to_lowercase();
    match (filter.operator.as_str(), actual.as_deref()) {
        ("HAS_PROPERTY", found) => found.is_some(),
        ("NOT_HAS_PROPERTY", found) => found.is_none(),
        ("NEQ", found) => found.is_none_or(|found| !found.eq_ignore_ascii_case(&expected)),
        ("NOT_IN", found) => found.is_none_or(|found| !in_values(found)),
        ("NOT_CONTAINS_TOKEN", found) => {
            found.is_none_or(|found| !found.to_lowercase().contains(&token))
        }
        (_, None) => false,
        ("EQ", Some(found)) => found.eq_ignore_ascii_case(&expected),
        ("IN" | "EQ_ANY", Some(found)) => in_values(found),
        ("LT", Some(found)) => compare(found, &expected) == Ordering::Less,
        ("LTE", Some(found)) => compare(found, &expected) != Ordering::Greater,
        ("GT", Some(found)) => compare(found, &expected) == Ordering::Greater,
        ("GTE", Some(found)) => compare(found, &expected) != Ordering::Less,
        ("BETWEEN", Some(found)) => {
            let high = filter.high_value.as_ref().map(text).unwrap_or_default();
            compare(found, &expected) != Ordering::Less
                && compare(found, &high) != Ordering::Greater
        }
        ("CONTAINS_TOKEN", Some(found)) => found.to_lowercase().contains(&token),
        _ => false,
    }
}

fn matches_query(object_type: ObjectType, object: &CrmObject, query: &str) -> bool {
    let needle = query.to_lowercase();
    object_type
        .default_properties()
        .iter()
        .filter_map(|name| object.property(name))
        .any(|value| value.to_lowercase().contains(&needle))
}

/// Handles a search request.
pub(super) async fn search(
    State(shared): State<AppState>,
    Path(path): Path<TypePath>,
    body: Bytes,
) -> Result<Json<Value>, HsError> {
    let object_type = object_type(&path.object_type)?;
    let input: SearchInput = parse_body(&body)?;
    let limit = input.limit.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return Err(HsError::validation(format!(
            "limit must be less than or equal to {MAX_LIMIT}"
        )));
    }
    let offset = match &input.after {
        None => 0,
        Some(after) => {
            let raw = after.as_string();
            raw.parse::<usize>()
                .map_err(|_| HsError::validation(format!("Invalid after: {raw}")))?
        }
    };
    let data = shared.data.read();
    for filter in input.filter_groups.iter().flat_map(|group| &group.filters) {
        check_filter(&data, object_type, filter)?;
    }
    let query = input
        .query
        .as_deref()
        .map(str::trim)
        .filter(|query| !query.is_empty());
    let mut found: Vec<&CrmObject> = data
        .objects(object_type)
        .filter(|object| {
            input.filter_groups.is_empty()
                || input
                    .filter_groups
                    .iter()
                    .any(|group| group.filters.iter().all(|filter| matches(object, filter)))
        })
        .filter(|object| query.is_none_or(|query| matches_query(object_type, object, query)))
        .collect();
    if let Some(sort) = input.sorts.first() {
        let (name, descending) = match sort {
            SortInput::Text(text) => match text.strip_prefix('-') {
                Some(name) => (name.to_owned(), true),
                None => (text.clone(), false),
            },
            SortInput::Spec(spec) => (
                spec.property_name.clone(),
                spec.direction.as_deref() == Some("DESCENDING"),
            ),
        };
        found.sort_by(|left, right| {
            let order = compare(
                &left.property(&name).unwrap_or_default(),
                &right.property(&name).unwrap_or_default(),
            );
            if descending { order.reverse() } else { order }
        });
    }
    let total = found.len();
    let selection = if input.properties.is_empty() {
        Selection::Default
    } else {
        Selection::Listed(&input.properties)
    };
    let results: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(limit)
        .map(|object| render(&data, object_type, object, selection, &[]))
        .collect();
    let next = offset + limit;
    let mut body = json!({ "total": total, "results": results });
    if next < total.min(MAX_TOTAL) {
        body["paging"] = json!({ "next": { "after": next.to_string() } });
    }
    Ok(Json(body))
}

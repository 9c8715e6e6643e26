//! Property validation and the properties API (`/crm/v3/properties/{objectType}`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::HsError;
use super::schema::{ObjectType, READ_ONLY_PROPERTIES, built_in_properties};
use super::store::{CustomProperty, HubSpotData};
use super::{AppState, object_type, owners, parse_body};

/// The property assigning a record to an owner.
const OWNER_PROPERTY: &str = "hubspot_owner_id";

/// Property types the properties API accepts.
const PROPERTY_TYPES: [&str; 7] = [
    "string",
    "number",
    "date",
    "datetime",
    "enumeration",
    "bool",
    "phone_number",
];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/crm/v3/properties/{object_type}",
            get(list_properties).post(create_property),
        )
        .route(
            "/crm/v3/properties/{object_type}/{property_name}",
            get(read_property),
        )
}

/// One invalid property value.
struct Invalid {
    name: String,
    message: String,
    code: &'static str,
}

/// Validates property values the way HubSpot does and converts them to strings.
///
/// Numbers and booleans are accepted and stored as strings; `null` clears a value.
pub(super) fn validate(
    data: &HubSpotData,
    object_type: ObjectType,
    input: &Map<String, Value>,
    creating: bool,
    portal_id: u64,
) -> Result<BTreeMap<String, String>, HsError> {
    let mut values = BTreeMap::new();
    let mut invalid = Vec::new();
    for (name, value) in input {
        let Some(kind) = data.property_kind(object_type, name) else {
            invalid.push(Invalid {
                name: name.clone(),
                message: format!("Property \"{name}\" does not exist"),
                code: "PROPERTY_DOESNT_EXIST",
            });
            continue;
        };
        if READ_ONLY_PROPERTIES.contains(&name.as_str()) {
            invalid.push(Invalid {
                name: name.clone(),
                message: format!("\"{name}\" is a read only property; its value cannot be set."),
                code: "READ_ONLY_VALUE",
            });
            continue;
        }
        let text = match value {
            Value::Null => String::new(),
            Value::String(text) => text.clone(),
            Value::Bool(flag) => flag.to_string(),
            Value::Number(number) => number.to_string(),
            other => other.to_string(),
        };
        if let Some(problem) = check_kind(kind, name, &text) {
            invalid.push(problem);
            continue;
        }
        // The owner property's options are the portal's owners.
        if name == OWNER_PROPERTY && !text.is_empty() && !owners::is_owner(&text) {
            invalid.push(Invalid {
                name: name.clone(),
                message: format!(
                    "{text} was not one of the allowed options: [{}]",
                    owners::owner_ids().join(", ")
                ),
                code: "INVALID_OPTION",
            });
            continue;
        }
        values.insert(name.clone(), text);
    }
    if creating {
        for required in object_type.required_properties() {
            if values.get(*required).is_none_or(String::is_empty) {
                invalid.push(Invalid {
                    name: (*required).to_owned(),
                    message: format!("Property \"{required}\" is required"),
                    code: "REQUIRED_PROPERTY",
                });
            }
        }
    }
    if invalid.is_empty() {
        Ok(values)
    } else {
        Err(invalid_properties(&invalid, portal_id))
    }
}

fn check_kind(kind: &str, name: &str, text: &str) -> Option<Invalid> {
    if text.is_empty() {
        return None;
    }
    let (valid, code, what) = match kind {
        "number" => (
            text.trim().parse::<f64>().is_ok_and(f64::is_finite),
            "INVALID_FLOAT",
            "number",
        ),
        "date" | "datetime" => (is_timestamp(text), "INVALID_DATE", "date"),
        "bool" => (
            matches!(text, "true" | "false"),
            "INVALID_BOOLEAN",
            "boolean",
        ),
        _ => (true, "", ""),
    };
    (!valid).then(|| Invalid {
        name: name.to_owned(),
        message: format!("{text} was not a valid {what}."),
        code,
    })
}

/// HubSpot accepts epoch milliseconds, ISO 8601 date-times and plain dates.
fn is_timestamp(text: &str) -> bool {
    (!text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
        || DateTime::parse_from_rfc3339(text).is_ok()
        || NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
        || NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

fn invalid_properties(invalid: &[Invalid], portal_id: u64) -> HsError {
    let details: Vec<Value> = invalid
        .iter()
        .map(|item| {
            json!({
                "isValid": false,
                "message": item.message,
                "error": item.code,
                "name": item.name,
                "localizedErrorMessage": item.message,
                "portalId": portal_id,
            })
        })
        .collect();
    let errors = invalid
        .iter()
        .map(|item| {
            json!({
                "message": item.message,
                "code": item.code,
                "context": { "propertyName": [item.name] },
            })
        })
        .collect();
    HsError::validation(format!(
        "Property values were not valid: {}",
        Value::Array(details)
    ))
    .with_errors(errors)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PropertyInput {
    name: Option<String>,
    label: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    field_type: Option<String>,
    group_name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    options: Vec<Value>,
    #[serde(default)]
    has_unique_value: bool,
}

async fn list_properties(
    State(shared): State<AppState>,
    Path(object_type_name): Path<String>,
) -> Result<Json<Value>, HsError> {
    let object_type = object_type(&object_type_name)?;
    let data = shared.data.read();
    let results: Vec<Value> = built_in_properties(object_type)
        .map(|property| property.to_json())
        .chain(
            data.custom_properties(object_type)
                .map(CustomProperty::to_json),
        )
        .collect();
    Ok(Json(json!({ "results": results })))
}

async fn read_property(
    State(shared): State<AppState>,
    Path((object_type_name, name)): Path<(String, String)>,
) -> Result<Json<Value>, HsError> {
    let object_type = object_type(&object_type_name)?;
    let data = shared.data.read();
    built_in_properties(object_type)
        .find(|property| property.name == name)
        .map(|property| property.to_json())
        .or_else(|| {
            data.custom_properties(object_type)
                .find(|property| property.name == name)
                .map(CustomProperty::to_json)
        })
        .map(Json)
        .ok_or_else(|| {
            HsError::new(
                StatusCode::NOT_FOUND,
                "OBJECT_NOT_FOUND",
                format!("Unable to find property with name \"{name}\""),
            )
        })
}

async fn create_property(
    State(shared): State<AppState>,
    Path(object_type_name): Path<String>,
    body: Bytes,
) -> Result<Response, HsError> {
    let object_type = object_type(&object_type_name)?;
    let input: PropertyInput = parse_body(&body)?;
    let missing: Vec<&str> = [
        ("name", input.name.is_none()),
        ("label", input.label.is_none()),
        ("type", input.kind.is_none()),
        ("fieldType", input.field_type.is_none()),
        ("groupName", input.group_name.is_none()),
    ]
    .into_iter()
    .filter_map(|(field, absent)| absent.then_some(field))
    .collect();
    if !missing.is_empty() {
        return Err(HsError::validation(format!(
            "Invalid input JSON: missing required fields {}",
            missing.join(", ")
        )));
    }
    let name = input.name.unwrap_or_default();
    let valid_name = name
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|byte| byte.is_ascii_lowercase());
    if !valid_name {
        return Err(HsError::validation(format!(
            "Property name \"{name}\" must start with a lowercase letter and contain only \
             lowercase letters, digits and underscores."
        )));
    }
    let kind = input.kind.unwrap_or_default();
    if !PROPERTY_TYPES.contains(&kind.as_str()) {
        return Err(HsError::validation(format!(
            "Unknown property type \"{kind}\"."
        )));
    }
    let property = CustomProperty {
        name: name.clone(),
        label: input.label.unwrap_or_default(),
        kind,
        field_type: input.field_type.unwrap_or_default(),
        group_name: input.group_name.unwrap_or_default(),
        description: input.description,
        options: input.options,
        has_unique_value: input.has_unique_value,
        created_at: Utc::now(),
    };
    let body = property.to_json();
    if !shared
        .data
        .write()
        .add_custom_property(object_type, property)
    {
        return Err(HsError::new(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            format!("Property named '{name}' already exists."),
        ));
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

//! Renders stored objects as the v3 and v4 APIs return them.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::association_types::{self, HUBSPOT_DEFINED};
use super::schema::{ObjectType, SYSTEM_PROPERTIES};
use super::store::{CrmObject, HubSpotData};
use crate::util::rfc3339_millis;

/// Which properties a rendered object carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Selection<'a> {
    /// The type's default properties.
    Default,
    /// The named properties (unknown names are ignored, unset known ones are `null`).
    Listed(&'a [String]),
    /// Every property that has a value (create and update responses).
    AllSet,
}

/// Renders an object as the v3 API returns it.
pub(crate) fn render(
    data: &HubSpotData,
    object_type: ObjectType,
    object: &CrmObject,
    selection: Selection<'_>,
    association_types: &[ObjectType],
) -> Value {
    let mut properties = Map::new();
    let mut put = |name: &str| {
        if !properties.contains_key(name) {
            properties.insert(
                name.to_owned(),
                object.property(name).map_or(Value::Null, Value::String),
            );
        }
    };
    match selection {
        Selection::Default => object_type
            .default_properties()
            .iter()
            .for_each(|name| put(name)),
        Selection::Listed(names) => names
            .iter()
            .filter(|name| data.has_property(object_type, name))
            .for_each(|name| put(name)),
        Selection::AllSet => object.properties.keys().for_each(|name| put(name)),
    }
    SYSTEM_PROPERTIES.iter().for_each(|name| put(name));

    let mut body = Map::new();
    body.insert("id".to_owned(), json!(object.id.to_string()));
    body.insert("properties".to_owned(), Value::Object(properties));
    body.insert(
        "createdAt".to_owned(),
        json!(rfc3339_millis(object.created_at)),
    );
    body.insert(
        "updatedAt".to_owned(),
        json!(rfc3339_millis(object.updated_at)),
    );
    body.insert("archived".to_owned(), json!(false));
    let associations = render_v3_associations(object_type, object, association_types);
    if !associations.is_empty() {
        body.insert("associations".to_owned(), Value::Object(associations));
    }
    Value::Object(body)
}

/// The `associations` map of a v3 object: `{"<type>":{"results":[{"id","type"}]}}`.
fn render_v3_associations(
    object_type: ObjectType,
    object: &CrmObject,
    association_types: &[ObjectType],
) -> Map<String, Value> {
    let mut out = Map::new();
    for to_type in association_types {
        let results = v3_association_results(object_type, object, *to_type);
        if !results.is_empty() {
            out.insert(
                to_type.v3_association_key().to_owned(),
                json!({ "results": results }),
            );
        }
    }
    out
}

/// `[{"id","type"}]` entries for the v3 association endpoints, one per type id.
pub(crate) fn v3_association_results(
    object_type: ObjectType,
    object: &CrmObject,
    to_type: ObjectType,
) -> Vec<Value> {
    let Some(targets) = object.associations.get(&to_type) else {
        return Vec::new();
    };
    targets
        .iter()
        .flat_map(|(to_id, type_ids)| {
            type_ids.iter().map(move |type_id| {
                let name = association_types::association_between(object_type, to_type, *type_id)
                    .map_or("unknown", |def| def.v3_name);
                json!({ "id": to_id.to_string(), "type": name })
            })
        })
        .collect()
}

/// `{"category","typeId","label"}` entries of v4 association results.
pub(crate) fn v4_association_types(
    from: ObjectType,
    to: ObjectType,
    type_ids: &BTreeSet<u32>,
) -> Vec<Value> {
    type_ids
        .iter()
        .map(|type_id| {
            let label = association_types::association_between(from, to, *type_id)
                .and_then(|def| def.label);
            json!({ "category": HUBSPOT_DEFINED, "typeId": type_id, "label": label })
        })
        .collect()
}

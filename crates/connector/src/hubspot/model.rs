//! The slices of HubSpot's JSON the connector reads.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A CRM object (`SimplePublicObject`): an id and string-valued properties.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CrmObject {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default)]
    pub properties: HashMap<String, Value>,
}

impl CrmObject {
    /// A property as trimmed text; empty when absent or null. HubSpot sends every
    /// value as a string, but numbers and booleans are accepted defensively.
    pub fn prop(&self, name: &str) -> String {
        match self.properties.get(name) {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        }
    }
}

/// One page of a v4 association listing.
#[derive(Debug, Deserialize)]
pub(crate) struct AssociationPage {
    #[serde(default)]
    pub results: Vec<AssociatedObject>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

/// One associated object and the association types linking it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssociatedObject {
    #[serde(deserialize_with = "id_string")]
    pub to_object_id: String,
    #[serde(default)]
    pub association_types: Vec<AssociationType>,
}

/// A typed association.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssociationType {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub type_id: Option<i64>,
}

/// Cursor paging.
#[derive(Debug, Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    pub next: Option<NextPage>,
}

/// The cursor of the next page.
#[derive(Debug, Deserialize)]
pub(crate) struct NextPage {
    pub after: String,
}

/// A batch-read answer.
#[derive(Debug, Deserialize)]
pub(crate) struct BatchRead {
    #[serde(default)]
    pub results: Vec<CrmObject>,
}

/// HubSpot ids are int64 in v4 association bodies and strings elsewhere.
fn id_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Text(s) => s,
        Id::Number(n) => n.to_string(),
    })
}

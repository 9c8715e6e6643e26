//! The HubSpot portal's state: objects, their associations, custom properties and the id counter.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::association_types::{self, AssociationDef};
use super::schema::{ObjectType, built_in_property};
use crate::util::rfc3339_millis;

/// First id handed out; HubSpot ids are large numbers.
const FIRST_ID: u64 = 10_000_000_001;

/// Association type ids to one other object, keyed by target type then target id.
pub(crate) type Associations = BTreeMap<ObjectType, BTreeMap<u64, BTreeSet<u32>>>;

/// One CRM record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CrmObject {
    pub(crate) id: u64,
    pub(crate) properties: BTreeMap<String, String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    #[serde(default)]
    pub(crate) associations: Associations,
}

impl CrmObject {
    /// The value of a property, system properties included.
    pub(crate) fn property(&self, name: &str) -> Option<String> {
        match name {
            "hs_object_id" => Some(self.id.to_string()),
            "hs_lastmodifieddate" => Some(rfc3339_millis(self.updated_at)),
            "createdate" => Some(
                self.properties
                    .get("createdate")
                    .cloned()
                    .unwrap_or_else(|| rfc3339_millis(self.created_at)),
            ),
            _ => self.properties.get(name).cloned(),
        }
    }
}

/// A property created through the properties API (or seeded into the sandbox portal).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CustomProperty {
    pub(crate) name: String,
    pub(crate) label: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) field_type: String,
    pub(crate) group_name: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) options: Vec<Value>,
    #[serde(default)]
    pub(crate) has_unique_value: bool,
    pub(crate) created_at: DateTime<Utc>,
}

impl CustomProperty {
    /// The property in the shape of the properties API.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "label": self.label,
            "type": self.kind,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "options": self.options,
            "hidden": false,
            "hubspotDefined": false,
            "calculated": false,
            "externalOptions": false,
            "hasUniqueValue": self.has_unique_value,
            "formField": true,
            "createdAt": rfc3339_millis(self.created_at),
            "updatedAt": rfc3339_millis(self.created_at),
            "modificationMetadata": {
                "archivable": true,
                "readOnlyDefinition": false,
                "readOnlyValue": false,
            },
        })
    }
}

/// Custom deal properties the sandbox portal comes with.
const SEEDED_DEAL_PROPERTIES: [(&str, &str, &str, &str); 15] = [
    ("erp_order_number", "ERP order number", "string", "text"),
    ("erp_sync_status", "ERP sync status", "string", "text"),
    ("erp_sync_error", "ERP sync error", "string", "textarea"),
    ("shipping_street", "Shipping street", "string", "text"),
    ("shipping_street2", "Shipping street 2", "string", "text"),
    ("shipping_city", "Shipping city", "string", "text"),
    ("shipping_state", "Shipping state", "string", "text"),
    ("shipping_zip", "Shipping ZIP", "string", "text"),
    ("shipping_country", "Shipping country", "string", "text"),
    ("shipping_addressee", "Shipping addressee", "string", "text"),
    (
        "erp_fulfilment_status",
        "Fulfilment status",
        "string",
        "text",
    ),
    ("erp_carrier", "Carrier", "string", "text"),
    ("erp_tracking_number", "Tracking number", "string", "text"),
    ("erp_tracking_url", "Tracking URL", "string", "text"),
    ("erp_delivered_at", "Delivered at", "datetime", "date"),
];

/// The whole portal. Serialised as-is to `hubspot.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HubSpotData {
    next_id: u64,
    objects: BTreeMap<ObjectType, BTreeMap<u64, CrmObject>>,
    custom_properties: BTreeMap<ObjectType, BTreeMap<String, CustomProperty>>,
}

impl HubSpotData {
    /// An empty portal with the seeded custom properties.
    pub(crate) fn seeded() -> Self {
        let now = Utc::now();
        let deal_properties = SEEDED_DEAL_PROPERTIES
            .iter()
            .map(|(name, label, kind, field_type)| {
                let property = CustomProperty {
                    name: (*name).to_owned(),
                    label: (*label).to_owned(),
                    kind: (*kind).to_owned(),
                    field_type: (*field_type).to_owned(),
                    group_name: "dealinformation".to_owned(),
                    description: String::new(),
                    options: Vec::new(),
                    has_unique_value: false,
                    created_at: now,
                };
                ((*name).to_owned(), property)
            })
            .collect();
        Self {
            next_id: FIRST_ID,
            objects: BTreeMap::new(),
            custom_properties: BTreeMap::from([(ObjectType::Deals, deal_properties)]),
        }
    }

    /// All objects of a type, ordered by id.
    pub(crate) fn objects(&self, object_type: ObjectType) -> impl Iterator<Item = &CrmObject> {
        self.objects
            .get(&object_type)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// Objects of a type with id `>= from`, ordered by id.
    pub(crate) fn objects_from(
        &self,
        object_type: ObjectType,
        from: u64,
    ) -> impl Iterator<Item = &CrmObject> {
        self.objects
            .get(&object_type)
            .into_iter()
            .flat_map(move |objects| objects.range(from..).map(|(_, object)| object))
    }

    /// One object.
    pub(crate) fn get(&self, object_type: ObjectType, id: u64) -> Option<&CrmObject> {
        self.objects.get(&object_type)?.get(&id)
    }

    /// One object, mutably.
    pub(crate) fn get_mut(&mut self, object_type: ObjectType, id: u64) -> Option<&mut CrmObject> {
        self.objects.get_mut(&object_type)?.get_mut(&id)
    }

    /// Finds an object by the value of a property (for `idProperty` reads).
    pub(crate) fn find_by_property(
        &self,
        object_type: ObjectType,
        name: &str,
        value: &str,
    ) -> Option<&CrmObject> {
        self.objects(object_type)
            .find(|object| object.property(name).as_deref() == Some(value))
    }

    /// Whether the portal has this property on this type (built-in or custom).
    pub(crate) fn has_property(&self, object_type: ObjectType, name: &str) -> bool {
        self.property_kind(object_type, name).is_some()
    }

    /// The `type` of a property (`string`, `number`, `datetime`, ...), if it exists.
    pub(crate) fn property_kind(&self, object_type: ObjectType, name: &str) -> Option<&str> {
        if let Some(property) = built_in_property(object_type, name) {
            return Some(property.kind);
        }
        self.custom_properties
            .get(&object_type)?
            .get(name)
            .map(|property| property.kind.as_str())
    }

    /// Custom properties of a type.
    pub(crate) fn custom_properties(
        &self,
        object_type: ObjectType,
    ) -> impl Iterator<Item = &CustomProperty> {
        self.custom_properties
            .get(&object_type)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// Adds a custom property; `false` when the name is taken.
    pub(crate) fn add_custom_property(
        &mut self,
        object_type: ObjectType,
        property: CustomProperty,
    ) -> bool {
        if self.has_property(object_type, &property.name) {
            return false;
        }
        self.custom_properties
            .entry(object_type)
            .or_default()
            .insert(property.name.clone(), property);
        true
    }

    /// Stores a new object and returns its id.
    pub(crate) fn insert(
        &mut self,
        object_type: ObjectType,
        properties: BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let object = CrmObject {
            id,
            properties,
            created_at: now,
            updated_at: now,
            associations: Associations::new(),
        };
        self.objects
            .entry(object_type)
            .or_default()
            .insert(id, object);
        id
    }

    /// Removes an object and every association pointing at it.
    pub(crate) fn archive(&mut self, object_type: ObjectType, id: u64) -> bool {
        let Some(object) = self
            .objects
            .get_mut(&object_type)
            .and_then(|objects| objects.remove(&id))
        else {
            return false;
        };
        for (to_type, targets) in object.associations {
            for to_id in targets.keys() {
                if let Some(target) = self.get_mut(to_type, *to_id)
                    && let Some(back) = target.associations.get_mut(&object_type)
                {
                    back.remove(&id);
                }
            }
        }
        true
    }

    /// Associates two existing objects both ways with `def` (and, for a labelled type, the
    /// unlabelled default as HubSpot does).
    pub(crate) fn associate(&mut self, def: &AssociationDef, from_id: u64, to_id: u64) {
        let mut pairs = vec![(def.type_id, def.inverse_type_id)];
        if def.label.is_some()
            && let Some(default) = association_types::default_association(def.from, def.to)
        {
            pairs.push((default.type_id, default.inverse_type_id));
        }
        for (type_id, inverse_type_id) in pairs {
            self.link(def.from, from_id, def.to, to_id, type_id);
            self.link(def.to, to_id, def.from, from_id, inverse_type_id);
        }
    }

    fn link(&mut self, from: ObjectType, from_id: u64, to: ObjectType, to_id: u64, type_id: u32) {
        if let Some(object) = self.get_mut(from, from_id) {
            object
                .associations
                .entry(to)
                .or_default()
                .entry(to_id)
                .or_default()
                .insert(type_id);
        }
    }

    /// Removes every association between two objects, both ways.
    pub(crate) fn dissociate(
        &mut self,
        from: ObjectType,
        from_id: u64,
        to: ObjectType,
        to_id: u64,
    ) {
        if let Some(object) = self.get_mut(from, from_id)
            && let Some(targets) = object.associations.get_mut(&to)
        {
            targets.remove(&to_id);
        }
        if let Some(object) = self.get_mut(to, to_id)
            && let Some(targets) = object.associations.get_mut(&from)
        {
            targets.remove(&from_id);
        }
    }
}

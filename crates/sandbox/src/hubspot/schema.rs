//! HubSpot object types, their built-in properties and the association types between them.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A CRM object type the sandbox portal supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ObjectType {
    /// `contacts`, type id `0-1`.
    Contacts,
    /// `companies`, type id `0-2`.
    Companies,
    /// `deals`, type id `0-3`.
    Deals,
    /// `line_items`, type id `0-8`.
    LineItems,
    /// `notes`, type id `0-46`.
    Notes,
    /// `tasks`, type id `0-27`.
    Tasks,
}

impl ObjectType {
    /// Parses a path segment: plural or singular name, or object type id (`0-3`).
    pub(crate) fn parse(segment: &str) -> Option<Self> {
        let lower = segment.to_ascii_lowercase();
        Some(match lower.as_str() {
            "contacts" | "contact" | "0-1" => Self::Contacts,
            "companies" | "company" | "0-2" => Self::Companies,
            "deals" | "deal" | "0-3" => Self::Deals,
            "line_items" | "line_item" | "lineitems" | "lineitem" | "0-8" => Self::LineItems,
            "notes" | "note" | "0-46" => Self::Notes,
            "tasks" | "task" | "0-27" => Self::Tasks,
            _ => return None,
        })
    }

    /// The plural API name, e.g. `line_items`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Companies => "companies",
            Self::Deals => "deals",
            Self::LineItems => "line_items",
            Self::Notes => "notes",
            Self::Tasks => "tasks",
        }
    }

    /// The object type id, e.g. `0-3`.
    pub(crate) fn type_id(self) -> &'static str {
        match self {
            Self::Contacts => "0-1",
            Self::Companies => "0-2",
            Self::Deals => "0-3",
            Self::LineItems => "0-8",
            Self::Notes => "0-46",
            Self::Tasks => "0-27",
        }
    }

    /// The key HubSpot uses in a v3 object's `associations` map. Line items are keyed
    /// `"line items"` (with a space) by the real API.
    pub(crate) fn v3_association_key(self) -> &'static str {
        match self {
            Self::LineItems => "line items",
            other => other.name(),
        }
    }

    /// Upper-case singular name used in batch error messages, e.g. `DEAL`.
    pub(crate) fn upper_singular(self) -> &'static str {
        match self {
            Self::Contacts => "CONTACT",
            Self::Companies => "COMPANY",
            Self::Deals => "DEAL",
            Self::LineItems => "LINE_ITEM",
            Self::Notes => "NOTE",
            Self::Tasks => "TASK",
        }
    }

    /// Properties returned when a read names none.
    pub(crate) fn default_properties(self) -> &'static [&'static str] {
        match self {
            Self::Contacts => &["firstname", "lastname", "email"],
            Self::Companies => &["name", "domain"],
            Self::Deals => &["dealname", "amount", "closedate", "pipeline", "dealstage"],
            Self::LineItems => &["name", "quantity", "price", "amount"],
            Self::Notes => &["hs_note_body", "hs_timestamp"],
            Self::Tasks => &["hs_task_subject", "hs_task_status", "hs_timestamp"],
        }
    }

    /// Properties a create must set.
    pub(crate) fn required_properties(self) -> &'static [&'static str] {
        match self {
            Self::Notes => &["hs_timestamp"],
            Self::Tasks => &["hs_timestamp", "hs_task_subject"],
            _ => &[],
        }
    }
}

/// System properties every object has; derived from the record, never stored.
pub(crate) const SYSTEM_PROPERTIES: [&str; 3] =
    ["hs_object_id", "createdate", "hs_lastmodifieddate"];

/// System properties that writes may not set.
pub(crate) const READ_ONLY_PROPERTIES: [&str; 2] = ["hs_object_id", "hs_lastmodifieddate"];

/// A property that is part of the portal without being created through the API.
pub(crate) struct BuiltInProperty {
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) field_type: &'static str,
    pub(crate) group: &'static str,
}

const fn prop(
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    field_type: &'static str,
    group: &'static str,
) -> BuiltInProperty {
    BuiltInProperty {
        name,
        label,
        kind,
        field_type,
        group,
    }
}

#[rustfmt::skip]
const SYSTEM: [BuiltInProperty; 3] = [
    prop("hs_object_id", "Record ID", "number", "number", "system"),
    prop("createdate", "Create Date", "datetime", "date", "system"),
    prop("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", "system"),
];

#[rustfmt::skip]
const DEALS: [BuiltInProperty; 8] = [
    prop("dealname", "Deal Name", "string", "text", "dealinformation"),
    prop("dealstage", "Deal Stage", "enumeration", "radio", "dealinformation"),
    prop("pipeline", "Pipeline", "enumeration", "select", "dealinformation"),
    prop("amount", "Amount", "number", "number", "dealinformation"),
    prop("closedate", "Close Date", "datetime", "date", "dealinformation"),
    prop("deal_currency_code", "Currency", "enumeration", "select", "dealinformation"),
    prop("hubspot_owner_id", "Deal owner", "enumeration", "select", "dealinformation"),
    prop("description", "Deal Description", "string", "textarea", "dealinformation"),
];

#[rustfmt::skip]
const COMPANIES: [BuiltInProperty; 11] = [
    prop("name", "Company name", "string", "text", "companyinformation"),
    prop("domain", "Company Domain Name", "string", "text", "companyinformation"),
    prop("phone", "Phone Number", "string", "phonenumber", "companyinformation"),
    prop("address", "Street Address", "string", "text", "companyinformation"),
    prop("address2", "Street Address 2", "string", "text", "companyinformation"),
    prop("city", "City", "string", "text", "companyinformation"),
    prop("state", "State/Region", "string", "text", "companyinformation"),
    prop("zip", "Postal Code", "string", "text", "companyinformation"),
    prop("country", "Country/Region", "string", "text", "companyinformation"),
    prop("industry", "Industry", "enumeration", "select", "companyinformation"),
    prop("hubspot_owner_id", "Company owner", "enumeration", "select", "companyinformation"),
];

#[rustfmt::skip]
const CONTACTS: [BuiltInProperty; 5] = [
    prop("firstname", "First Name", "string", "text", "contactinformation"),
    prop("lastname", "Last Name", "string", "text", "contactinformation"),
    prop("email", "Email", "string", "text", "contactinformation"),
    prop("phone", "Phone Number", "string", "phonenumber", "contactinformation"),
    prop("company", "Company Name", "string", "text", "contactinformation"),
];

#[rustfmt::skip]
const LINE_ITEMS: [BuiltInProperty; 8] = [
    prop("name", "Name", "string", "text", "lineiteminformation"),
    prop("quantity", "Quantity", "number", "number", "lineiteminformation"),
    prop("price", "Unit price", "number", "number", "lineiteminformation"),
    prop("hs_sku", "SKU", "string", "text", "lineiteminformation"),
    prop("hs_product_id", "Product ID", "string", "text", "lineiteminformation"),
    prop("amount", "Net price", "number", "number", "lineiteminformation"),
    prop("description", "Description", "string", "textarea", "lineiteminformation"),
    prop("discount", "Unit discount", "number", "number", "lineiteminformation"),
];

#[rustfmt::skip]
const NOTES: [BuiltInProperty; 3] = [
    prop("hs_note_body", "Note body", "string", "html", "engagement"),
    prop("hs_timestamp", "Activity date", "datetime", "date", "engagement"),
    prop("hubspot_owner_id", "Activity assigned to", "enumeration", "select", "engagement"),
];

#[rustfmt::skip]
const TASKS: [BuiltInProperty; 7] = [
    prop("hs_task_subject", "Task Title", "string", "text", "task"),
    prop("hs_task_body", "Notes", "string", "html", "task"),
    prop("hs_task_status", "Task Status", "enumeration", "select", "task"),
    prop("hs_task_priority", "Priority", "enumeration", "select", "task"),
    prop("hs_task_type", "Task Type", "enumeration", "select", "task"),
    prop("hs_timestamp", "Due date", "datetime", "date", "task"),
    prop("hubspot_owner_id", "Assigned to", "enumeration", "select", "task"),
];

/// Built-in (HubSpot-defined) properties of an object type, system ones included.
pub(crate) fn built_in_properties(
    object_type: ObjectType,
) -> impl Iterator<Item = &'static BuiltInProperty> {
    let standard: &'static [BuiltInProperty] = match object_type {
        ObjectType::Contacts => &CONTACTS,
        ObjectType::Companies => &COMPANIES,
        ObjectType::Deals => &DEALS,
        ObjectType::LineItems => &LINE_ITEMS,
        ObjectType::Notes => &NOTES,
        ObjectType::Tasks => &TASKS,
    };
    SYSTEM.iter().chain(standard.iter())
}

/// Looks up a built-in property.
pub(crate) fn built_in_property(
    object_type: ObjectType,
    name: &str,
) -> Option<&'static BuiltInProperty> {
    built_in_properties(object_type).find(|property| property.name == name)
}

impl BuiltInProperty {
    /// The property in the shape of the properties API.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "label": self.label,
            "type": self.kind,
            "fieldType": self.field_type,
            "groupName": self.group,
            "description": "",
            "options": [],
            "hidden": false,
            "hubspotDefined": true,
            "calculated": false,
            "externalOptions": false,
            "hasUniqueValue": false,
            "formField": self.group != "system",
            "modificationMetadata": {
                "archivable": false,
                "readOnlyDefinition": true,
                "readOnlyValue": READ_ONLY_PROPERTIES.contains(&self.name),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_type_ids() {
        assert_eq!(ObjectType::parse("0-3"), Some(ObjectType::Deals));
        assert_eq!(ObjectType::parse("line_items"), Some(ObjectType::LineItems));
        assert_eq!(ObjectType::parse("0-46"), Some(ObjectType::Notes));
        assert_eq!(ObjectType::parse("tickets"), None);
    }
}

//! A reader of OData V2 `$metadata` (EDMX) documents, enough to check JSON
//! payloads against an official service definition: entity types with their
//! typed properties and navigation properties, entity sets, associations.
//!
//! Conformance tests use it to prove that the connector's request bodies use
//! only properties SAP defines and that the simulator's responses are typed as
//! SAP types them. It reads tags with a small scanner: EDMX is machine-written
//! XML without mixed content, so no general XML parser is needed.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// One property of an entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// `Edm.String`, `Edm.Decimal`, `Edm.DateTime`, …
    pub edm_type: String,
    /// `MaxLength`, when given.
    pub max_length: Option<usize>,
    /// `Nullable` (default true).
    pub nullable: bool,
}

/// One entity type.
#[derive(Debug, Clone, Default)]
pub struct EntityType {
    /// Properties by name.
    pub properties: HashMap<String, Property>,
    /// Navigation properties: name -> (association, target role).
    pub navigation: HashMap<String, (String, String)>,
}

/// A parsed EDMX document.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Entity types by unqualified name.
    pub types: HashMap<String, EntityType>,
    /// Entity sets: name -> unqualified type name.
    pub sets: HashMap<String, String>,
    /// Associations: name -> role -> (unqualified type, multiplicity).
    associations: HashMap<String, HashMap<String, (String, String)>>,
}

/// Whether a payload is sent to the service or returned by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A create body (deep insert): navigation properties hold `{"results":[…]}`.
    Request,
    /// A response `d`: carries `__metadata`, and `__deferred` for unexpanded navigation.
    Response,
}

/// Splits `<Name attr="v" …>` into its name and attributes.
fn tag(raw: &str) -> (&str, HashMap<&str, &str>) {
    let raw = raw.trim_end_matches('/').trim();
    let (name, mut rest) = raw.split_once(char::is_whitespace).unwrap_or((raw, ""));
    let mut attributes = HashMap::new();
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim();
        let after = &rest[eq + 2..];
        let Some(end) = after.find('"') else { break };
        attributes.insert(key, &after[..end]);
        rest = &after[end + 1..];
    }
    (name, attributes)
}

fn unqualified(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_owned()
}

impl Metadata {
    /// Parses an EDMX document.
    pub fn parse(xml: &str) -> Result<Self, String> {
        let mut metadata = Self::default();
        let mut current_type: Option<String> = None;
        let mut current_association: Option<String> = None;
        let mut rest = xml;
        while let Some(start) = rest.find('<') {
            let Some(end) = rest[start..].find('>') else {
                return Err("unterminated tag".to_owned());
            };
            let raw = &rest[start + 1..start + end];
            rest = &rest[start + end + 1..];
            if raw.starts_with('?') || raw.starts_with('!') {
                continue;
            }
            if let Some(closing) = raw.strip_prefix('/') {
                match closing.trim() {
                    "EntityType" => current_type = None,
                    "Association" => current_association = None,
                    _ => {}
                }
                continue;
            }
            let self_closing = raw.ends_with('/');
            let (name, attrs) = tag(raw);
            match name {
                "EntityType" => {
                    let type_name = attrs
                        .get("Name")
                        .ok_or("EntityType without Name")?
                        .to_string();
                    metadata.types.entry(type_name.clone()).or_default();
                    if !self_closing {
                        current_type = Some(type_name);
                    }
                }
                "Property" => {
                    if let (Some(t), Some(prop), Some(edm)) =
                        (&current_type, attrs.get("Name"), attrs.get("Type"))
                    {
                        let property = Property {
                            edm_type: (*edm).to_owned(),
                            max_length: attrs.get("MaxLength").and_then(|m| m.parse().ok()),
                            nullable: attrs.get("Nullable") != Some(&"false"),
                        };
                        if let Some(entity) = metadata.types.get_mut(t) {
                            entity.properties.insert((*prop).to_owned(), property);
                        }
                    }
                }
                "NavigationProperty" => {
                    if let (Some(t), Some(nav), Some(rel), Some(role)) = (
                        &current_type,
                        attrs.get("Name"),
                        attrs.get("Relationship"),
                        attrs.get("ToRole"),
                    ) && let Some(entity) = metadata.types.get_mut(t)
                    {
                        entity
                            .navigation
                            .insert((*nav).to_owned(), (unqualified(rel), (*role).to_owned()));
                    }
                }
                "Association" => {
                    if let Some(assoc) = attrs.get("Name") {
                        metadata
                            .associations
                            .entry((*assoc).to_owned())
                            .or_default();
                        if !self_closing {
                            current_association = Some((*assoc).to_owned());
                        }
                    }
                }
                "End" => {
                    if let (Some(assoc), Some(role), Some(t)) =
                        (&current_association, attrs.get("Role"), attrs.get("Type"))
                        && let Some(ends) = metadata.associations.get_mut(assoc)
                    {
                        let multiplicity = attrs.get("Multiplicity").copied().unwrap_or("1");
                        ends.insert(
                            (*role).to_owned(),
                            (unqualified(t), multiplicity.to_owned()),
                        );
                    }
                }
                "EntitySet" => {
                    if let (Some(set), Some(t)) = (attrs.get("Name"), attrs.get("EntityType")) {
                        metadata.sets.insert((*set).to_owned(), unqualified(t));
                    }
                }
                _ => {}
            }
        }
        if metadata.types.is_empty() {
            return Err("no EntityType found".to_owned());
        }
        Ok(metadata)
    }

    /// The target type of a navigation property and whether it is a collection.
    pub fn navigation_target(&self, type_name: &str, navigation: &str) -> Option<(String, bool)> {
        let (assoc, role) = self.types.get(type_name)?.navigation.get(navigation)?;
        let (target, multiplicity) = self.associations.get(assoc)?.get(role)?;
        Some((target.clone(), multiplicity == "*"))
    }

    /// Every problem of `payload` as an instance of `type_name`; empty when it conforms.
    pub fn check(&self, type_name: &str, payload: &Value, direction: Direction) -> Vec<String> {
        let mut problems = Vec::new();
        self.check_into(type_name, payload, direction, type_name, &mut problems);
        problems
    }

    fn check_into(
        &self,
        type_name: &str,
        payload: &Value,
        direction: Direction,
        path: &str,
        problems: &mut Vec<String>,
    ) {
        let Some(entity) = self.types.get(type_name) else {
            problems.push(format!("{path}: unknown entity type {type_name}"));
            return;
        };
        let Some(object) = payload.as_object() else {
            problems.push(format!("{path}: not an object"));
            return;
        };
        for (key, value) in object {
            let here = format!("{path}.{key}");
            if key == "__metadata" {
                if direction == Direction::Request {
                    problems.push(format!("{here}: __metadata in a request"));
                } else if value["type"]
                    .as_str()
                    .is_none_or(|t| unqualified(t) != type_name)
                {
                    problems.push(format!("{here}: type is not {type_name}"));
                }
                continue;
            }
            if let Some(property) = entity.properties.get(key) {
                if let Some(problem) = check_value(property, value, direction) {
                    problems.push(format!("{here}: {problem}"));
                }
                continue;
            }
            let Some((target, many)) = self.navigation_target(type_name, key) else {
                problems.push(format!("{here}: not a property of {type_name}"));
                continue;
            };
            self.check_navigation(&target, many, value, direction, &here, problems);
        }
    }

    fn check_navigation(
        &self,
        target: &str,
        many: bool,
        value: &Value,
        direction: Direction,
        path: &str,
        problems: &mut Vec<String>,
    ) {
        if direction == Direction::Response && value.get("__deferred").is_some() {
            return;
        }
        if many {
            match value.get("results").and_then(Value::as_array) {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_into(target, item, direction, &format!("{path}[{i}]"), problems);
                    }
                }
                None => problems.push(format!("{path}: a collection must be {{\"results\":[…]}}")),
            }
        } else if !value.is_null() {
            self.check_into(target, value, direction, path, problems);
        }
    }

    /// The properties of `type_name` a JSON object carries that the type does not define.
    pub fn unknown_properties(&self, type_name: &str, object: &Map<String, Value>) -> Vec<String> {
        let Some(entity) = self.types.get(type_name) else {
            return object.keys().cloned().collect();
        };
        object
            .keys()
            .filter(|k| !entity.properties.contains_key(*k) && !entity.navigation.contains_key(*k))
            .cloned()
            .collect()
    }
}

/// Checks one primitive value against its EDM type (OData V2 JSON format).
fn check_value(property: &Property, value: &Value, direction: Direction) -> Option<String> {
    if value.is_null() {
        return (!property.nullable && direction == Direction::Response)
            .then(|| "null in a non-nullable property".to_owned());
    }
    let text = value.as_str();
    let ok = match property.edm_type.as_str() {
        "Edm.String" => match text {
            Some(s) => {
                if let Some(max) = property.max_length
                    && s.chars().count() > max
                {
                    return Some(format!("longer than MaxLength {max}"));
                }
                true
            }
            None => false,
        },
        // V2 JSON sends decimals and 64-bit integers as strings.
        "Edm.Decimal" | "Edm.Int64" => text.is_some_and(rust_decimal_like),
        "Edm.Double" | "Edm.Single" => {
            value.is_number() || text.is_some_and(|s| s.parse::<f64>().is_ok())
        }
        "Edm.Int16" | "Edm.Int32" | "Edm.Byte" => value.is_i64() || value.is_u64(),
        "Edm.Boolean" => value.is_boolean(),
        "Edm.DateTime" | "Edm.DateTimeOffset" => text.is_some_and(is_json_date),
        "Edm.Time" => text.is_some_and(|s| s.starts_with("PT")),
        "Edm.Guid" => text.is_some_and(|s| {
            s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        }),
        _ => true,
    };
    (!ok).then(|| format!("{value} is not a valid {}", property.edm_type))
}

fn rust_decimal_like(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or_default();
    let frac = parts.next().unwrap_or("0");
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `/Date(1700000000000)/` or `/Date(1700000000000+0000)/`.
fn is_json_date(s: &str) -> bool {
    let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) else {
        return false;
    };
    let digits = inner.split(['+', '-']).next().unwrap_or_default();
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DOC: &str = r#"<?xml version="1.0"?><edmx:Edmx><edmx:DataServices><Schema Namespace="S">
      <EntityType Name="OrderType"><Key><PropertyRef Name="Id"/></Key>
        <Property Name="Id" Type="Edm.String" Nullable="false" MaxLength="10"/>
        <Property Name="Amount" Type="Edm.Decimal" Precision="16" Scale="3"/>
        <Property Name="Date" Type="Edm.DateTime" Precision="0"/>
        <NavigationProperty Name="to_Item" Relationship="S.assoc_1" FromRole="F" ToRole="T"/>
      </EntityType>
      <EntityType Name="ItemType"><Property Name="Qty" Type="Edm.Decimal"/></EntityType>
      <Association Name="assoc_1"><End Type="S.OrderType" Multiplicity="1" Role="F"/>
        <End Type="S.ItemType" Multiplicity="*" Role="T"/></Association>
      <EntityContainer Name="C"><EntitySet Name="Order" EntityType="S.OrderType"/></EntityContainer>
    </Schema></edmx:DataServices></edmx:Edmx>"#;

    #[test]
    fn payloads_are_checked_against_types() {
        let m = Metadata::parse(DOC).expect("parses");
        assert_eq!(m.sets["Order"], "OrderType");
        assert_eq!(
            m.navigation_target("OrderType", "to_Item"),
            Some(("ItemType".into(), true))
        );
        let good = json!({"Id": "1", "Amount": "2.50", "to_Item": {"results": [{"Qty": "1"}]}});
        assert!(m.check("OrderType", &good, Direction::Request).is_empty());
        let bad = json!({"Id": "12345678901", "Amount": 2.5, "Nope": 1, "to_Item": [{"Qty": "1"}],
                         "Date": "2024-01-01"});
        let problems = m.check("OrderType", &bad, Direction::Request);
        assert_eq!(problems.len(), 5, "{problems:?}");
        let response = json!({"__metadata": {"type": "S.OrderType"}, "Id": "1", "Date": "/Date(1700000000000)/",
                              "to_Item": {"__deferred": {"uri": "x"}}});
        assert!(
            m.check("OrderType", &response, Direction::Response)
                .is_empty()
        );
    }
}

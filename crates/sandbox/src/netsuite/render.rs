//! Renders stored records as the REST Record API returns them (links, collapsed sub-resources).

use serde_json::{Map, Value, json};

use super::store::{Record, RecordType};

/// Path of the record service.
pub(crate) const RECORD_PATH: &str = "/services/rest/record/v1";

/// Reference fields and the record type they point at.
const REFERENCE_TARGETS: [(&str, &str); 4] = [
    ("entity", "customer"),
    ("item", "inventoryItem"),
    ("subsidiary", "subsidiary"),
    ("currency", "currency"),
];

/// `{"links":[{"rel":"self","href":..}]}` entries.
pub(crate) fn self_links(href: &str) -> Value {
    json!([{ "rel": "self", "href": href }])
}

/// `http://{host}/services/rest/record/v1/{record}/{id}`.
pub(crate) fn record_url(base: &str, record_type: RecordType, id: u64) -> String {
    format!("{base}{RECORD_PATH}/{}/{id}", record_type.name())
}

fn with_links(value: &Value, href: &str) -> Value {
    let mut object = value.as_object().cloned().unwrap_or_default();
    object.insert("links".to_owned(), self_links(href));
    Value::Object(object)
}

/// Adds links to reference fields (`{"id","refName"}` objects).
fn render_field(base: &str, name: &str, value: &Value) -> Value {
    let target = REFERENCE_TARGETS
        .iter()
        .find(|(field, _)| *field == name)
        .map(|(_, target)| *target);
    match (target, value.get("id").and_then(Value::as_str)) {
        (Some(target), Some(id)) => {
            with_links(value, &format!("{base}{RECORD_PATH}/{target}/{id}"))
        }
        _ => value.clone(),
    }
}

fn render_line(base: &str, line: &Value) -> Value {
    match line.as_object() {
        Some(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, value)| (name.clone(), render_field(base, name, value)))
                .collect(),
        ),
        None => line.clone(),
    }
}

/// Renders one record. Sublists and subrecords collapse to links unless `expand`; a non-empty
/// `fields` keeps only those fields (plus `id` and `links`).
pub(crate) fn render(
    base: &str,
    record_type: RecordType,
    id: u64,
    record: &Record,
    expand: bool,
    fields: &[String],
) -> Value {
    let self_url = record_url(base, record_type, id);
    let mut out = Map::new();
    out.insert("links".to_owned(), self_links(&self_url));
    for (name, value) in record {
        if !fields.is_empty() && name != "id" && !fields.iter().any(|field| field == name) {
            continue;
        }
        let href = format!("{self_url}/{name}");
        let rendered = if record_type.sublists().contains(&name.as_str()) {
            if expand {
                let lines: Vec<Value> = value
                    .get("items")
                    .and_then(Value::as_array)
                    .map(|lines| lines.iter().map(|line| render_line(base, line)).collect())
                    .unwrap_or_default();
                json!({
                    "links": self_links(&href),
                    "items": lines,
                    "totalResults": lines.len(),
                    "count": lines.len(),
                    "hasMore": false,
                    "offset": 0,
                })
            } else {
                json!({ "links": self_links(&href) })
            }
        } else if record_type.subrecords().contains(&name.as_str()) {
            if expand {
                with_links(value, &href)
            } else {
                json!({ "links": self_links(&href) })
            }
        } else {
            render_field(base, name, value)
        };
        out.insert(name.clone(), rendered);
    }
    Value::Object(out)
}

//! HubSpot workflow "Send a webhook" action bodies.
//!
//! A workflow that enrols deals (e.g. "deal stage is Closed won") can POST the
//! enrolled record to a URL. Unlike app webhook subscriptions (a JSON array of
//! events), the body is one JSON object: the record with all or selected
//! properties. HubSpot sends either the object form
//! (`{"objectId":…, "portalId":…, "objectType":"DEAL", "properties":{…}}`,
//! a property being a string or `{"value":…, "timestamp":…}`) or, with
//! selected properties, the flat form (`{"hs_object_id":"…", "dealstage":"…"}`).
//! Both are read here.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::WebhookError;

/// The record a workflow webhook was sent for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRecord {
    /// The record id (`objectId`, or the `hs_object_id` property).
    pub object_id: String,
    /// HubSpot's object type as sent (`DEAL`, `0-3`, ...), if it said.
    pub object_type: Option<String>,
    /// The portal (account) id, if sent.
    pub portal_id: Option<u64>,
    /// The deal stage, when `dealstage` was among the sent properties.
    pub stage: Option<String>,
    /// When the stage was set, when HubSpot sent the property's timestamp.
    pub stage_changed_at: Option<DateTime<Utc>>,
}

impl WorkflowRecord {
    /// True when the record is a deal, or the body does not say (a deal
    /// workflow's flat body carries no type).
    pub fn is_deal(&self) -> bool {
        self.object_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("deal") || t == "0-3")
    }

    /// A key stable across HubSpot's retries of this workflow action, for
    /// de-duplication: the stage's own timestamp when sent, else the stage
    /// alone (a later re-enrolment after the de-duplication window still
    /// finds the existing order by its external reference).
    pub fn dedup_key(&self) -> String {
        format!(
            "hubspot:{}:deal:{}:{}:{}",
            self.portal_id.unwrap_or_default(),
            self.object_id,
            self.stage.as_deref().unwrap_or("workflow"),
            self.stage_changed_at.map_or_else(
                || "workflow".to_owned(),
                |t| t.timestamp_millis().to_string()
            )
        )
    }
}

/// Reads a workflow webhook body; a body that is not one JSON object naming
/// a record id is malformed.
pub fn parse_workflow_record(body: &[u8]) -> Result<WorkflowRecord, WebhookError> {
    let value: Value = serde_json::from_slice(body)?;
    let Value::Object(object) = value else {
        return Err(malformed("a workflow webhook body is one JSON object"));
    };
    let properties = match object.get("properties") {
        Some(Value::Object(properties)) => properties,
        _ => &object,
    };
    let object_id = text(object.get("objectId"))
        .or_else(|| text(object.get("hs_object_id")))
        .or_else(|| property(properties, "hs_object_id").map(|(v, _)| v))
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| malformed("no numeric objectId or hs_object_id"))?;
    let stage = property(properties, "dealstage");
    Ok(WorkflowRecord {
        object_id,
        object_type: text(object.get("objectType")).or_else(|| text(object.get("objectTypeId"))),
        portal_id: object.get("portalId").and_then(|p| match p {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }),
        stage_changed_at: stage
            .as_ref()
            .and_then(|(_, at)| *at)
            .and_then(DateTime::from_timestamp_millis),
        stage: stage.map(|(value, _)| value).filter(|s| !s.is_empty()),
    })
}

/// A property's value and, in the object form, its timestamp (ms).
fn property(properties: &Map<String, Value>, name: &str) -> Option<(String, Option<i64>)> {
    match properties.get(name)? {
        Value::Object(p) => Some((
            text(p.get("value"))?,
            p.get("timestamp").and_then(|t| match t {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }),
        )),
        other => Some((text(Some(other))?, None)),
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn malformed(why: &str) -> WebhookError {
    WebhookError(serde::de::Error::custom(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_object_form_with_property_timestamps() {
        let body = br#"{"objectId": 512, "portalId": 62515, "objectType": "DEAL",
            "properties": {"dealname": {"value": "Acme"},
                           "dealstage": {"value": "closedwon", "timestamp": 1764921600000}}}"#;
        let record = parse_workflow_record(body).expect("parses");
        assert_eq!(record.object_id, "512");
        assert_eq!(record.portal_id, Some(62515));
        assert_eq!(record.stage.as_deref(), Some("closedwon"));
        assert!(record.is_deal());
        assert_eq!(
            record.dedup_key(),
            "hubspot:62515:deal:512:closedwon:1764921600000"
        );
    }

    #[test]
    fn reads_the_flat_form_of_selected_properties() {
        let record = parse_workflow_record(br#"{"hs_object_id": "77", "dealstage": "closedwon"}"#)
            .expect("parses");
        assert_eq!(record.object_id, "77");
        assert_eq!(record.stage.as_deref(), Some("closedwon"));
        assert_eq!(record.stage_changed_at, None);
        assert_eq!(record.dedup_key(), "hubspot:0:deal:77:closedwon:workflow");
        let record = parse_workflow_record(br#"{"hs_object_id": "78"}"#).expect("parses");
        assert_eq!(record.stage, None);
    }

    #[test]
    fn refuses_what_names_no_record_and_tells_other_types_apart() {
        for body in [
            &br#"[{"objectId": 1}]"#[..],
            br#"{"properties": {}}"#,
            br#"{"objectId": "12; drop"}"#,
            b"not json",
        ] {
            assert!(parse_workflow_record(body).is_err(), "{body:?}");
        }
        let contact =
            parse_workflow_record(br#"{"objectId": 9, "objectType": "CONTACT"}"#).expect("parses");
        assert!(!contact.is_deal());
    }
}

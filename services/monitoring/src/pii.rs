//! Masking of customers' personal data for the viewer role.
//!
//! Viewers review health and failures; they do not need to know who the
//! customer is. Operators and admins correct records and so see everything.
//! Two rules, applied to every JSON document and free-text field a viewer gets:
//!
//! - by key: values under keys that hold personal data (e-mail, phone, person
//!   names, street lines, postal codes, tax ids; `name` and effect labels
//!   inside an account, contact or customer) become [`MASK`], whatever the
//!   vendor's spelling (`first_name`, `firstName`, `FirstName`);
//! - by shape: e-mail addresses and phone numbers inside any other text (an
//!   error message, a vendor's response body) are replaced by [`MASK`].
//!
//! Names inside free text cannot be recognised; vendor error texts quoting a
//! person's name stay as they are (documented in the README).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::store::calls::StoredCall;
use crate::store::dead_letters::DeadLetterSummary;
use crate::store::events::StoredEvent;

/// What a masked value reads as.
pub const MASK: &str = "***";

/// Keys (lower case, without `_` and `-`) whose values are personal data anywhere.
const PERSONAL_KEYS: &[&str] = &[
    "email",
    "emailaddress",
    "mail",
    "phone",
    "phonenumber",
    "telephone",
    "mobile",
    "mobilephone",
    "fax",
    "firstname",
    "lastname",
    "middlename",
    "fullname",
    "contactname",
    "addressee",
    "attention",
    "line1",
    "line2",
    "street",
    "street1",
    "street2",
    "address",
    "address1",
    "address2",
    "addressline1",
    "addressline2",
    "postalcode",
    "zip",
    "zipcode",
    "taxid",
    "vatid",
    "birthdate",
    "dateofbirth",
];

/// Keys of objects describing a person or a customer: their `name` and `label` are personal too.
const PERSON_OBJECTS: &[&str] = &[
    "account", "contact", "contacts", "customer", "person", "people",
];

static EMAIL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+").ok());

// International form (`+49 40 1234567`), or a national one starting with 0
// and split by a separator (`040-1234567`); ids and timestamps match neither.
static PHONE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\+\d[\d \t()./-]{5,}\d|\b0\d{2,4}[ /-]\d{3,}(?:[ -]\d+)*\b").ok()
});

fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `text` with every e-mail address and phone number replaced by [`MASK`].
pub fn mask_text(text: &str) -> String {
    let mut out = text.to_owned();
    for pattern in [&*EMAIL, &*PHONE].into_iter().flatten() {
        if pattern.is_match(&out) {
            out = pattern.replace_all(&out, MASK).into_owned();
        }
    }
    out
}

/// Masks personal data in a JSON document in place.
pub fn mask_json(value: &mut Value) {
    walk(value, false);
}

fn walk(value: &mut Value, in_person: bool) {
    match value {
        Value::String(text) => *text = mask_text(text),
        Value::Array(items) => items.iter_mut().for_each(|item| walk(item, in_person)),
        Value::Object(map) => {
            // An effect naming an ERP customer or contact carries its name as the label.
            let person_effect = map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|kind| PERSON_OBJECTS.contains(&normalise(kind).as_str()));
            let call_status = map
                .get("httpStatus")
                .or_else(|| map.get("http_status"))
                .and_then(Value::as_i64);
            for (key, child) in map.iter_mut() {
                let key = normalise(key);
                let personal = PERSONAL_KEYS.contains(&key.as_str())
                    || ((in_person || person_effect) && (key == "name" || key == "label"));
                if personal {
                    redact(child);
                } else if let (true, Value::String(body)) = (key == "responsebody", &mut *child) {
                    // A vendor answer recorded in an attempt's calls.
                    *body = mask_vendor_answer(call_status, body);
                } else {
                    walk(child, PERSON_OBJECTS.contains(&key.as_str()));
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Replaces every non-empty scalar under a personal key.
fn redact(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::Object(map) => map.values_mut().for_each(redact),
        Value::String(text) if text.is_empty() => {}
        Value::Null | Value::Bool(_) => {}
        other => *other = Value::String(MASK.to_owned()),
    }
}

/// A vendor body: masked as JSON when it is JSON, else as text.
fn mask_body(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(mut json) if json.is_object() || json.is_array() => {
            mask_json(&mut json);
            json.to_string()
        }
        _ => mask_text(body),
    }
}

/// A vendor's answer as a viewer may see it. A successful answer is a vendor
/// record (a company, a contact, a customer) whose personal fields have
/// vendor-specific names no key list can cover: withheld whole. An error
/// answer is what a viewer triages by: kept, with personal data masked.
fn mask_vendor_answer(status: Option<i64>, body: &str) -> String {
    match status {
        Some(200..=299) if !body.is_empty() => MASK.to_owned(),
        _ => mask_body(body),
    }
}

/// Masks an event-log row for a viewer.
pub fn mask_event(event: &mut StoredEvent) {
    mask_json(&mut event.payload);
    mask_json(&mut event.effects);
    event.response_body = mask_body(&event.response_body);
    event.error_message = mask_text(&event.error_message);
}

/// Masks a vendor call's response body for a viewer.
pub fn mask_call(call: &mut StoredCall) {
    call.response_body = mask_vendor_answer(Some(i64::from(call.http_status)), &call.response_body);
}

/// Masks a dead letter's free-text fields for a viewer.
pub fn mask_summary(summary: &mut DeadLetterSummary) {
    summary.reason = mask_text(&summary.reason);
    summary.error_detail = mask_body(&summary.error_detail);
    summary.discard_reason = mask_text(&summary.discard_reason);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn personal_keys_are_masked_whatever_their_spelling() {
        let mut deal = json!({
            "name": "Big deal",
            "account": {"name": "Jane Doe", "phone": "+49 40 1234567", "domain": "doe.example",
                        "billingAddress": {"addressee": "Jane Doe", "line1": "Main St 1", "city": "Hamburg", "postalCode": "20095"}},
            "contacts": [{"first_name": "Jane", "LastName": "Doe", "Email": "jane@doe.example"}],
            "lineItems": [{"name": "Widget", "sku": "SKU-1"}],
            "effects": [{"kind": "customer", "id": "C-1", "label": "Jane Doe"}, {"kind": "order", "id": "SO-1", "label": "SO-1"}],
            "ref": {"id": "12345678901"},
            "occurredAt": "2026-12-05T04:31:22+01:00"
        });
        mask_json(&mut deal);
        assert_eq!(
            deal,
            json!({
                "name": "Big deal",
                "account": {"name": MASK, "phone": MASK, "domain": "doe.example",
                            "billingAddress": {"addressee": MASK, "line1": MASK, "city": "Hamburg", "postalCode": MASK}},
                "contacts": [{"first_name": MASK, "LastName": MASK, "Email": MASK}],
                "lineItems": [{"name": "Widget", "sku": "SKU-1"}],
                "effects": [{"kind": "customer", "id": "C-1", "label": MASK}, {"kind": "order", "id": "SO-1", "label": "SO-1"}],
                "ref": {"id": "12345678901"},
                "occurredAt": "2026-12-05T04:31:22+01:00"
            })
        );
    }

    #[test]
    fn vendor_answers_in_recorded_calls_are_withheld_or_masked() {
        let mut envelope = json!({"attempts": [{"calls": [
            {"httpStatus": 200, "responseBody": r#"{"properties":{"name":"Erika Mustermann"}}"#},
            {"httpStatus": 400, "responseBody": r#"{"message":"bad","phone":"+49 40 5550123"}"#}
        ]}]});
        mask_json(&mut envelope);
        assert_eq!(
            envelope,
            json!({"attempts": [{"calls": [
                {"httpStatus": 200, "responseBody": MASK},
                {"httpStatus": 400, "responseBody": format!(r#"{{"message":"bad","phone":"{MASK}"}}"#)}
            ]}]})
        );
    }

    #[test]
    fn emails_and_phone_numbers_in_text_are_masked() {
        assert_eq!(
            mask_text(
                "Customer jane.doe@example.com (+49 40 1234567, 040-1234567) rejected on 2026-12-05"
            ),
            format!("Customer {MASK} ({MASK}, {MASK}) rejected on 2026-12-05")
        );
        assert_eq!(
            mask_text("order SO-1234567 failed: 503"),
            "order SO-1234567 failed: 503"
        );
        assert_eq!(
            mask_body(r#"{"error":{"phone":"+1 555 0100","message":"bad phone"}}"#),
            format!(r#"{{"error":{{"message":"bad phone","phone":"{MASK}"}}}}"#)
        );
    }
}

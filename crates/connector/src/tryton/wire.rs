//! Tryton's JSON-RPC value encodings and its error array, mapped to
//! [`ConnectorError`].
//!
//! Tryton sends `Decimal` and `date` values as `{"__class__": …}` objects, and
//! reports failures of an accepted call as HTTP 200 with
//! `"error": [<name>, <args>]` (JSON-RPC 1.0 style). The encoders and
//! decoders are public so test harnesses read Tryton the same way.

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use super::SYSTEM;
use crate::{ConnectorError, ErrorCategory, ErrorKind};

/// The longest vendor text kept in [`ConnectorError::message`]; the body is in `detail`.
const MAX_MESSAGE_CHARS: usize = 300;

/// A canonical decimal string as Tryton's `Decimal` object.
pub fn decimal(canonical: &str) -> Value {
    json!({ "__class__": "Decimal", "decimal": canonical })
}

/// A date as Tryton's `date` object.
pub fn date(day: NaiveDate) -> Value {
    json!({ "__class__": "date", "year": day.year(), "month": day.month(), "day": day.day() })
}

/// A `Decimal` object (or a plain number or string) as a decimal string.
pub fn parse_decimal(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) if map.get("__class__").and_then(Value::as_str) == Some("Decimal") => {
            map.get("decimal")?.as_str().map(str::to_owned)
        }
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A `date` object as a date.
pub fn parse_date(value: &Value) -> Option<NaiveDate> {
    let map = value.as_object()?;
    if map.get("__class__").and_then(Value::as_str) != Some("date") {
        return None;
    }
    let part = |key: &str| map.get(key).and_then(Value::as_i64);
    NaiveDate::from_ymd_opt(
        i32::try_from(part("year")?).ok()?,
        u32::try_from(part("month")?).ok()?,
        u32::try_from(part("day")?).ok()?,
    )
}

/// Classifies the `error` member of a JSON-RPC answer. `body` is kept as detail.
pub(crate) fn classify_error(endpoint: &str, error: &Value, body: &str) -> ConnectorError {
    use ErrorCategory as C;
    use ErrorKind as K;
    let items = error.as_array().map(Vec::as_slice).unwrap_or_default();
    let name = items.first().and_then(Value::as_str).unwrap_or_default();
    let args = items.get(1).unwrap_or(&Value::Null);
    // UserError (and its ValidationError, AccessError… subclasses): [message, description, domain].
    let (kind, category, text) = match name {
        "UserError" => {
            let text = join_texts(args, 0..2);
            let category = if text.to_ascii_lowercase().contains("must be unique") {
                C::Duplicate
            } else {
                C::Validation
            };
            (K::Permanent, category, text)
        }
        // [warning name, message, description]: needs a person to confirm it in Tryton.
        "UserWarning" => (K::Permanent, C::Validation, join_texts(args, 1..3)),
        // Another transaction changed the record meanwhile; a retry reads it afresh.
        "ConcurrencyException" => (
            K::Transient,
            C::Unavailable,
            args.as_str().unwrap_or_default().to_owned(),
        ),
        // The login needs another parameter (e.g. a one-time code) we cannot supply.
        "LoginException" => (K::Auth, C::Unauthorized, join_texts(args, 1..2)),
        // Any other Python exception comes as [str(exception), traceback]: a server fault.
        _ if items.len() == 2 && args.is_string() => (
            K::Transient,
            C::Unavailable,
            format!("server error: {name}"),
        ),
        _ => (K::Permanent, C::Protocol, "unrecognised error".to_owned()),
    };
    let label = if name.is_empty() || name.len() > 40 {
        "Tryton error".to_owned()
    } else {
        name.to_owned()
    };
    let message: String = format!("{label}: {text}")
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    let mut err = ConnectorError::new(kind, category, SYSTEM, endpoint, message)
        .with_status(200)
        .with_detail(body);
    if kind == K::Auth {
        err = err.with_resolution("check_erp_credentials");
    }
    err
}

/// The non-empty strings of `args[range]`, joined with ": ".
fn join_texts(args: &Value, range: std::ops::Range<usize>) -> String {
    let items = args.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .skip(range.start)
        .take(range.end - range.start)
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_dates_round_trip() {
        assert_eq!(
            decimal("49.5"),
            json!({"__class__": "Decimal", "decimal": "49.5"})
        );
        let recorded = json!({"__class__": "Decimal", "decimal": "249.50"});
        assert_eq!(parse_decimal(&recorded).as_deref(), Some("249.50"));
        assert_eq!(parse_decimal(&json!(2.0)).as_deref(), Some("2.0"));
        assert_eq!(parse_decimal(&json!({"__class__": "date"})), None);
        let day = NaiveDate::from_ymd_opt(2026, 1, 31).expect("date");
        assert_eq!(
            date(day),
            json!({"__class__": "date", "year": 2026, "month": 1, "day": 31})
        );
        assert_eq!(parse_date(&date(day)), Some(day));
        assert_eq!(
            parse_date(&json!({"__class__": "date", "year": 2026, "month": 13, "day": 1})),
            None
        );
    }

    /// Error arrays recorded from trytond 8.2.1.
    #[test]
    fn recorded_errors_are_classified() {
        let body = r#"{"id": 14, "error": ["UserError", ["The code on party must be unique.", "", null]]}"#;
        let value: Value = serde_json::from_str(body).expect("json");
        let err = classify_error("rpc model.party.party.create", &value["error"], body);
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert_eq!(err.category, ErrorCategory::Duplicate);
        assert_eq!(err.message, "UserError: The code on party must be unique.");
        assert_eq!(err.detail, body);

        let value = json!([
            "UserError",
            [
                "The value \"x\" for field \"Unit\" in \"Sale Line\" is not valid according to its domain.",
                "",
                null
            ]
        ]);
        let err = classify_error("e", &value, "");
        assert_eq!(err.category, ErrorCategory::Validation);
        assert!(err.message.contains("not valid"), "{}", err.message);

        let value = json!(["'res.user'", ""]);
        let err = classify_error("e", &value, "");
        assert_eq!(err.kind, ErrorKind::Transient);
        assert_eq!(err.category, ErrorCategory::Unavailable);

        let value = json!([
            "ConcurrencyException",
            "Records were modified in the meanwhile"
        ]);
        assert!(classify_error("e", &value, "").is_transient());

        let value = json!(["LoginException", ["totp_code", "One-time code", "char"]]);
        let err = classify_error("e", &value, "");
        assert_eq!(err.kind, ErrorKind::Auth);
        assert_eq!(err.resolution.as_deref(), Some("check_erp_credentials"));

        let value = json!(["UserWarning", ["sale_quote.1", "Quote with no lines?", ""]]);
        let err = classify_error("e", &value, "");
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert!(err.message.contains("Quote with no lines?"));

        let err = classify_error("e", &json!({"weird": true}), "");
        assert_eq!(err.category, ErrorCategory::Protocol);
    }
}

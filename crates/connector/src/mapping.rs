//! Vendor-neutral helpers for building ERP payloads from canonical records:
//! "missing data" errors, the account reference, decimals and bounded text.

use crmerp_proto::{Account, LineItem, RecordRef};
use serde_json::{Map, Value, json};

use crate::{ConnectorError, ErrorCategory, ErrorKind, decimal};

/// A "the record lacks data" error naming the field to add.
pub(crate) fn missing(
    system: &'static str,
    endpoint: &str,
    field: &str,
    message: impl Into<String>,
) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Permanent,
        ErrorCategory::MissingData,
        system,
        endpoint,
        message,
    )
    .with_resolution(format!("add_missing_field:{field}"))
}

/// A permanent validation error of our own making (the vendor was not called).
pub(crate) fn invalid(
    system: &'static str,
    endpoint: &str,
    message: impl Into<String>,
) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Permanent,
        ErrorCategory::Validation,
        system,
        endpoint,
        message,
    )
}

/// The account's CRM reference, all three parts present.
pub(crate) fn account_ref<'a>(
    system: &'static str,
    account: &'a Account,
    endpoint: &str,
) -> Result<&'a RecordRef, ConnectorError> {
    account
        .r#ref
        .as_ref()
        .filter(|r| !r.system.is_empty() && !r.object_type.is_empty() && !r.id.is_empty())
        .ok_or_else(|| {
            missing(
                system,
                endpoint,
                "account.ref",
                "the account has no CRM reference",
            )
        })
}

/// `<crm system>-<object type>-<crm id>`, e.g. `hubspot-company-123`.
pub(crate) fn account_key(r: &RecordRef) -> String {
    format!("{}-{}-{}", r.system, r.object_type, r.id)
}

/// A short, stable key for a CRM account in ERP fields of `max` characters:
/// `<prefix><SYSTEM>-<ID>` upper-cased when it fits, else `<prefix><SYS>-<hash>`
/// (a SHA-256 prefix of `<system>-<type>-<id>`), so the same account always maps
/// to the same key.
pub(crate) fn short_key(prefix: &str, account: &RecordRef, max: usize) -> String {
    use sha2::{Digest, Sha256};
    let plain = format!("{prefix}{}-{}", account.system, account.id).to_ascii_uppercase();
    let allowed = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if plain.len() <= max && allowed(&plain) {
        return plain;
    }
    let system: String = account
        .system
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(3)
        .collect::<String>()
        .to_ascii_uppercase();
    let head = format!("{prefix}{system}-");
    let digest = hex::encode(Sha256::digest(account_key(account).as_bytes())).to_ascii_uppercase();
    let room = max.saturating_sub(head.len());
    format!("{head}{}", &digest[..room.min(digest.len())])
}

/// The CRM reference as it is stored in an ERP text field of `max` characters:
/// unchanged when it fits, else its first characters, `~` and 16 hex digits of
/// its SHA-256, so a long reference (a Dataverse GUID, say) still maps to one
/// stable, practically unique value that look-ups compute the same way.
pub fn fit_reference(external_ref: &str, max: usize) -> String {
    use sha2::{Digest, Sha256};
    const HASH: usize = 16;
    let value = external_ref.trim();
    if value.chars().count() <= max {
        return value.to_owned();
    }
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    let head: String = value.chars().take(max.saturating_sub(HASH + 1)).collect();
    format!("{head}~{}", &digest[..HASH.min(max)])
}

/// The account name, required by every ERP's customer record.
pub(crate) fn account_name<'a>(
    system: &'static str,
    account: &'a Account,
    endpoint: &str,
) -> Result<&'a str, ConnectorError> {
    let name = account.name.trim();
    if name.is_empty() {
        Err(missing(
            system,
            endpoint,
            "account.name",
            "the account has no name",
        ))
    } else {
        Ok(name)
    }
}

/// A line's quantity and unit price as normalised decimal strings.
pub(crate) fn line_numbers(
    system: &'static str,
    line: &LineItem,
    endpoint: &str,
) -> Result<(String, String), ConnectorError> {
    let quantity = decimal_field(system, &line.quantity, "line_items.quantity", endpoint)?;
    let price = line
        .unit_price
        .as_ref()
        .filter(|p| !p.amount.trim().is_empty())
        .ok_or_else(|| {
            missing(
                system,
                endpoint,
                "line_items.unit_price",
                format!("line {:?} has no unit price", line.sku),
            )
        })?;
    let price = decimal_field(system, &price.amount, "line_items.unit_price", endpoint)?;
    Ok((quantity, price))
}

/// A line's SKU, required to find the ERP item.
pub(crate) fn line_sku<'a>(
    system: &'static str,
    line: &'a LineItem,
    endpoint: &str,
) -> Result<&'a str, ConnectorError> {
    let sku = line.sku.trim();
    if sku.is_empty() {
        Err(missing(
            system,
            endpoint,
            "line_items.sku",
            format!("line {:?} has no SKU", line.name),
        ))
    } else {
        Ok(sku)
    }
}

/// A canonical decimal string, normalised ("2.50" -> "2.5").
pub(crate) fn decimal_field(
    system: &'static str,
    raw: &str,
    field: &str,
    endpoint: &str,
) -> Result<String, ConnectorError> {
    if raw.trim().is_empty() {
        return Err(missing(
            system,
            endpoint,
            field,
            format!("`{field}` is empty"),
        ));
    }
    decimal::normalize(raw).ok_or_else(|| {
        invalid(
            system,
            endpoint,
            format!("`{field}` {raw:?} is not a number"),
        )
    })
}

/// A normalised decimal as an exact JSON number (for vendors that take numbers).
pub(crate) fn json_number(
    system: &'static str,
    canonical: &str,
    field: &str,
    endpoint: &str,
) -> Result<Value, ConnectorError> {
    decimal::to_json_number(canonical)
        .map(Value::Number)
        .ok_or_else(|| {
            invalid(
                system,
                endpoint,
                format!("`{field}` {canonical:?} cannot be sent exactly as a JSON number"),
            )
        })
}

/// Inserts `value` trimmed and cut to `max_chars`, unless it is blank.
pub(crate) fn insert_text(body: &mut Map<String, Value>, key: &str, value: &str, max_chars: usize) {
    let value: String = value.trim().chars().take(max_chars).collect();
    if !value.is_empty() {
        body.insert(key.into(), json!(value));
    }
}

/// An OData string literal: single quotes doubled, the whole quoted.
pub(crate) fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// True for a GUID in its 8-4-4-4-12 hex form, the id shape of the OData
/// vendors (Dataverse, Business Central); nothing else may reach their URLs.
pub(crate) fn is_guid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_recognised_in_their_grouped_form_only() {
        assert!(is_guid("7c5a8b1e-0000-4000-8000-000000000001"));
        assert!(!is_guid("7c5a8b1e-0000-4000-8000-00000000001)"));
        assert!(!is_guid("7c5a8b1e00004000800000000000000001ab"));
        assert!(!is_guid("S-ORD101001"));
    }

    #[test]
    fn long_references_are_shortened_stably() {
        assert_eq!(fit_reference("hubspot-deal-1", 35), "hubspot-deal-1");
        let long = "dynamics365-opportunity-0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";
        let fitted = fit_reference(long, 35);
        assert_eq!(fitted.chars().count(), 35);
        assert!(fitted.starts_with("dynamics365-opport~"), "{fitted}");
        assert_eq!(fitted, fit_reference(long, 35));
        assert_ne!(fitted, fit_reference(&long.replace('d', "e"), 35));
    }

    #[test]
    fn odata_literals_escape_quotes() {
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
    }

    #[test]
    fn text_is_trimmed_cut_and_skipped_when_blank() {
        let mut body = Map::new();
        insert_text(&mut body, "a", "  abcdef ", 3);
        insert_text(&mut body, "b", "   ", 3);
        assert_eq!(Value::Object(body), json!({"a": "abc"}));
    }
}

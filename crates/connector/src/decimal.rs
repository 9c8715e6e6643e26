//! Decimal strings: canonical amounts and quantities never pass through a float
//! unchecked.

use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Parses a vendor decimal ("1500.00", "2", "1e3") into its normalised form
/// ("1500", "2", "1000"): trailing zeros dropped, no exponent, no `+`.
pub(crate) fn normalize(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let value = Decimal::from_str(raw)
        .or_else(|_| Decimal::from_scientific(raw))
        .ok()?;
    Some(value.normalize().to_string())
}

/// Converts a canonical decimal string into a JSON number, refusing values an
/// IEEE double cannot carry exactly (the vendor would silently round them).
pub(crate) fn to_json_number(canonical: &str) -> Option<serde_json::Number> {
    let value = Decimal::from_str(canonical.trim()).ok()?.normalize();
    if let Some(int) = value.to_i64().filter(|_| value.scale() == 0) {
        return Some(serde_json::Number::from(int));
    }
    let float = value.to_f64()?;
    // Round-trip through the shortest float representation to prove exactness.
    let back = Decimal::from_str(&float.to_string())
        .or_else(|_| Decimal::from_scientific(&float.to_string()))
        .ok()?;
    if back.normalize() != value {
        return None;
    }
    serde_json::Number::from_f64(float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_is_canonical() {
        assert_eq!(normalize("1500.00").as_deref(), Some("1500"));
        assert_eq!(normalize(" 2.50 ").as_deref(), Some("2.5"));
        assert_eq!(normalize("0.000").as_deref(), Some("0"));
        assert_eq!(normalize("-3.10").as_deref(), Some("-3.1"));
        assert_eq!(normalize("1e3").as_deref(), Some("1000"));
        assert_eq!(normalize("12,50"), None);
        assert_eq!(normalize(""), None);
    }

    #[test]
    fn json_numbers_are_exact_or_refused() {
        assert_eq!(
            to_json_number("2").map(|n| n.to_string()).as_deref(),
            Some("2")
        );
        assert_eq!(
            to_json_number("19.99").map(|n| n.to_string()).as_deref(),
            Some("19.99")
        );
        assert_eq!(
            to_json_number("0.1").map(|n| n.to_string()).as_deref(),
            Some("0.1")
        );
        assert_eq!(to_json_number("1234567890.123456789"), None);
        assert_eq!(to_json_number("abc"), None);
    }
}

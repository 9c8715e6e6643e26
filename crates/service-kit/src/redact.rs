//! Redaction of secrets and personal data from log lines and stored texts.
//!
//! Two rules, applied at one choke point (the log formatter in
//! [`crate::telemetry`]) and available to code that stores vendor texts (e.g.
//! an outcome's response body):
//!
//! - a field whose *name* says it holds a secret (`*secret*`, `*token*`,
//!   `*password*`, `authorization`, `cookie`, `*signature*`, `*api_key*`) is
//!   replaced whole by [`REDACTED`];
//! - inside any text, e-mail addresses, phone numbers, tax ids (EU VAT ids,
//!   US EIN and SSN) and credentials (bearer tokens, HubSpot private-app
//!   tokens, OAuth 1.0a parameters, `secret=...`-style pairs) are masked.
//!
//! Masking errs on the side of hiding: a false positive costs a log reader a
//! detail, a false negative leaks personal data into log storage.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a secret-named field is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// One masking rule: a pattern and what replaces a match.
struct Rule {
    pattern: Regex,
    mask: &'static str,
    /// Rejects matches that only look like the pattern (e.g. ISO dates as phone numbers).
    keep: fn(&str) -> bool,
}

fn never(_: &str) -> bool {
    false
}

/// Dates (`2026-11-26`), times and version-like strings are not phone numbers.
fn is_date_or_time(matched: &str) -> bool {
    let digits: Vec<&str> = matched
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    let lengths: Vec<usize> = digits.iter().map(|s| s.len()).collect();
    matches!(lengths.as_slice(), [4, 2, 2, ..] | [2, 2, 4, ..])
        || digits.iter().map(|s| s.len()).sum::<usize>() < 7
}

// The patterns are literals checked by the tests below; a failure to compile is a bug.
#[allow(clippy::expect_used)]
fn rule(pattern: &str, mask: &'static str, keep: fn(&str) -> bool) -> Rule {
    Rule {
        pattern: Regex::new(pattern).expect("redaction pattern compiles"),
        mask,
        keep,
    }
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // Credentials first, so a token containing digits is not half-masked as a phone.
        rule(
            r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
            "Bearer [REDACTED]",
            never,
        ),
        rule(
            r"\bpat-[a-z0-9]{2,}-[A-Za-z0-9-]{4,}",
            "[REDACTED:token]",
            never,
        ),
        rule(
            r#"(?i)\b(oauth_(?:signature|token|consumer_key|nonce))="[^"]*""#,
            r#"$1="[REDACTED]""#,
            never,
        ),
        rule(
            r#"(?i)\b([a-z_-]*(?:secret|token|password|passwd|api[_-]?key)[a-z_-]*)(["']?\s*[=:]\s*["']?)[^\s"',&;}]+"#,
            "$1$2[REDACTED]",
            never,
        ),
        rule(
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            "[REDACTED:email]",
            never,
        ),
        // US SSN and EIN.
        rule(r"\b\d{3}-\d{2}-\d{4}\b", "[REDACTED:tax-id]", never),
        rule(r"\b\d{2}-\d{7}\b", "[REDACTED:tax-id]", never),
        // EU VAT ids: country prefix and 8 to 12 digits/letters, at least 8 digits.
        rule(
            r"\b(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GB|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|CHE|XI)[- ]?[0-9A-Z]{0,2}\d{8,12}\b",
            "[REDACTED:tax-id]",
            never,
        ),
        // International numbers with +, or groups separated by spaces, dashes or brackets.
        rule(
            r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{2,5}(?:[\s.-]?\d{2,5}){1,4}\b",
            "[REDACTED:phone]",
            never,
        ),
        rule(
            r"(?:\(\d{2,5}\)\s?|\b\d{2,5}[\s-])\d{2,5}(?:[\s-]\d{2,5}){0,3}\b",
            "[REDACTED:phone]",
            is_date_or_time,
        ),
    ]
});

/// Masks e-mail addresses, phone numbers, tax ids and credentials in `text`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for rule in RULES.iter() {
        if !rule.pattern.is_match(&out) {
            continue;
        }
        let replaced = rule
            .pattern
            .replace_all(&out, |caps: &Captures<'_>| {
                let matched = caps.get(0).map_or("", |m| m.as_str());
                if (rule.keep)(matched) {
                    matched.to_owned()
                } else {
                    let mut expanded = String::new();
                    caps.expand(rule.mask, &mut expanded);
                    expanded
                }
            })
            .into_owned();
        out = Cow::Owned(replaced);
    }
    out
}

/// True when a field named `name` holds a secret and must not be logged at all.
pub fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "secret",
        "token",
        "password",
        "passwd",
        "authorization",
        "cookie",
        "signature",
        "api_key",
        "apikey",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// The value to log for field `name`: [`REDACTED`] for secret fields, else `value` masked.
pub fn field_value<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if is_secret_field(name) {
        Cow::Borrowed(REDACTED)
    } else {
        redact(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked() {
        assert_eq!(
            redact("contact jane.doe+crm@example.co.uk about it"),
            "contact [REDACTED:email] about it"
        );
    }

    #[test]
    fn phone_numbers_are_masked() {
        for phone in [
            "+49 40 1234567",
            "+1 (415) 555-0132",
            "+442071838750",
            "(040) 123 4567",
            "040-1234-5678",
            "415 555 0132",
        ] {
            let line = format!("call {phone} now");
            assert_eq!(redact(&line), "call [REDACTED:phone] now", "{phone}");
        }
    }

    #[test]
    fn tax_ids_are_masked() {
        for id in [
            "DE123456789",
            "ATU12345678",
            "GB123456789",
            "FR12345678901",
            "12-3456789",
            "123-45-6789",
        ] {
            let line = format!("vat {id}.");
            assert_eq!(redact(&line), "vat [REDACTED:tax-id].", "{id}");
        }
    }

    #[test]
    fn credentials_in_text_are_masked() {
        assert_eq!(
            redact("Authorization: Bearer pat-na1-11111111-2222-3333"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            redact("token pat-na1-dev-token leaked"),
            "token [REDACTED:token] leaked"
        );
        assert_eq!(
            redact(r#"OAuth realm="1", oauth_signature="abc%3D", oauth_token="tok""#),
            r#"OAuth realm="1", oauth_signature="[REDACTED]", oauth_token="[REDACTED]""#
        );
        assert_eq!(
            redact(r#"{"client_secret":"s3cr3t","name":"x"}"#),
            r#"{"client_secret":"[REDACTED]","name":"x"}"#
        );
        assert_eq!(
            redact("password=hunter2&user=a"),
            "password=[REDACTED]&user=a"
        );
    }

    #[test]
    fn ordinary_log_values_survive() {
        for text in [
            "127.0.0.1:4242",
            "nats://127.0.0.1:4222",
            "2026-11-26T17:51:28.123456Z",
            "hubspot-deal-123456",
            "SO-100042",
            "inbound.crm.deal.won.hubspot",
            "0192f3a1-7c4e-7d2b-9a1e-3f5e6d7c8b9a",
            "duration 1234 ms, attempt 3 of 6",
            "1234567_SB1",
            "hubspot:62515:deal:4711:closedwon:1764179488000",
        ] {
            assert_eq!(redact(text), text, "{text}");
        }
    }

    #[test]
    fn secret_fields_are_replaced_whole() {
        assert_eq!(field_value("client_secret", "abc"), REDACTED);
        assert_eq!(field_value("Authorization", "Basic abc"), REDACTED);
        assert_eq!(field_value("x_hubspot_signature_v3", "abc"), REDACTED);
        assert_eq!(field_value("deal_id", "4711"), "4711");
        assert_eq!(
            field_value("detail", "email a@b.io"),
            "email [REDACTED:email]"
        );
    }
}

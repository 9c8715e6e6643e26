//! The subset of the REST record service's `q` query language the sandbox understands.
//!
//! `field OPERATOR value` conditions joined by `AND` / `OR` (AND binds tighter), where a value is
//! a quoted string, a bare word or number, or a `[a, b]` list for `ANY_OF`.

use std::cmp::Ordering;

use serde_json::Value;

use super::store::Record;

/// Operators that take no value.
const UNARY: [&str; 2] = ["EMPTY", "EMPTY_NOT"];
/// Operators that take one value (or a list for the `ANY_OF` family).
const BINARY: [&str; 18] = [
    "IS",
    "IS_NOT",
    "START_WITH",
    "START_WITH_NOT",
    "END_WITH",
    "END_WITH_NOT",
    "CONTAIN",
    "CONTAIN_NOT",
    "EQUAL",
    "EQUAL_NOT",
    "GREATER",
    "GREATER_OR_EQUAL",
    "LESS",
    "LESS_OR_EQUAL",
    "ANY_OF",
    "ANY_OF_NOT",
    "AFTER",
    "BEFORE",
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    field: String,
    operator: String,
    values: Vec<String>,
}

/// A parsed query: OR of AND-groups of conditions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    groups: Vec<Vec<Condition>>,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '[' | ']' | ',' => {
                chars.next();
                tokens.push(match c {
                    '[' => Token::Open,
                    ']' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '"' | '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string literal".to_owned()),
                        Some('\\') => text.extend(chars.next()),
                        Some(next) if next == c => break,
                        Some(next) => text.push(next),
                    }
                }
                tokens.push(Token::Quoted(text));
            }
            _ => {
                let mut word = String::new();
                while let Some(&next) = chars.peek() {
                    if next.is_whitespace() || matches!(next, '[' | ']' | ',' | '"' | '\'') {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

fn value(token: Option<Token>) -> Result<String, String> {
    match token {
        Some(Token::Word(word) | Token::Quoted(word)) => Ok(word),
        other => Err(format!("expected a value, found {other:?}")),
    }
}

/// Parses a `q` parameter.
pub(crate) fn parse(input: &str) -> Result<Query, String> {
    let mut tokens = tokenize(input)?.into_iter().peekable();
    let mut groups = vec![Vec::new()];
    loop {
        let field = match tokens.next() {
            Some(Token::Word(word))
                if word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') =>
            {
                word
            }
            other => return Err(format!("expected a field name, found {other:?}")),
        };
        let operator = match tokens.next() {
            Some(Token::Word(word)) => word.to_ascii_uppercase(),
            other => {
                return Err(format!(
                    "expected an operator after {field}, found {other:?}"
                ));
            }
        };
        let values = if UNARY.contains(&operator.as_str()) {
            Vec::new()
        } else if BINARY.contains(&operator.as_str()) {
            if tokens.peek() == Some(&Token::Open) {
                tokens.next();
                let mut values = vec![value(tokens.next())?];
                loop {
                    match tokens.next() {
                        Some(Token::Comma) => values.push(value(tokens.next())?),
                        Some(Token::Close) => break,
                        other => return Err(format!("expected , or ] in list, found {other:?}")),
                    }
                }
                values
            } else {
                vec![value(tokens.next())?]
            }
        } else {
            return Err(format!("unsupported operator {operator}"));
        };
        let condition = Condition {
            field,
            operator,
            values,
        };
        if let Some(group) = groups.last_mut() {
            group.push(condition);
        }
        match tokens.next() {
            None => break,
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("AND") => {}
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("OR") => groups.push(Vec::new()),
            other => return Err(format!("expected AND or OR, found {other:?}")),
        }
    }
    Ok(Query { groups })
}

/// The comparable text of a field: references compare by id.
fn field_text(record: &Record, field: &str) -> Option<String> {
    match record.get(field)? {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::Object(object) => object.get("id").and_then(Value::as_str).map(str::to_owned),
        Value::Array(_) => None,
    }
}

fn numeric_cmp(left: &str, right: &str) -> Option<Ordering> {
    left.trim()
        .parse::<f64>()
        .ok()?
        .partial_cmp(&right.trim().parse::<f64>().ok()?)
}

fn same(left: &str, right: &str) -> bool {
    numeric_cmp(left, right).map_or_else(|| left.eq_ignore_ascii_case(right), Ordering::is_eq)
}

impl Condition {
    fn matches(&self, record: &Record) -> bool {
        let actual = field_text(record, &self.field).filter(|text| !text.is_empty());
        let expected = self.values.first().map(String::as_str).unwrap_or_default();
        let lower = |text: &str| text.to_lowercase();
        let compare =
            |actual: &str| numeric_cmp(actual, expected).or_else(|| Some(actual.cmp(expected)));
        let operator = self.operator.as_str();
        match (operator, actual.as_deref()) {
            ("EMPTY", found) => found.is_none(),
            ("EMPTY_NOT", found) => found.is_some(),
            (negated, found) if negated.ends_with("_NOT") => {
                let positive = Condition {
                    operator: negated.trim_end_matches("_NOT").to_owned(),
                    ..self.clone()
                };
                found.is_none() || !positive.matches(record)
            }
            (_, None) => false,
            ("IS" | "EQUAL", Some(found)) => same(found, expected),
            ("ANY_OF", Some(found)) => self.values.iter().any(|value| same(found, value)),
            ("START_WITH", Some(found)) => lower(found).starts_with(&lower(expected)),
            ("END_WITH", Some(found)) => lower(found).ends_with(&lower(expected)),
            ("CONTAIN", Some(found)) => lower(found).contains(&lower(expected)),
            ("GREATER" | "AFTER", Some(found)) => compare(found) == Some(Ordering::Greater),
            ("GREATER_OR_EQUAL", Some(found)) => compare(found).is_some_and(Ordering::is_ge),
            ("LESS" | "BEFORE", Some(found)) => compare(found) == Some(Ordering::Less),
            ("LESS_OR_EQUAL", Some(found)) => compare(found).is_some_and(Ordering::is_le),
            _ => false,
        }
    }
}

impl Query {
    /// Whether a record satisfies the query.
    pub(crate) fn matches(&self, record: &Record) -> bool {
        self.groups
            .iter()
            .any(|group| group.iter().all(|condition| condition.matches(record)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(value: Value) -> Record {
        value.as_object().cloned().unwrap_or_default()
    }

    fn matches(q: &str, value: Value) -> bool {
        parse(q)
            .map(|query| query.matches(&record(value)))
            .unwrap_or(false)
    }

    #[test]
    fn evaluates_operators() {
        let item = json!({ "itemId": "SKU-1", "basePrice": 12.5, "isInactive": false,
                           "entity": { "id": "7" } });
        assert!(matches("itemId IS \"sku-1\"", item.clone()));
        assert!(matches("itemId IS SKU-1", item.clone()));
        assert!(matches("itemId IS_NOT \"SKU-2\"", item.clone()));
        assert!(matches("itemId START_WITH \"SKU\"", item.clone()));
        assert!(matches("basePrice EQUAL 12.5", item.clone()));
        assert!(matches(
            "basePrice GREATER 10 AND basePrice LESS 13",
            item.clone()
        ));
        assert!(matches("itemId ANY_OF [\"A\", \"SKU-1\"]", item.clone()));
        assert!(matches("entity ANY_OF [7, 8]", item.clone()));
        assert!(matches(
            "itemId IS \"X\" OR isInactive IS false",
            item.clone()
        ));
        assert!(matches("email EMPTY", item.clone()));
        assert!(!matches("itemId IS \"X\" AND basePrice EQUAL 12.5", item));
    }

    #[test]
    fn rejects_unsupported_syntax() {
        assert!(parse("itemId LIKE \"x\"").is_err());
        assert!(parse("itemId IS").is_err());
        assert!(parse("(itemId IS x)").is_err());
        assert!(parse("itemId IS \"x").is_err());
        assert!(parse("itemId IS x XOR y IS z").is_err());
    }
}

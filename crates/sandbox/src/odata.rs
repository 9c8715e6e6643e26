//! The slice of OData query options the simulators understand (v2 and v4
//! alike): `$filter` with `eq` comparisons joined by `and`, `$select`,
//! `$expand`, `$top`, `$skip`, `$inlinecount` and server-driven paging through
//! `$skiptoken`. Errors are plain messages; each vendor renders them in its
//! own error shape.

use serde_json::{Map, Value};

use crate::util::{parse_query, query_list, query_value};

/// Parsed query options of one request.
#[derive(Debug, Default)]
pub(crate) struct Query {
    /// `(property, literal)` pairs that must all be equal.
    pub(crate) filter: Vec<(String, Value)>,
    /// Properties to return (all when empty).
    pub(crate) select: Vec<String>,
    /// Navigation properties to inline.
    pub(crate) expand: Vec<String>,
    /// Client page size.
    pub(crate) top: Option<usize>,
    /// Entities to skip (client `$skip` plus the server's `$skiptoken`).
    pub(crate) skip: usize,
    /// `$inlinecount=allpages` (OData v2).
    pub(crate) inline_count: bool,
}

impl Query {
    /// Parses the raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, String> {
        let pairs = parse_query(raw);
        let number = |name: &str| -> Result<Option<usize>, String> {
            query_value(&pairs, name)
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| format!("Invalid value '{v}' for the {name} query option."))
                })
                .transpose()
        };
        let filter = match query_value(&pairs, "$filter") {
            Some(text) => parse_filter(text)?,
            None => Vec::new(),
        };
        Ok(Self {
            filter,
            select: query_list(&pairs, "$select"),
            expand: query_list(&pairs, "$expand"),
            top: number("$top")?,
            skip: number("$skip")?.unwrap_or(0) + number("$skiptoken")?.unwrap_or(0),
            inline_count: query_value(&pairs, "$inlinecount") == Some("allpages"),
        })
    }

    /// True when `entity` passes the filter.
    pub(crate) fn matches(&self, entity: &Map<String, Value>) -> bool {
        self.filter.iter().all(|(property, literal)| {
            match (entity.get(property), literal) {
                // BC compares Code/Text fields case-insensitively only for Code; keep it exact.
                (Some(Value::String(a)), Value::String(b)) => a == b,
                (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
                (Some(a), b) => a == b,
                (None, _) => false,
            }
        })
    }

    /// Applies `$select`, always keeping `@odata.etag` and `id`.
    pub(crate) fn project(&self, entity: &Map<String, Value>) -> Map<String, Value> {
        if self.select.is_empty() {
            return entity.clone();
        }
        entity
            .iter()
            .filter(|(key, _)| {
                key.as_str() == "@odata.etag" || self.select.iter().any(|s| s == *key)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Checks `$select` names against the entity's properties.
    pub(crate) fn check_select(&self, known: &[&str], type_name: &str) -> Result<(), String> {
        match self.select.iter().find(|s| !known.contains(&s.as_str())) {
            Some(unknown) => Err(format!(
                "Could not find a property named '{unknown}' on type '{type_name}'."
            )),
            None => Ok(()),
        }
    }

    /// Checks `$filter` properties against the entity's properties.
    pub(crate) fn check_filter(&self, known: &[&str], type_name: &str) -> Result<(), String> {
        match self
            .filter
            .iter()
            .find(|(p, _)| !known.contains(&p.as_str()))
        {
            Some((unknown, _)) => Err(format!(
                "Could not find a property named '{unknown}' on type '{type_name}'."
            )),
            None => Ok(()),
        }
    }
}

/// `a eq 'x' and b eq 3`.
fn parse_filter(text: &str) -> Result<Vec<(String, Value)>, String> {
    let unsupported = || {
        format!(
            "The filter expression '{text}' is not supported by this sandbox (use eq comparisons joined by and)."
        )
    };
    let mut rest = text.trim();
    let mut terms = Vec::new();
    loop {
        let (property, after) = rest.split_once(' ').ok_or_else(unsupported)?;
        let after = after
            .trim_start()
            .strip_prefix("eq ")
            .ok_or_else(unsupported)?
            .trim_start();
        let (literal, after) = literal(after).ok_or_else(unsupported)?;
        if property.is_empty() || !property.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(unsupported());
        }
        terms.push((property.to_owned(), literal));
        let after = after.trim_start();
        if after.is_empty() {
            return Ok(terms);
        }
        rest = after
            .strip_prefix("and ")
            .ok_or_else(unsupported)?
            .trim_start();
    }
}

/// One literal at the start of `text`, and what follows it.
fn literal(text: &str) -> Option<(Value, &str)> {
    if let Some(body) = text.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    chars.next();
                    value.push('\'');
                } else {
                    return Some((Value::String(value), &body[i + 1..]));
                }
            } else {
                value.push(c);
            }
        }
        return None;
    }
    let end = text.find(' ').unwrap_or(text.len());
    let (token, after) = text.split_at(end);
    let value = match token {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => match serde_json::from_str::<serde_json::Number>(token) {
            Ok(n) => Value::Number(n),
            // Unquoted GUIDs compare as strings.
            Err(_) if token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') => {
                Value::String(token.to_owned())
            }
            Err(_) => return None,
        },
    };
    Some((value, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_with_escaped_quotes() {
        let q = Query::parse(Some(
            "$filter=number%20eq%20'O''NEIL'%20and%20blocked%20eq%20false&$select=id,number&$top=5",
        ))
        .expect("parses");
        assert_eq!(
            q.filter,
            vec![
                ("number".to_owned(), Value::String("O'NEIL".into())),
                ("blocked".to_owned(), Value::Bool(false))
            ]
        );
        assert_eq!(q.select, vec!["id", "number"]);
        assert_eq!(q.top, Some(5));
        assert!(Query::parse(Some("$filter=contains(number,'x')")).is_err());
    }
}

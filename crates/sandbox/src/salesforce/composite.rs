//! `POST /composite`: up to 25 sub-requests in order, `@{ref.field}` references
//! to earlier results, and `allOrNone` rollback.

use axum::http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::api::{Reply, dispatch};
use super::error::SfError;

/// Salesforce's limit of sub-requests per composite request.
const MAX_SUBREQUESTS: usize = 25;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Composite {
    #[serde(default)]
    all_or_none: bool,
    composite_request: Vec<SubRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubRequest {
    method: String,
    url: String,
    reference_id: String,
    #[serde(default)]
    body: Option<Value>,
}

pub(crate) fn run(shared: &AppState, version: &str, body: Option<Value>) -> Result<Reply, SfError> {
    let request: Composite = serde_json::from_value(body.unwrap_or(Value::Null))
        .map_err(|e| SfError::json(e.to_string()))?;
    if request.composite_request.len() > MAX_SUBREQUESTS {
        return Err(SfError::new(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            format!(
                "Exceeded max limit of subrequests allowed in a composite request ({MAX_SUBREQUESTS})"
            ),
        ));
    }
    let snapshot = request.all_or_none.then(|| shared.data.read().clone());
    let mut results: Vec<(String, StatusCode, Value)> = Vec::new();
    let mut failed = false;
    for sub in &request.composite_request {
        let (status, body) = if failed && request.all_or_none {
            halted()
        } else {
            match one(shared, version, sub, &results) {
                Ok(Reply { status, body }) => (status, body.unwrap_or(Value::Null)),
                Err(error) => (error.status, error.body()),
            }
        };
        failed |= !status.is_success();
        results.push((sub.reference_id.clone(), status, body));
    }
    if failed && let Some(snapshot) = snapshot {
        *shared.data.write() = snapshot;
    }
    let responses: Vec<Value> = results
        .into_iter()
        .map(|(reference, status, body)| json!({ "body": body, "httpHeaders": {}, "httpStatusCode": status.as_u16(), "referenceId": reference }))
        .collect();
    Ok(Reply {
        status: StatusCode::OK,
        body: Some(json!({ "compositeResponse": responses })),
    })
}

fn halted() -> (StatusCode, Value) {
    let error = SfError::new(
        StatusCode::BAD_REQUEST,
        "PROCESSING_HALTED",
        "The transaction was rolled back since another operation in the same transaction failed.",
    );
    (error.status, error.body())
}

fn one(
    shared: &AppState,
    version: &str,
    sub: &SubRequest,
    earlier: &[(String, StatusCode, Value)],
) -> Result<Reply, SfError> {
    let url = resolve(&sub.url, earlier)?;
    let body = sub
        .body
        .as_ref()
        .map(|b| resolve(&b.to_string(), earlier))
        .transpose()?;
    let body = body
        .map(|b| serde_json::from_str::<Value>(&b))
        .transpose()
        .map_err(|e| SfError::json(e.to_string()))?;
    let method = Method::from_bytes(sub.method.as_bytes())
        .map_err(|_| SfError::json(format!("invalid method {}", sub.method)))?;
    let prefix = format!("/services/data/{version}/");
    let rest = url.strip_prefix(&prefix).ok_or_else(|| {
        SfError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_API_INPUT",
            format!("The url of a subrequest must start with {prefix}"),
        )
    })?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == "composite" {
        return Err(SfError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_API_INPUT",
            "composite requests cannot be nested",
        ));
    }
    dispatch(shared, &method, version, path, query, body)
}

/// Replaces each `@{ref.field}` with the field of an earlier successful result.
fn resolve(text: &str, earlier: &[(String, StatusCode, Value)]) -> Result<String, SfError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| SfError::json("unterminated reference"))?;
        let expression = &after[..end];
        let (reference, field) = expression.split_once('.').unwrap_or((expression, ""));
        let value = earlier
            .iter()
            .find(|(r, status, _)| r == reference && status.is_success())
            .and_then(|(_, _, body)| lookup(body, field));
        match value {
            Some(v) => out.push_str(&v),
            None => {
                return Err(SfError::new(
                    StatusCode::BAD_REQUEST,
                    "PROCESSING_HALTED",
                    format!(
                        "Invalid reference specified. No value for {expression} found in {reference}."
                    ),
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(body: &Value, path: &str) -> Option<String> {
    let mut current = body;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        current = match current {
            Value::Object(map) => map.get(part)?,
            _ => return None,
        };
    }
    match current {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

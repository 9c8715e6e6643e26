//! REST Record service handlers under `/services/rest/record/v1/`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::NsError;
use super::query;
use super::records::prepare;
use super::render::{RECORD_PATH, record_url, render, self_links};
use super::store::{NetSuiteData, Record, RecordType};
use crate::util::{parse_query, query_list, query_value};

/// Default and largest page of a collection.
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
pub(super) struct TypePath {
    record_type: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RecordPath {
    record_type: String,
    record_id: String,
}

/// A record addressed by internal id or `eid:` external id.
enum RecordKey {
    Id(u64),
    External(String),
}

impl RecordKey {
    fn parse(raw: &str) -> Option<Self> {
        match raw.strip_prefix("eid:") {
            Some(external_id) if !external_id.is_empty() => {
                Some(Self::External(external_id.to_owned()))
            }
            Some(_) => None,
            None => raw.parse().ok().map(Self::Id),
        }
    }

    fn locate(&self, data: &NetSuiteData, record_type: RecordType) -> Option<u64> {
        match self {
            Self::Id(id) => data.get(record_type, *id).map(|_| *id),
            Self::External(external_id) => data.id_by_external_id(record_type, external_id),
        }
    }
}

fn record_type(segment: &str) -> Result<RecordType, NsError> {
    RecordType::parse(segment).ok_or_else(|| {
        NsError::new(
            StatusCode::NOT_FOUND,
            "NONEXISTENT_ID",
            format!("Record type '{segment}' does not exist."),
        )
    })
}

fn parse_record(body: &Bytes) -> Result<Record, NsError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(record)) => Ok(record),
        Ok(_) => Err(NsError::user_error(
            "Invalid content in the request body. The body must be a JSON object.",
        )),
        Err(error) => Err(NsError::user_error(format!(
            "Invalid content in the request body: {error}"
        ))),
    }
}

/// `http://{Host}` of the request.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn resource(body: &Value, kind: &'static str) -> Response {
    let mut response = body.to_string().into_response();
    let content_type = match kind {
        "collection" => "application/vnd.oracle.resource+json; type=collection",
        _ => "application/vnd.oracle.resource+json; type=singular-resource",
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn no_content(location: Option<String>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(value) = location.and_then(|url| HeaderValue::from_str(&url).ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

pub(super) async fn create(
    State(shared): State<AppState>,
    Path(path): Path<TypePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, NsError> {
    let record_type = record_type(&path.record_type)?;
    let body = parse_record(&body)?;
    let mut data = shared.data.write();
    let record = prepare(record_type, &data, None, body, Utc::now())?;
    let id = data.insert(record_type, record);
    shared
        .events
        .after_submit("create", record_type, id, data.get(record_type, id));
    Ok(no_content(Some(record_url(
        &base_url(&headers),
        record_type,
        id,
    ))))
}

pub(super) async fn read(
    State(shared): State<AppState>,
    Path(path): Path<RecordPath>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, NsError> {
    let record_type = record_type(&path.record_type)?;
    let query = parse_query(raw_query.as_deref());
    let expand = query_value(&query, "expandSubResources")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let fields = query_list(&query, "fields");
    let data = shared.data.read();
    let id = RecordKey::parse(&path.record_id)
        .and_then(|key| key.locate(&data, record_type))
        .ok_or_else(NsError::nonexistent)?;
    let record = data.get(record_type, id).ok_or_else(NsError::nonexistent)?;
    let body = render(
        &base_url(&headers),
        record_type,
        id,
        record,
        expand,
        &fields,
    );
    Ok(resource(&body, "singular"))
}

pub(super) async fn update(
    State(shared): State<AppState>,
    Path(path): Path<RecordPath>,
    body: Bytes,
) -> Result<Response, NsError> {
    let record_type = record_type(&path.record_type)?;
    let body = parse_record(&body)?;
    let mut data = shared.data.write();
    let id = RecordKey::parse(&path.record_id)
        .and_then(|key| key.locate(&data, record_type))
        .ok_or_else(NsError::nonexistent)?;
    let existing = data.get(record_type, id).ok_or_else(NsError::nonexistent)?;
    let record = prepare(record_type, &data, Some((id, existing)), body, Utc::now())?;
    data.replace(record_type, id, record);
    shared
        .events
        .after_submit("edit", record_type, id, data.get(record_type, id));
    Ok(no_content(None))
}

pub(super) async fn upsert(
    State(shared): State<AppState>,
    Path(path): Path<RecordPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, NsError> {
    let record_type = record_type(&path.record_type)?;
    let Some(RecordKey::External(external_id)) = RecordKey::parse(&path.record_id) else {
        return Err(NsError::invalid_parameter(
            "Upsert requires an external ID in the URL (eid:{externalId}).",
        ));
    };
    let mut body = parse_record(&body)?;
    body.insert("externalId".to_owned(), json!(external_id));
    let mut data = shared.data.write();
    let now = Utc::now();
    let (id, event_type) = match data.id_by_external_id(record_type, &external_id) {
        Some(id) => {
            let existing = data.get(record_type, id).ok_or_else(NsError::nonexistent)?;
            let record = prepare(record_type, &data, Some((id, existing)), body, now)?;
            data.replace(record_type, id, record);
            (id, "edit")
        }
        None => {
            let record = prepare(record_type, &data, None, body, now)?;
            (data.insert(record_type, record), "create")
        }
    };
    shared
        .events
        .after_submit(event_type, record_type, id, data.get(record_type, id));
    Ok(no_content(Some(record_url(
        &base_url(&headers),
        record_type,
        id,
    ))))
}

pub(super) async fn delete(
    State(shared): State<AppState>,
    Path(path): Path<RecordPath>,
) -> Result<Response, NsError> {
    let record_type = record_type(&path.record_type)?;
    let mut data = shared.data.write();
    let id = RecordKey::parse(&path.record_id)
        .and_then(|key| key.locate(&data, record_type))
        .ok_or_else(NsError::nonexistent)?;
    data.remove(record_type, id);
    shared.events.after_submit("delete", record_type, id, None);
    Ok(no_content(None))
}

fn parse_number(query: &[(String, String)], name: &str, default: usize) -> Result<usize, NsError> {
    match query_value(query, name) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| {
            NsError::invalid_parameter(format!(
                "Invalid value for query parameter '{name}': {raw}."
            ))
        }),
    }
}

pub(super) async fn list(
    State(shared): State<AppState>,
    Path(path): Path<TypePath>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, NsError> {
    let record_type = record_type(&path.record_type)?;
    let query = parse_query(raw_query.as_deref());
    let limit = parse_number(&query, "limit", MAX_LIMIT)?;
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(NsError::invalid_parameter(format!(
            "The limit parameter must be between 1 and {MAX_LIMIT}."
        )));
    }
    let offset = parse_number(&query, "offset", 0)?;
    let filter = match query_value(&query, "q")
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        None => None,
        Some(q) => Some(query::parse(q).map_err(|problem| {
            NsError::invalid_parameter(format!(
                "Invalid search query: {problem}. Provide a valid search query."
            ))
            .at("q")
        })?),
    };
    let base = base_url(&headers);
    let data = shared.data.read();
    let ids: Vec<u64> = data
        .records(record_type)
        .filter(|(_, record)| filter.as_ref().is_none_or(|filter| filter.matches(record)))
        .map(|(id, _)| id)
        .collect();
    let total = ids.len();
    let items: Vec<Value> = ids
        .iter()
        .skip(offset)
        .take(limit)
        .map(|id| {
            json!({
                "links": self_links(&record_url(&base, record_type, *id)),
                "id": id.to_string(),
            })
        })
        .collect();
    let has_more = offset + items.len() < total;
    let collection_url = |offset: usize| {
        let mut url = format!(
            "{base}{RECORD_PATH}/{}?limit={limit}&offset={offset}",
            record_type.name()
        );
        if let Some(q) = query_value(&query, "q") {
            url.push_str("&q=");
            url.push_str(&super::oauth::encode(q));
        }
        url
    };
    let mut links = vec![json!({ "rel": "self", "href": collection_url(offset) })];
    if has_more {
        links.push(json!({ "rel": "next", "href": collection_url(offset + limit) }));
    }
    let body = json!({
        "links": links,
        "count": items.len(),
        "hasMore": has_more,
        "items": items,
        "offset": offset,
        "totalResults": total,
    });
    Ok(resource(&body, "collection"))
}

//! The API v2.0 entity handlers under `/v2.0/{tenant}/{environment}/api/v2.0/`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::BcError;
use super::notifications::{ChangeType, changed};
use super::orders;
use super::store::{
    BcData, CUSTOMER, Entity, ITEM, SALES_INVOICE, SALES_ORDER, SALES_ORDER_LINE, text,
};
use super::subscriptions;
use crate::odata::Query;

/// One path segment: `name` or `name(key)` (`key` unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    pub(super) name: String,
    pub(super) key: Option<String>,
}

fn segments(rest: &str) -> Result<Vec<Segment>, BcError> {
    rest.split('/')
        .filter(|s| !s.is_empty())
        .map(|raw| match raw.split_once('(') {
            None => Ok(Segment {
                name: raw.to_owned(),
                key: None,
            }),
            Some((name, key)) => {
                let key = key.strip_suffix(')').ok_or_else(|| {
                    BcError::bad_request(format!("Bad Request - Error in query syntax: '{raw}'."))
                })?;
                let key = key.trim_matches('\'');
                Ok(Segment {
                    name: name.to_owned(),
                    key: Some(key.to_owned()),
                })
            }
        })
        .collect()
}

/// Everything a handler needs from the request.
pub(super) struct Call<'a> {
    pub(super) shared: &'a AppState,
    pub(super) method: Method,
    pub(super) query: Query,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// `{scheme}://{host}/v2.0/{tenant}/{environment}/api/v2.0`.
    pub(super) root: String,
    /// The raw query, for building `@odata.nextLink`.
    pub(super) raw_query: Option<String>,
    /// The path after the API root.
    pub(super) path: String,
}

impl Call<'_> {
    /// The JSON object body of a POST or PATCH.
    pub(super) fn object(&self) -> Result<Map<String, Value>, BcError> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(BcError::bad_request(
                "The request body must be a JSON object.",
            )),
            Err(e) => Err(BcError::bad_request(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    /// The `If-Match` header.
    pub(super) fn if_match(&self) -> Option<&str> {
        self.headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
    }
}

/// Any method on `/v2.0/{tenant}/{environment}/api/v2.0/{*rest}`.
pub(super) async fn api(
    State(shared): State<AppState>,
    Path((tenant, environment, rest)): Path<(String, String, String)>,
    method: Method,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !tenant.eq_ignore_ascii_case(&shared.config.tenant_id) {
        return BcError::unauthenticated().into_response();
    }
    if environment != shared.config.environment {
        return BcError::new(
            StatusCode::NOT_FOUND,
            "NoEnvironment",
            format!("Environment '{environment}' does not exist."),
        )
        .into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let query = match Query::parse(raw_query.as_deref()) {
        Ok(query) => query,
        Err(message) => return BcError::bad_request(message).into_response(),
    };
    let call = Call {
        root: format!("http://{host}/v2.0/{tenant}/{environment}/api/v2.0"),
        shared: &shared,
        method,
        query,
        headers,
        body,
        raw_query,
        path: rest.clone(),
    };
    let segs = match segments(&rest) {
        Ok(segs) => segs,
        Err(error) => return error.into_response(),
    };
    let result = match segs.as_slice() {
        // Subscriptions live at the API root and need an async handshake.
        [only] if only.name == "subscriptions" => {
            subscriptions::handle(&call, only.key.as_deref()).await
        }
        _ => route(&call, &segs),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn route(call: &Call<'_>, segs: &[Segment]) -> Result<Response, BcError> {
    let company_id = &call.shared.config.company_id;
    let seg = |i: usize| segs.get(i).map(|s| (s.name.as_str(), s.key.as_deref()));
    match (seg(0), seg(1), seg(2), segs.len()) {
        (Some(("companies", None)), None, None, 1) => {
            only(call, &[Method::GET])?;
            Ok(page(call, "companies", vec![company(call)]))
        }
        (Some(("companies", Some(id))), rest, _, _) => {
            if !id.eq_ignore_ascii_case(company_id) {
                return Err(BcError::no_segment("companies"));
            }
            match (rest, seg(2), segs.len()) {
                (None, None, 1) => {
                    only(call, &[Method::GET])?;
                    Ok(one(call.query.project(&company(call))))
                }
                (Some((set, key)), sub, _) => entity_set(call, set, key, sub, segs.len()),
                _ => Err(BcError::no_segment(&call.path)),
            }
        }
        _ => Err(BcError::no_segment(
            segs.first().map(|s| s.name.as_str()).unwrap_or(""),
        )),
    }
}

fn entity_set(
    call: &Call<'_>,
    set: &str,
    key: Option<&str>,
    sub: Option<(&str, Option<&str>)>,
    depth: usize,
) -> Result<Response, BcError> {
    let shared = call.shared;
    match (set, key, sub, depth) {
        ("customers", None, None, 2) => match call.method {
            Method::GET => list(call, "customers", CUSTOMER, "customer", |d| &d.customers),
            Method::POST => {
                // The write guard must be gone before `created` reads the state.
                let customer = orders::create_customer(&mut shared.data.write(), call.object()?)?;
                changed(
                    shared,
                    "customers",
                    text(&customer, "id").unwrap_or_default(),
                    ChangeType::Created,
                );
                created(call, "customers", customer)
            }
            _ => Err(not_allowed()),
        },
        ("customers", Some(id), None, 2) => get(call, CUSTOMER, "customer", "Customer", |d| {
            BcData::by_id(&d.customers, "id", id).cloned()
        }),
        ("items", None, None, 2) => match call.method {
            Method::GET => list(call, "items", ITEM, "item", |d| &d.items),
            Method::POST => {
                let item = orders::create_item(&mut shared.data.write(), call.object()?)?;
                changed(
                    shared,
                    "items",
                    text(&item, "id").unwrap_or_default(),
                    ChangeType::Created,
                );
                created(call, "items", item)
            }
            _ => Err(not_allowed()),
        },
        ("items", Some(id), None, 2) => get(call, ITEM, "item", "Item", |d| {
            BcData::by_id(&d.items, "id", id).cloned()
        }),
        ("salesInvoices", None, None, 2) => {
            only(call, &[Method::GET])?;
            list(call, "salesInvoices", SALES_INVOICE, "salesInvoice", |d| {
                &d.sales_invoices
            })
        }
        ("salesOrders", None, None, 2) => match call.method {
            Method::GET => list(call, "salesOrders", SALES_ORDER, "salesOrder", |d| {
                &d.sales_orders
            }),
            Method::POST => {
                let order = orders::create_order(
                    &mut shared.data.write(),
                    call.object()?,
                    &shared.config.currency_code,
                )?;
                changed(
                    shared,
                    "salesOrders",
                    text(&order, "id").unwrap_or_default(),
                    ChangeType::Created,
                );
                created(call, "salesOrders", order)
            }
            _ => Err(not_allowed()),
        },
        ("salesOrders", Some(id), None, 2) => match call.method {
            Method::GET => get(call, SALES_ORDER, "salesOrder", "Sales Header", |d| {
                BcData::by_id(&d.sales_orders, "id", id).cloned()
            }),
            Method::DELETE => {
                let deleted = orders::delete_order(&mut shared.data.write(), id, call.if_match())?;
                changed(shared, "salesOrders", &deleted, ChangeType::Deleted);
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            _ => Err(not_allowed()),
        },
        ("salesOrders", Some(id), Some(("salesOrderLines", None)), 3) => match call.method {
            Method::GET => {
                let data = shared.data.read();
                BcData::by_id(&data.sales_orders, "id", id)
                    .ok_or_else(|| BcError::record_not_found("Sales Header"))?;
                call.query
                    .check_select(SALES_ORDER_LINE, "Microsoft.NAV.salesOrderLine")
                    .map_err(BcError::bad_request)?;
                let lines = data.lines_of(id);
                drop(data);
                Ok(page(call, "salesOrderLines", lines))
            }
            Method::POST => {
                let line = orders::add_line(&mut shared.data.write(), id, call.object()?)?;
                // BC notifies a line change on its document.
                changed(
                    shared,
                    "salesOrders",
                    text(&line, "documentId").unwrap_or_default(),
                    ChangeType::Updated,
                );
                created(call, "salesOrderLines", line)
            }
            _ => Err(not_allowed()),
        },
        _ => Err(BcError::no_segment(set)),
    }
}

fn company(call: &Call<'_>) -> Entity {
    let config = &call.shared.config;
    let mut entity = Map::new();
    entity.insert("id".into(), json!(config.company_id));
    entity.insert("systemVersion".into(), json!("27.0.38460.39937"));
    entity.insert("timestamp".into(), json!(1));
    entity.insert("name".into(), json!(config.company_name));
    entity.insert("displayName".into(), json!(config.company_name));
    entity.insert("businessProfileId".into(), json!(""));
    entity.insert("systemCreatedAt".into(), json!("2024-01-01T00:00:00Z"));
    entity
}

pub(super) fn not_allowed() -> BcError {
    BcError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "BadRequest_MethodNotAllowed",
        "The requested HTTP method is not supported for this resource.",
    )
}

pub(super) fn only(call: &Call<'_>, methods: &[Method]) -> Result<(), BcError> {
    if methods.contains(&call.method) {
        Ok(())
    } else {
        Err(not_allowed())
    }
}

fn list(
    call: &Call<'_>,
    set: &str,
    known: &[&str],
    type_name: &str,
    pick: impl Fn(&BcData) -> &Vec<Entity>,
) -> Result<Response, BcError> {
    let nav_type = format!("Microsoft.NAV.{type_name}");
    call.query
        .check_select(known, &nav_type)
        .map_err(BcError::bad_request)?;
    call.query
        .check_filter(known, &nav_type)
        .map_err(BcError::bad_request)?;
    let data = call.shared.data.read();
    let entities: Vec<Entity> = pick(&data)
        .iter()
        .filter(|e| call.query.matches(e))
        .map(|e| expand(&data, set, e, &call.query))
        .collect();
    drop(data);
    Ok(page(call, set, entities))
}

fn get(
    call: &Call<'_>,
    known: &[&str],
    type_name: &str,
    table: &str,
    find: impl Fn(&BcData) -> Option<Entity>,
) -> Result<Response, BcError> {
    only(call, &[Method::GET])?;
    call.query
        .check_select(known, &format!("Microsoft.NAV.{type_name}"))
        .map_err(BcError::bad_request)?;
    let data = call.shared.data.read();
    let entity = find(&data).ok_or_else(|| BcError::record_not_found(table))?;
    let set = if type_name == "salesOrder" {
        "salesOrders"
    } else {
        ""
    };
    let entity = expand(&data, set, &entity, &call.query);
    drop(data);
    Ok(one(entity))
}

/// `$expand=salesOrderLines` on orders; `$select` applied.
pub(super) fn expand(data: &BcData, set: &str, entity: &Entity, query: &Query) -> Entity {
    let mut projected = query.project(entity);
    if set == "salesOrders" && query.expand.iter().any(|e| e == "salesOrderLines") {
        let id = text(entity, "id").unwrap_or_default();
        projected.insert(
            "salesOrderLines".into(),
            Value::Array(data.lines_of(id).into_iter().map(Value::Object).collect()),
        );
    }
    projected
}

/// A collection page with `@odata.nextLink` when more remain.
pub(super) fn page(call: &Call<'_>, set: &str, entities: Vec<Entity>) -> Response {
    let page_size = call.shared.config.page_size.max(1);
    let limit = call.query.top.unwrap_or(usize::MAX).min(page_size);
    let total = entities.len();
    let skip = call.query.skip.min(total);
    let value: Vec<Value> = entities
        .into_iter()
        .skip(skip)
        .take(limit)
        .map(Value::Object)
        .collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}/$metadata#{set}", call.root)),
    );
    let shown = value.len();
    body.insert("value".into(), Value::Array(value));
    if call.query.top.is_none() && skip + shown < total {
        let kept: Vec<&str> = call
            .raw_query
            .as_deref()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("$skiptoken="))
            .collect();
        let mut query = kept.join("&");
        if !query.is_empty() {
            query.push('&');
        }
        body.insert(
            "@odata.nextLink".into(),
            json!(format!(
                "{}/{}?{query}$skiptoken={}",
                call.root,
                call.path,
                skip + shown
            )),
        );
    }
    axum::Json(Value::Object(body)).into_response()
}

fn one(entity: Entity) -> Response {
    axum::Json(Value::Object(entity)).into_response()
}

/// 201 with the entity and its `Location`.
pub(super) fn created(call: &Call<'_>, set: &str, entity: Entity) -> Result<Response, BcError> {
    let data = call.shared.data.read();
    let body = expand(&data, set, &entity, &call.query);
    drop(data);
    let id = text(&entity, "id")
        .or_else(|| text(&entity, "subscriptionId"))
        .unwrap_or_default();
    let mut response = (StatusCode::CREATED, axum::Json(Value::Object(body))).into_response();
    if let Ok(location) = HeaderValue::try_from(format!("{}/{}({id})", call.root, call.path)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Unknown properties are rejected as BC does.
pub(super) fn check_properties(
    body: &Map<String, Value>,
    known: &[&str],
    navigation: &[&str],
    type_name: &str,
) -> Result<(), BcError> {
    match body
        .keys()
        .find(|k| !known.contains(&k.as_str()) && !navigation.contains(&k.as_str()))
    {
        Some(unknown) => Err(BcError::bad_request(format!(
            "The property '{unknown}' does not exist on type 'Microsoft.NAV.{type_name}'. Make sure to only use property names that are defined by the type."
        ))),
        None => Ok(()),
    }
}

//! OData V2 handlers under `/sap/opu/odata/sap/{service}/`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::documents;
use super::error::SapError;
use super::store::{Entity, S4Data, text};
use crate::odata::Query;

const SALES_ORDER: &str = "API_SALES_ORDER_SRV";
const BUSINESS_PARTNER: &str = "API_BUSINESS_PARTNER";
const PRODUCT: &str = "API_PRODUCT_SRV";

/// Entity sets per service, for the service document.
fn entity_sets(service: &str) -> Option<&'static [&'static str]> {
    match service {
        SALES_ORDER => Some(&["A_SalesOrder", "A_SalesOrderItem"]),
        BUSINESS_PARTNER => Some(&["A_BusinessPartner"]),
        PRODUCT => Some(&["A_Product"]),
        _ => None,
    }
}

fn static_service(service: &str) -> &'static str {
    match service {
        SALES_ORDER => SALES_ORDER,
        BUSINESS_PARTNER => BUSINESS_PARTNER,
        _ => PRODUCT,
    }
}

/// The request context handlers need.
struct Call {
    base: String,
    service: &'static str,
    query: Query,
}

impl Call {
    /// Adds `__metadata` as SAP does.
    fn render(&self, set: &str, type_name: &str, key: &str, entity: &Entity) -> Map<String, Value> {
        let mut out = Map::new();
        let uri = format!("{}/{set}('{key}')", self.base);
        out.insert(
            "__metadata".into(),
            json!({ "id": uri, "uri": uri, "type": format!("{}.{type_name}", self.service) }),
        );
        for (k, v) in self.query.project(entity) {
            out.insert(k, v);
        }
        out
    }
}

/// `GET /sap/opu/odata/sap/{service}/` (and the same without the slash): the
/// service document; with `x-csrf-token: Fetch` it also hands out the token.
pub(super) async fn service_root(
    State(state): State<AppState>,
    Path(service): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some(sets) = entity_sets(&service) else {
        return SapError::new(
            StatusCode::NOT_FOUND,
            "/IWFND/MED/170",
            format!("No service found for namespace '/SAP/', name '{service}', version '0001'"),
        )
        .into_response();
    };
    if method != Method::GET && method != Method::HEAD {
        return SapError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "/IWBEP/CM_MGW_RT/005",
            "Method not allowed on the service document",
        )
        .into_response();
    }
    let mut response = axum::Json(json!({ "d": { "EntitySets": sets } })).into_response();
    attach_csrf(&state, &headers, &mut response);
    response
}

fn attach_csrf(state: &AppState, headers: &HeaderMap, response: &mut Response) {
    let fetch = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("fetch"));
    if !fetch {
        return;
    }
    for (name, value) in state.sessions.fetch(state, headers) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(name, value);
        }
    }
}

/// Any method on `/sap/opu/odata/sap/{service}/{*rest}`.
pub(super) async fn resource(
    State(state): State<AppState>,
    Path((service, rest)): Path<(String, String)>,
    method: Method,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if entity_sets(&service).is_none() {
        return SapError::new(
            StatusCode::NOT_FOUND,
            "/IWFND/MED/170",
            format!("No service found for namespace '/SAP/', name '{service}', version '0001'"),
        )
        .into_response();
    }
    let service = static_service(&service);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let query = match Query::parse(raw_query.as_deref()) {
        Ok(query) => query,
        Err(message) => {
            return SapError::bad_request("/IWBEP/CM_MGW_RT/001", message)
                .in_service(service)
                .into_response();
        }
    };
    let call = Call {
        base: format!("http://{host}/sap/opu/odata/sap/{service}"),
        service,
        query,
    };
    let result = dispatch(&state, &call, &method, &rest, &body);
    let mut response = result.unwrap_or_else(|e| e.in_service(service).into_response());
    attach_csrf(&state, &headers, &mut response);
    response
}

/// `Set('key')`, `Set('key')/nav` or `Set`.
fn parse_path(rest: &str) -> (&str, Option<&str>, Option<&str>) {
    let (first, nav) = match rest.split_once('/') {
        Some((a, b)) if !b.is_empty() => (a, Some(b)),
        _ => (rest.trim_end_matches('/'), None),
    };
    match first.split_once('(') {
        Some((set, key)) => {
            let key = key.trim_end_matches(')');
            let key = key
                .split_once('=')
                .map_or(key, |(_, v)| v)
                .trim_matches('\'');
            (set, Some(key), nav)
        }
        None => (first, None, nav),
    }
}

fn dispatch(
    state: &AppState,
    call: &Call,
    method: &Method,
    rest: &str,
    body: &[u8],
) -> Result<Response, SapError> {
    let (set, key, nav) = parse_path(rest);
    let object = || -> Result<Map<String, Value>, SapError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(SapError::bad_request(
                "/IWBEP/CM_MGW_RT/002",
                "Malformed JSON: the request body must be an entry object",
            )),
        }
    };
    let manual = state.config.manual_price_conditions.clone();
    match (call.service, set, key, nav, method) {
        (SALES_ORDER, "A_SalesOrder", None, None, &Method::GET) => {
            let data = state.data.read();
            collection(
                call,
                "A_SalesOrder",
                "A_SalesOrderType",
                "SalesOrder",
                &data.sales_orders,
                |o| expand_order(call, &data, o),
            )
        }
        (SALES_ORDER, "A_SalesOrder", None, None, &Method::POST) => {
            let order = documents::create_order(&mut state.data.write(), &object()?, &manual)?;
            state.events.order(super::events::ORDER_CREATED, &order);
            let data = state.data.read();
            let number = text(&order, "SalesOrder").unwrap_or_default().to_owned();
            let mut d = call.render("A_SalesOrder", "A_SalesOrderType", &number, &order);
            d.insert(
                "to_Item".into(),
                json!({ "results": items(call, &data, &number) }),
            );
            Ok(created(call, "A_SalesOrder", &number, d))
        }
        (SALES_ORDER, "A_SalesOrder", Some(number), None, &Method::GET) => {
            let data = state.data.read();
            let order = S4Data::find(&data.sales_orders, "SalesOrder", number)
                .ok_or_else(|| SapError::not_found("A_SalesOrder"))?;
            let mut d = call.render("A_SalesOrder", "A_SalesOrderType", number, order);
            expand_order_into(call, &data, number, &mut d);
            Ok(axum::Json(json!({ "d": d })).into_response())
        }
        (SALES_ORDER, "A_SalesOrder", Some(number), Some("to_Item"), &Method::GET) => {
            let data = state.data.read();
            S4Data::find(&data.sales_orders, "SalesOrder", number)
                .ok_or_else(|| SapError::not_found("A_SalesOrder"))?;
            Ok(
                axum::Json(json!({ "d": { "results": items(call, &data, number) } }))
                    .into_response(),
            )
        }
        (SALES_ORDER, "A_SalesOrder", Some(number), Some("to_Partner"), &Method::GET) => {
            let data = state.data.read();
            S4Data::find(&data.sales_orders, "SalesOrder", number)
                .ok_or_else(|| SapError::not_found("A_SalesOrder"))?;
            Ok(
                axum::Json(json!({ "d": { "results": partners(call, &data, number) } }))
                    .into_response(),
            )
        }
        (BUSINESS_PARTNER, "A_BusinessPartner", None, None, &Method::GET) => {
            let data = state.data.read();
            collection(
                call,
                "A_BusinessPartner",
                "A_BusinessPartnerType",
                "BusinessPartner",
                &data.business_partners,
                |_| Map::new(),
            )
        }
        (BUSINESS_PARTNER, "A_BusinessPartner", None, None, &Method::POST) => {
            let bp = documents::create_partner(&mut state.data.write(), &object()?)?;
            let number = text(&bp, "BusinessPartner").unwrap_or_default().to_owned();
            let d = call.render("A_BusinessPartner", "A_BusinessPartnerType", &number, &bp);
            Ok(created(call, "A_BusinessPartner", &number, d))
        }
        (BUSINESS_PARTNER, "A_BusinessPartner", Some(number), None, &Method::GET) => {
            let data = state.data.read();
            let bp = S4Data::find(&data.business_partners, "BusinessPartner", number)
                .ok_or_else(|| SapError::not_found("A_BusinessPartner"))?;
            Ok(axum::Json(json!({ "d": call.render("A_BusinessPartner", "A_BusinessPartnerType", number, bp) })).into_response())
        }
        (PRODUCT, "A_Product", None, None, &Method::POST) => {
            let product = documents::create_product(&mut state.data.write(), &object()?)?;
            let key = text(&product, "Product").unwrap_or_default().to_owned();
            let d = call.render("A_Product", "A_ProductType", &key, &product);
            Ok(created(call, "A_Product", &key, d))
        }
        (PRODUCT, "A_Product", Some(key), None, &Method::GET) => {
            let data = state.data.read();
            let product = S4Data::find(&data.products, "Product", &key.to_uppercase())
                .ok_or_else(|| SapError::not_found("A_Product"))?;
            Ok(
                axum::Json(json!({ "d": call.render("A_Product", "A_ProductType", key, product) }))
                    .into_response(),
            )
        }
        (_, _, _, _, m) if *m != Method::GET && *m != Method::POST => Err(SapError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "/IWBEP/CM_MGW_RT/005",
            format!("Method {m} is not supported by this sandbox for '{rest}'"),
        )),
        _ => Err(SapError::not_found(set)),
    }
}

/// True when `$expand` names `nav` (or a path through it, `nav/…`).
fn expanded(call: &Call, nav: &str) -> bool {
    call.query.expand.iter().any(|e| {
        e == nav
            || e.strip_prefix(nav)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// A row of a composite-key entity set with its `__metadata`.
fn render_row(
    call: &Call,
    set: &str,
    type_name: &str,
    key: &str,
    row: &Entity,
) -> Map<String, Value> {
    let mut rendered = call.render(set, type_name, key, row);
    let uri = format!("{}/{set}({key})", call.base);
    rendered.insert(
        "__metadata".into(),
        json!({ "id": uri, "uri": uri, "type": format!("{}.{type_name}", call.service) }),
    );
    rendered
}

fn items(call: &Call, data: &S4Data, order: &str) -> Vec<Value> {
    let with_prices = call
        .query
        .expand
        .iter()
        .any(|e| e == "to_Item/to_PricingElement");
    data.items_of(order)
        .iter()
        .map(|item| {
            let item_number = text(item, "SalesOrderItem").unwrap_or_default();
            // Item keys are composite: A_SalesOrderItem(SalesOrder='1',SalesOrderItem='10').
            let key = format!("SalesOrder='{order}',SalesOrderItem='{item_number}'");
            let mut rendered = render_row(call, "A_SalesOrderItem", "A_SalesOrderItemType", &key, item);
            if with_prices {
                let elements: Vec<Value> = S4Data::of_order(&data.pricing_elements, order)
                    .iter()
                    .filter(|e| text(e, "SalesOrderItem") == Some(item_number))
                    .map(|e| {
                        let key = format!(
                            "SalesOrder='{order}',SalesOrderItem='{item_number}',PricingProcedureStep='{}',PricingProcedureCounter='{}'",
                            text(e, "PricingProcedureStep").unwrap_or_default(),
                            text(e, "PricingProcedureCounter").unwrap_or_default()
                        );
                        Value::Object(render_row(call, "A_SalesOrderItemPrElement", "A_SalesOrderItemPrElementType", &key, e))
                    })
                    .collect();
                rendered.insert("to_PricingElement".into(), json!({ "results": elements }));
            }
            Value::Object(rendered)
        })
        .collect()
}

/// The order's partners; with `$expand=to_Partner/to_Address` each carries its document address.
fn partners(call: &Call, data: &S4Data, order: &str) -> Vec<Value> {
    let with_address = call
        .query
        .expand
        .iter()
        .any(|e| e == "to_Partner/to_Address");
    S4Data::of_order(&data.partners, order)
        .iter()
        .map(|partner| {
            let function = text(partner, "PartnerFunction").unwrap_or_default();
            let key = format!("SalesOrder='{order}',PartnerFunction='{function}'");
            let mut rendered = render_row(call, "A_SalesOrderHeaderPartner", "A_SalesOrderHeaderPartnerType", &key, partner);
            if with_address {
                let addresses: Vec<Value> = S4Data::of_order(&data.partner_addresses, order)
                    .iter()
                    .filter(|a| text(a, "PartnerFunction") == Some(function))
                    .map(|a| {
                        let key = format!("SalesOrder='{order}',PartnerFunction='{function}',AddressRepresentationCode=''");
                        Value::Object(render_row(call, "A_SalesOrderPartnerAddress", "A_SalesOrderPartnerAddressType", &key, a))
                    })
                    .collect();
                rendered.insert("to_Address".into(), json!({ "results": addresses }));
            }
            Value::Object(rendered)
        })
        .collect()
}

fn expand_order_into(call: &Call, data: &S4Data, number: &str, d: &mut Map<String, Value>) {
    let base = format!("{}/A_SalesOrder('{number}')", call.base);
    for nav in [
        "to_Item",
        "to_Partner",
        "to_PricingElement",
        "to_PaymentPlanItemDetails",
    ] {
        let value = match nav {
            "to_Item" if expanded(call, nav) => json!({ "results": items(call, data, number) }),
            "to_Partner" if expanded(call, nav) => {
                json!({ "results": partners(call, data, number) })
            }
            _ => json!({ "__deferred": { "uri": format!("{base}/{nav}") } }),
        };
        if call.query.select.is_empty() || expanded(call, nav) {
            d.insert(nav.into(), value);
        }
    }
}

fn expand_order(call: &Call, data: &S4Data, order: &Entity) -> Map<String, Value> {
    let mut extra = Map::new();
    expand_order_into(
        call,
        data,
        text(order, "SalesOrder").unwrap_or_default(),
        &mut extra,
    );
    extra
}

fn collection(
    call: &Call,
    set: &str,
    type_name: &str,
    key_property: &str,
    entities: &[Entity],
    extra: impl Fn(&Entity) -> Map<String, Value>,
) -> Result<Response, SapError> {
    let matching: Vec<&Entity> = entities.iter().filter(|e| call.query.matches(e)).collect();
    let count = matching.len();
    let results: Vec<Value> = matching
        .into_iter()
        .skip(call.query.skip)
        .take(call.query.top.unwrap_or(usize::MAX))
        .map(|e| {
            let mut d = call.render(set, type_name, text(e, key_property).unwrap_or_default(), e);
            d.extend(extra(e));
            Value::Object(d)
        })
        .collect();
    let mut d = Map::new();
    if call.query.inline_count {
        d.insert("__count".into(), json!(count.to_string()));
    }
    d.insert("results".into(), Value::Array(results));
    Ok(axum::Json(json!({ "d": d })).into_response())
}

fn created(call: &Call, set: &str, key: &str, d: Map<String, Value>) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(json!({ "d": d }))).into_response();
    if let Ok(location) = HeaderValue::try_from(format!("{}/{set}('{key}')", call.base)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

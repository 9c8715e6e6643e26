//! The Dataverse (Dynamics 365) simulator: an Entra ID client-credentials token
//! endpoint, the Web API (OData v4) for accounts, opportunities,
//! opportunityproducts, products, currencies and tasks, the `WinOpportunity`
//! action, `WhoAmI`, and a service-endpoint webhook with a header key.

pub(crate) mod config;
mod store;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use self::config::Dynamics365Config;
use self::store::{EnvData, Rejection, missing, set};
use self::webhook::Webhooks;
use crate::error::SandboxError;
use crate::kit::entra::{self, EntraApp, Scope};
use crate::kit::oauth::Tokens;
use crate::kit::{self, Context, SimState, Simulator};
use crate::odata::Query;

/// Server-driven page size when the client asks for none.
const DEFAULT_PAGE: usize = 5000;
/// Lifetime of Entra tokens.
const TOKEN_TTL: Duration = Duration::from_secs(3599);

pub(crate) struct Shared {
    config: Dynamics365Config,
    data: SimState<EnvData>,
    tokens: Tokens,
    webhooks: Webhooks,
}

type AppState = Arc<Shared>;

/// `{"error":{"code","message"}}`.
fn error((status, code, message): Rejection) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn render_fault(status: StatusCode, retry_after: Option<u64>) -> Response {
    let (code, message) = match status.as_u16() {
        429 => (
            "0x80072322",
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
        ),
        401 => (
            "0x80072560",
            "The user is not a member of the organization.",
        ),
        _ => ("0x80040216", "An unexpected error occurred."),
    };
    let mut response = error((status.as_u16(), code, message.to_owned()));
    if let Some(secs) = retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Builds the simulator, loading `dynamics365.json` from the state directory when present.
pub(crate) fn build(ctx: &Context<'_>) -> Result<Simulator, SandboxError> {
    let config = ctx.config.dynamics365.clone();
    let webhooks = Webhooks::new(&config, ctx.shutdown.child_token())?;
    let webhook_routes = webhooks.routes();
    let shared = Arc::new(Shared {
        config,
        data: SimState::load("dynamics365", ctx.state_dir, EnvData::default)?,
        tokens: Tokens::default(),
        webhooks,
    });
    let api = Router::new()
        .route("/api/data/{version}/{*rest}", any(dispatch))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .fallback(|| async {
            error((
                404,
                "0x80060888",
                "Resource not found for the segment.".to_owned(),
            ))
        })
        .with_state(Arc::clone(&shared))
        .merge(webhook_routes);
    Ok(kit::assemble(
        shared,
        |s| &s.data,
        |s| {
            s.tokens.revoke_all();
            s.webhooks.clear();
        },
        api,
        render_fault,
    ))
}

/// Entra ID's client-credentials grant (v2.0 endpoint), for the org's `/.default` scope.
async fn token(
    State(shared): State<AppState>,
    UrlPath(tenant): UrlPath<String>,
    body: Bytes,
) -> Response {
    let config = &shared.config;
    let app = EntraApp {
        tenant_id: &config.tenant_id,
        client_id: &config.client_id,
        client_secret: &config.client_secret,
        scope: Scope::AnyDefault,
        ttl: TOKEN_TTL,
    };
    entra::token(&app, &shared.tokens, &tenant, &body)
}

async fn guard(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    if !shared.tokens.bearer_valid(request.headers()) {
        let mut response = error((
            401,
            "0x80072560",
            "The user is not a member of the organization.".to_owned(),
        ));
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize"));
        return response;
    }
    next.run(request).await
}

fn base(headers: &HeaderMap, version: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("org.crm.dynamics.com");
    format!("http://{host}/api/data/{version}")
}

/// `set`, `set(id)` or `set(id)/navigation`.
fn segments(rest: &str) -> (String, Option<String>, Option<String>) {
    let (head, nav) = match rest.split_once('/') {
        Some((h, n)) => (h, Some(n.to_owned())),
        None => (rest, None),
    };
    match head.split_once('(') {
        Some((name, id)) => (
            name.to_owned(),
            Some(id.trim_end_matches(')').to_owned()),
            nav,
        ),
        None => (head.to_owned(), None, nav),
    }
}

async fn dispatch(
    State(shared): State<AppState>,
    method: Method,
    UrlPath((version, rest)): UrlPath<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = match Query::parse(raw.as_deref()) {
        Ok(q) => q,
        Err(message) => return error((400, "0x80060888", message)),
    };
    let base = base(&headers, &version);
    let body: Map<String, Value> = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice(&body) {
            Ok(Value::Object(map)) => map,
            _ => {
                return error((
                    400,
                    "0x80048d19",
                    "Error identified in Payload provided by the user.".to_owned(),
                ));
            }
        }
    };
    let (name, id, nav) = segments(&rest);
    match (method.as_str(), name.as_str(), id, nav.as_deref()) {
        ("GET", "WhoAmI", None, None) => Json(json!({ "@odata.context": format!("{base}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"), "BusinessUnitId": "0d365000-0000-4000-8000-0000000000b1", "UserId": store::APP_USER, "OrganizationId": shared.config.organization_id })).into_response(),
        ("POST", "WinOpportunity", None, None) => win(&shared, &body),
        ("GET", "opportunities", Some(id), Some("product_opportunities")) => {
            let data = shared.data.read();
            let Some(opportunities) = set("opportunities") else { return error((500, "0x80040216", "no set".into())) };
            if data.get("opportunities", &id).is_none() {
                return error(missing(opportunities, &id));
            }
            let rows: Vec<Map<String, Value>> = data.list("opportunityproducts").into_iter().filter(|r| r.get("_opportunityid_value").and_then(Value::as_str) == Some(id.to_ascii_lowercase().as_str())).collect();
            page(&headers, &query, rows, &format!("{base}/opportunities({id})/product_opportunities"))
        }
        (method, name, id, None) => {
            let Some(entity_set) = set(name) else {
                return error((404, "0x80060888", format!("Resource not found for the segment '{name}'.")));
            };
            if let Err(message) = query.check_select(entity_set.columns, &format!("Microsoft.Dynamics.CRM.{}", entity_set.logical)) {
                return error((400, "0x80060888", message));
            }
            match (method, id) {
                ("GET", Some(id)) => match shared.data.read().get(name, &id) {
                    Some(row) => Json(query.project(row)).into_response(),
                    None => error(missing(entity_set, &id)),
                },
                ("GET", None) => {
                    let rows = shared.data.read().list(name);
                    page(&headers, &query, rows, &format!("{base}/{name}"))
                }
                ("POST", None) => {
                    let created = shared.data.write().create(entity_set, body);
                    match created {
                        Ok(id) => {
                            let mut response = StatusCode::NO_CONTENT.into_response();
                            if let Ok(value) = HeaderValue::from_str(&format!("{base}/{name}({id})")) {
                                response.headers_mut().insert("OData-EntityId", value);
                            }
                            response
                        }
                        Err(rejection) => error(rejection),
                    }
                }
                ("PATCH", Some(id)) => {
                    let must_exist = headers.get(header::IF_MATCH).is_some_and(|v| v == "*");
                    let must_be_new = headers.get(header::IF_NONE_MATCH).is_some_and(|v| v == "*");
                    let updated = shared.data.write().update(entity_set, &id, body, must_exist, must_be_new);
                    match updated {
                        Ok(()) => StatusCode::NO_CONTENT.into_response(),
                        Err(rejection) => error(rejection),
                    }
                }
                _ => error((405, "0x80060888", "The requested operation is not supported.".to_owned())),
            }
        }
        _ => error((404, "0x80060888", "Resource not found for the segment.".to_owned())),
    }
}

/// `WinOpportunity` with `{"Status": n, "OpportunityClose": {"opportunityid@odata.bind": "/opportunities(id)"}}`.
fn win(shared: &AppState, body: &Map<String, Value>) -> Response {
    let status = body.get("Status").and_then(Value::as_i64).unwrap_or(3);
    let target = body
        .get("OpportunityClose")
        .and_then(|c| c.get("opportunityid@odata.bind"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(id) = target
        .strip_prefix("/opportunities(")
        .and_then(|t| t.strip_suffix(')'))
    else {
        return error((
            400,
            "0x80040203",
            "OpportunityClose.opportunityid is required.".to_owned(),
        ));
    };
    let won = shared.data.write().win(id, status);
    match won {
        Ok(()) => {
            shared.webhooks.won(&id.to_ascii_lowercase());
            StatusCode::NO_CONTENT.into_response()
        }
        Err(rejection) => error(rejection),
    }
}

/// One page (`Prefer: odata.maxpagesize`), with `@odata.nextLink` while more remain.
fn page(headers: &HeaderMap, query: &Query, rows: Vec<Map<String, Value>>, url: &str) -> Response {
    let size = headers
        .get("Prefer")
        .and_then(|v| v.to_str().ok())
        .and_then(|p| {
            p.split(',').find_map(|part| {
                part.trim()
                    .strip_prefix("odata.maxpagesize=")?
                    .parse::<usize>()
                    .ok()
            })
        })
        .unwrap_or(DEFAULT_PAGE)
        .max(1);
    let total = rows.len();
    let value: Vec<Map<String, Value>> = rows
        .iter()
        .skip(query.skip)
        .take(size)
        .map(|r| query.project(r))
        .collect();
    let mut body = json!({ "value": value });
    if query.skip + size < total {
        let select = if query.select.is_empty() {
            String::new()
        } else {
            format!("$select={}&", query.select.join(","))
        };
        body["@odata.nextLink"] = json!(format!("{url}?{select}$skiptoken={}", query.skip + size));
    }
    Json(body).into_response()
}

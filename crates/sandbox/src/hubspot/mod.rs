//! The HubSpot CRM simulator: v3 objects, v4 associations, properties, owners, rate limits and
//! signed webhooks.

mod association_types;
mod associations;
mod batch;
mod error;
mod guard;
mod objects;
mod owners;
mod properties;
mod render;
mod schema;
mod search;
mod store;
mod webhooks;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::SandboxError;
use crate::kit::{self, Context, SimState, Simulator};
use error::HsError;
use guard::RateLimiter;
use schema::ObjectType;
use store::HubSpotData;
use webhooks::Webhooks;

/// Everything the HubSpot handlers share.
pub(crate) struct Shared {
    config: crate::config::HubSpotConfig,
    data: SimState<HubSpotData>,
    limiter: RateLimiter,
    webhooks: Webhooks,
}

/// The state every HubSpot handler receives.
type AppState = Arc<Shared>;

/// Builds the simulator, loading `hubspot.json` from the state directory when present.
pub(crate) fn build(ctx: &Context<'_>) -> Result<Simulator, SandboxError> {
    let config = ctx.config.hubspot.clone();
    let webhooks = Webhooks::new(&config, ctx.shutdown.child_token())?;
    let webhook_routes = webhooks.routes();
    let limiter = RateLimiter::new(
        config.rate_limit_per_second,
        config.rate_limit_per_interval,
        config.daily_limit,
    );
    let shared = Arc::new(Shared {
        config,
        data: SimState::load("hubspot", ctx.state_dir, HubSpotData::seeded)?,
        limiter,
        webhooks,
    });
    let api = Router::new()
        .merge(objects::routes())
        .merge(batch::routes())
        .merge(associations::routes())
        .merge(properties::routes())
        .merge(owners::routes())
        .route("/account-info/v3/details", get(account_details))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            guard::guard,
        ))
        .fallback(not_found)
        .with_state(Arc::clone(&shared))
        .merge(webhook_routes);
    Ok(kit::assemble(
        shared,
        |s| &s.data,
        |s| s.webhooks.clear_deliveries(),
        api,
        error::render_fault,
    ))
}

/// `GET /account-info/v3/details`: the portal's settings, among them the
/// company currency deals without one of their own are in.
async fn account_details(State(shared): State<AppState>) -> Response {
    let config = &shared.config;
    let Some(currency) = &config.company_currency else {
        return HsError::new(
            StatusCode::FORBIDDEN,
            "MISSING_SCOPES",
            "This app hasn't been granted all required scopes to make this call.",
        )
        .into_response();
    };
    Json(json!({
        "portalId": config.portal_id,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": currency,
        "additionalCurrencies": [],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }))
    .into_response()
}

async fn not_found(request: Request) -> Response {
    HsError::route_not_found(request.uri().path()).into_response()
}

/// Parses the object type of a path segment.
fn object_type(segment: &str) -> Result<ObjectType, HsError> {
    ObjectType::parse(segment).ok_or_else(|| HsError::unknown_object_type(segment))
}

/// Parses a JSON request body.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, HsError> {
    serde_json::from_slice(body).map_err(|error| HsError::invalid_json(&error))
}

/// `http://{Host}` of the request, for paging links.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("api.hubapi.com");
    format!("http://{host}")
}

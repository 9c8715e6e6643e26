//! The Business Central API v2.0 simulator: an Entra ID token endpoint for the
//! client-credentials grant, one company with customers, items, sales orders
//! (deep insert of `salesOrderLines`) and posted invoices, and webhook
//! subscriptions with the `validationToken` handshake and the notifications
//! BC sends them (see [`notifications`]), and the sandbox's fulfilment control
//! endpoint (see [`fulfilment`]).
//!
//! Paths: `POST /{tenant}/oauth2/v2.0/token` and
//! `/v2.0/{tenant}/{environment}/api/v2.0/...`, as on
//! `login.microsoftonline.com` and `api.businesscentral.dynamics.com`.

pub(crate) mod config;
mod error;
mod fulfilment;
mod handlers;
mod notifications;
mod orders;
mod store;
mod subscriptions;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};

use crate::error::SandboxError;
use crate::kit::entra::{self, EntraApp, Scope};
use crate::kit::oauth::Tokens;
use crate::kit::{self, Context, SimState, Simulator};
use config::BusinessCentralConfig;
use error::BcError;
use notifications::Notifications;
use store::BcData;

/// Everything the Business Central handlers share.
pub(crate) struct Shared {
    data: SimState<BcData>,
    config: BusinessCentralConfig,
    tokens: Tokens,
    /// Calls subscribers for the webhook handshake.
    http: reqwest::Client,
    /// Notifies subscribers of changes.
    notifications: Notifications,
}

/// The state every handler receives.
type AppState = Arc<Shared>;

/// Builds the simulator, loading `businesscentral.json` from the state directory when present.
pub(crate) fn build(ctx: &Context<'_>) -> Result<Simulator, SandboxError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(SandboxError::HttpClient)?;
    let config = ctx.config.businesscentral.clone();
    let notifications = Notifications::new(&config, ctx.shutdown.child_token())?;
    let delivery_log = notifications.routes();
    let shared = Arc::new(Shared {
        data: SimState::load("businesscentral", ctx.state_dir, BcData::default)?,
        config,
        tokens: Tokens::default(),
        http,
        notifications,
    });
    let api = Router::new()
        .route(
            "/v2.0/{tenant}/{environment}/api/v2.0/{*rest}",
            any(handlers::api),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
    let vendor = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .merge(api)
        .fallback(not_found)
        .with_state(Arc::clone(&shared))
        .merge(delivery_log)
        .merge(kit::fulfilment::routes(Arc::clone(&shared)));
    Ok(kit::assemble(
        shared,
        |s| &s.data,
        |s| {
            s.tokens.revoke_all();
            s.notifications.clear();
        },
        vendor,
        error::render_fault,
    ))
}

/// The only scope Business Central's API accepts for app tokens.
const SCOPE: &str = "https://api.businesscentral.dynamics.com/.default";

/// `POST /{tenant}/oauth2/v2.0/token`: Entra ID's client-credentials grant.
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
        scope: Scope::Exactly(SCOPE),
        ttl: config.token_ttl,
    };
    entra::token(&app, &shared.tokens, &tenant, &body)
}

async fn not_found() -> Response {
    BcError::no_segment("").into_response()
}

/// Requires a bearer token issued by the token endpoint and not yet expired.
async fn guard(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    if !shared.tokens.bearer_valid(request.headers()) {
        tracing::info!(
            path = request.uri().path(),
            "Business Central token rejected."
        );
        return BcError::unauthenticated().into_response();
    }
    next.run(request).await
}

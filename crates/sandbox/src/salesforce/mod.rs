//! The Salesforce simulator: OAuth 2.0 (JWT bearer, client credentials), the REST
//! API's sObject, relationship, collection and composite resources, the daily API
//! allowance, and Outbound Messages or signed Flow callouts when an opportunity
//! is won.

mod api;
mod composite;
pub(crate) mod config;
mod error;
mod notify;
mod oauth;
mod schema;
mod store;

use std::sync::Arc;

use axum::response::IntoResponse;
use axum::routing::{any, post};
use axum::{Router, middleware};

use self::notify::Notifier;
use self::store::OrgData;
use crate::error::SandboxError;
use crate::kit::oauth::Tokens;
use crate::kit::{self, Context, SimState, Simulator};

/// Everything the handlers share.
pub(crate) struct Shared {
    config: config::SalesforceConfig,
    data: SimState<OrgData>,
    sessions: Tokens,
    notifier: Notifier,
}

type AppState = Arc<Shared>;

/// Builds the simulator, loading `salesforce.json` from the state directory when present.
pub(crate) fn build(ctx: &Context<'_>) -> Result<Simulator, SandboxError> {
    let config = ctx.config.salesforce.clone();
    let notifier = Notifier::new(&config, ctx.shutdown.child_token())?;
    let webhook_routes = notifier.routes();
    let shared = Arc::new(Shared {
        config,
        data: SimState::load("salesforce", ctx.state_dir, OrgData::default)?,
        sessions: Tokens::default(),
        notifier,
    });
    let api = Router::new()
        .route("/services/data/{version}/{*rest}", any(api::handle))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            oauth::guard,
        ))
        .route("/services/oauth2/token", post(oauth::token))
        .fallback(|| async { error::SfError::not_found().into_response() })
        .with_state(Arc::clone(&shared))
        .merge(webhook_routes);
    Ok(kit::assemble(
        shared,
        |s| &s.data,
        |s| {
            s.sessions.revoke_all();
            s.notifier.clear();
        },
        api,
        error::render_fault,
    ))
}

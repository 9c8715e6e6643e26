//! The SAP S/4HANA OData V2 simulator: `API_SALES_ORDER_SRV` (`A_SalesOrder`
//! deep insert with `to_Item`), `API_BUSINESS_PARTNER` (`A_BusinessPartner`
//! deep insert), a minimal `API_PRODUCT_SRV` material master, HTTP Basic or
//! OAuth client-credentials logon, and SAP's CSRF protocol (token fetched with
//! `x-csrf-token: Fetch`, bound to the session cookie, 403 `Required` otherwise);
//! Event Mesh CloudEvents of sales orders ([`events`]) and the fulfilment control
//! endpoint ([`fulfilment`]).

pub(crate) mod config;
mod documents;
mod error;
mod events;
mod fulfilment;
mod handlers;
mod session;
mod store;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use crate::error::SandboxError;
use crate::kit::{self, Context, SimState, Simulator};
use config::S4HanaConfig;
use events::Events;
use session::Sessions;
use store::S4Data;

/// Everything the handlers share.
pub(crate) struct Shared {
    data: SimState<S4Data>,
    config: S4HanaConfig,
    sessions: Sessions,
    /// Event Mesh deliveries.
    events: Events,
}

type AppState = Arc<Shared>;

/// Builds the simulator, loading `s4hana.json` from the state directory when present.
pub(crate) fn build(ctx: &Context<'_>) -> Result<Simulator, SandboxError> {
    let shared = Arc::new(Shared {
        data: SimState::load("s4hana", ctx.state_dir, S4Data::default)?,
        config: ctx.config.s4hana.clone(),
        sessions: Sessions::default(),
        events: Events::new(&ctx.config.s4hana, ctx.shutdown.child_token())?,
    });
    let odata = Router::new()
        .route("/sap/opu/odata/sap/{service}", get(handlers::service_root))
        .route("/sap/opu/odata/sap/{service}/", get(handlers::service_root))
        .route(
            "/sap/opu/odata/sap/{service}/{*rest}",
            any(handlers::resource),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
    let vendor = Router::new()
        .route("/sap/bc/sec/oauth2/token", post(session::token))
        .merge(odata)
        .fallback(|| async { error::SapError::not_found("").into_response() })
        .with_state(Arc::clone(&shared))
        .merge(shared.events.routes())
        .merge(kit::fulfilment::routes(Arc::clone(&shared)));
    Ok(kit::assemble(
        shared,
        |s| &s.data,
        |s| {
            s.sessions.clear();
            s.events.clear();
        },
        vendor,
        error::render_fault,
    ))
}

/// Logon (Basic or bearer), then the CSRF check on modifying requests.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.sessions.authenticated(&state, request.headers()) {
        tracing::info!(path = request.uri().path(), "S/4HANA logon rejected.");
        return error::unauthorized();
    }
    let modifying = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if modifying && !state.sessions.csrf_valid(&state, request.headers()) {
        return error::csrf_required();
    }
    next.run(request).await
}

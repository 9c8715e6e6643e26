//! The NetSuite REST Record simulator: customers, inventory items and sales orders behind
//! OAuth 1.0a token-based authentication; item fulfillments and invoices made by the
//! fulfilment control endpoint ([`fulfilment`]); and a User Event script's signed
//! record-change POSTs ([`events`]).

mod error;
mod events;
mod fulfilment;
mod handlers;
mod oauth;
mod query;
mod records;
mod render;
mod store;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use tokio::sync::Semaphore;

use crate::error::SandboxError;
use crate::kit::{self, Context, SimState, Simulator};
use error::NsError;
use events::Events;
use oauth::{SignedRequest, Verifier};
use store::NetSuiteData;

/// Everything the NetSuite handlers share.
pub(crate) struct Shared {
    data: SimState<NetSuiteData>,
    verifier: Verifier,
    concurrency: Option<Arc<Semaphore>>,
    /// The User Event script's POSTs.
    events: Events,
}

/// The state every NetSuite handler receives.
type AppState = Arc<Shared>;

/// Builds the simulator, loading `netsuite.json` from the state directory when present.
pub(crate) fn build(ctx: &Context<'_>) -> Result<Simulator, SandboxError> {
    let config = &ctx.config.netsuite;
    let shared = Arc::new(Shared {
        data: SimState::load_with(
            "netsuite",
            ctx.state_dir,
            NetSuiteData::default,
            NetSuiteData::rebuild_indexes,
        )?,
        verifier: Verifier::new(config),
        concurrency: config
            .concurrency_limit
            .map(|limit| Arc::new(Semaphore::new(limit))),
        events: Events::new(config, ctx.shutdown.child_token())?,
    });
    let control = shared
        .events
        .routes()
        .merge(kit::fulfilment::routes(Arc::clone(&shared)));
    let api = Router::new()
        .route(
            "/services/rest/record/v1/{record_type}",
            get(handlers::list).post(handlers::create),
        )
        .route(
            "/services/rest/record/v1/{record_type}/{record_id}",
            get(handlers::read)
                .patch(handlers::update)
                .put(handlers::upsert)
                .delete(handlers::delete),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard))
        .fallback(not_found)
        .with_state(Arc::clone(&shared))
        .merge(control);
    Ok(kit::assemble(
        shared,
        |s| &s.data,
        |s| {
            s.verifier.reset();
            s.events.clear();
        },
        api,
        error::render_fault,
    ))
}

async fn not_found() -> Response {
    NsError::new(
        axum::http::StatusCode::NOT_FOUND,
        "NONEXISTENT_ID",
        "The requested resource does not exist.",
    )
    .into_response()
}

/// Verifies the OAuth signature and applies the concurrency limit.
async fn guard(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        })
        .unwrap_or_default();
    let signed = SignedRequest {
        method: request.method().as_str(),
        host,
        path: request.uri().path(),
        query: request.uri().query(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok()),
    };
    if let Err(reason) = shared.verifier.verify(signed, Utc::now().timestamp()) {
        tracing::info!(%reason, path = signed.path, "NetSuite login rejected.");
        return NsError::invalid_login().into_response();
    }
    let _permit = match &shared.concurrency {
        None => None,
        Some(semaphore) => match Arc::clone(semaphore).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return NsError::concurrency_limit().into_response(),
        },
    };
    next.run(request).await
}

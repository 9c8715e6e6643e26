//! The Oracle Fusion Cloud simulator: Order Management's
//! `salesOrdersForOrderHub`, CRM `accounts` and product `itemsV2` REST
//! resources with the REST framework's collection, `?q=` finder and error
//! shapes; HTTP Basic for an integration user or bearer tokens from an
//! IDCS-style `/oauth2/v1/token` (client credentials); Order Management
//! business-event callbacks ([`events`]) and the fulfilment control endpoint
//! ([`fulfilment`]).

pub(crate) mod config;
mod error;
mod events;
mod fulfilment;
mod handlers;
mod store;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::json;

use crate::error::SandboxError;
use crate::kit::oauth::{self, Refusal, Tokens, oauth_error, same};
use crate::kit::{self, Context, SimState, Simulator};
use config::OracleFusionConfig;
use events::Events;
use store::OraData;

/// Everything the handlers share.
pub(crate) struct Shared {
    data: SimState<OraData>,
    config: OracleFusionConfig,
    tokens: Tokens,
    /// Business-event callbacks.
    events: Events,
}

type AppState = Arc<Shared>;

/// Builds the simulator, loading `oraclefusion.json` from the state directory when present.
pub(crate) fn build(ctx: &Context<'_>) -> Result<Simulator, SandboxError> {
    let shared = Arc::new(Shared {
        data: SimState::load("oraclefusion", ctx.state_dir, OraData::default)?,
        config: ctx.config.oraclefusion.clone(),
        tokens: Tokens::default(),
        events: Events::new(&ctx.config.oraclefusion, ctx.shutdown.child_token())?,
    });
    let api = Router::new()
        .route(
            "/{api}/resources/{version}/{*rest}",
            any(handlers::resource),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
    let vendor = Router::new()
        .route("/oauth2/v1/token", post(token))
        .merge(api)
        .fallback(|| async { error::OraError::not_found().into_response() })
        .with_state(Arc::clone(&shared))
        .merge(shared.events.routes())
        .merge(kit::fulfilment::routes(Arc::clone(&shared)));
    Ok(kit::assemble(
        shared,
        |s| &s.data,
        |s| {
            s.tokens.revoke_all();
            s.events.clear();
        },
        vendor,
        error::render_fault,
    ))
}

/// Basic for the integration user, or a live bearer token.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let config = &state.config;
    let ok = oauth::basic_or_bearer(request.headers(), &state.tokens, |user, password| {
        user == config.user && same(password, &config.password)
    });
    if !ok {
        tracing::info!(path = request.uri().path(), "Oracle Fusion login rejected.");
        return error::unauthorized();
    }
    next.run(request).await
}

/// `POST /oauth2/v1/token`: client credentials, the client in Basic or the form.
async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let config = &state.config;
    let client = (config.client_id.as_str(), config.client_secret.as_str());
    match oauth::client_credentials(&headers, &body, client, &state.tokens, config.token_ttl) {
        Ok(token) => axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": config.token_ttl.as_secs()})).into_response(),
        Err(Refusal::UnsupportedGrant) => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Grant type not supported."),
        Err(Refusal::InvalidClient) => oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed."),
    }
}

//! The Business Central API v2.0 simulator: an Entra ID token endpoint for the
//! client-credentials grant, one company with customers, items, sales orders
//! (deep insert of `salesOrderLines`) and posted invoices, and webhook
//! subscriptions with the `validationToken` handshake.
//!
//! Paths: `POST /{tenant}/oauth2/v2.0/token` and
//! `/v2.0/{tenant}/{environment}/api/v2.0/...`, as on
//! `login.microsoftonline.com` and `api.businesscentral.dynamics.com`.

pub(crate) mod config;
mod error;
mod handlers;
mod orders;
mod store;
mod subscriptions;
mod token;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::Value;

use crate::control::{ControlPlane, VendorControl};
use crate::error::SandboxError;
use crate::persist::{self, DirtyFlag, Persister};
use crate::util;
use config::BusinessCentralConfig;
use error::BcError;
use store::BcData;
use token::Tokens;

/// File name of the persisted Business Central state.
const STATE_FILE: &str = "businesscentral.json";

/// Everything the Business Central handlers share.
pub(crate) struct Shared {
    data: RwLock<BcData>,
    dirty: DirtyFlag,
    config: BusinessCentralConfig,
    tokens: Tokens,
    /// Calls subscribers for the webhook handshake.
    http: reqwest::Client,
}

/// The state every handler receives.
type AppState = Arc<Shared>;

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, BcData> {
        util::read(&self.data)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BcData> {
        self.dirty.mark();
        util::write(&self.data)
    }
}

impl VendorControl for Shared {
    fn dump_state(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(&*self.read())
    }

    fn reset(&self) {
        *self.write() = BcData::default();
        self.tokens.revoke_all();
    }
}

/// The Business Central simulator.
pub(crate) struct BusinessCentral {
    shared: Arc<Shared>,
    plane: Arc<ControlPlane>,
    state_path: Option<PathBuf>,
}

impl BusinessCentral {
    /// Builds the simulator, loading `businesscentral.json` from `state_dir` when present.
    pub(crate) fn new(
        config: BusinessCentralConfig,
        state_dir: Option<&Path>,
    ) -> Result<Self, SandboxError> {
        let state_path = state_dir.map(|dir| dir.join(STATE_FILE));
        let data = match &state_path {
            Some(path) => persist::load(path)?.unwrap_or_default(),
            None => BcData::default(),
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(SandboxError::HttpClient)?;
        let shared = Arc::new(Shared {
            data: RwLock::new(data),
            dirty: DirtyFlag::default(),
            config,
            tokens: Tokens::default(),
            http,
        });
        Ok(Self {
            shared,
            plane: ControlPlane::new(error::render_fault),
            state_path,
        })
    }

    /// The persister of `businesscentral.json`, when a state directory is configured.
    pub(crate) fn persister(&self) -> Option<Persister> {
        let path = self.state_path.clone()?;
        let shared = Arc::clone(&self.shared);
        Some(Persister::new(
            "businesscentral",
            path,
            self.shared.dirty.clone(),
            Arc::new(move || serde_json::to_vec(&*shared.read())),
        ))
    }

    /// The router serving the token endpoint, the API and the control endpoints.
    pub(crate) fn router(&self) -> Router {
        let shared = Arc::clone(&self.shared);
        let api = Router::new()
            .route(
                "/v2.0/{tenant}/{environment}/api/v2.0/{*rest}",
                any(handlers::api),
            )
            .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard));
        let vendor = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token::token))
            .merge(api)
            .fallback(not_found)
            .with_state(Arc::clone(&shared));
        crate::control::wrap(vendor, Arc::clone(&self.plane), shared)
    }
}

async fn not_found() -> Response {
    BcError::no_segment("").into_response()
}

/// Requires a bearer token issued by the token endpoint and not yet expired.
async fn guard(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if token.is_empty() || !shared.tokens.valid(token) {
        tracing::info!(
            path = request.uri().path(),
            "Business Central token rejected."
        );
        return BcError::unauthenticated().into_response();
    }
    next.run(request).await
}

//! The SAP S/4HANA OData V2 simulator: `API_SALES_ORDER_SRV` (`A_SalesOrder`
//! deep insert with `to_Item`), `API_BUSINESS_PARTNER` (`A_BusinessPartner`
//! deep insert), a minimal `API_PRODUCT_SRV` material master, HTTP Basic or
//! OAuth client-credentials logon, and SAP's CSRF protocol (token fetched with
//! `x-csrf-token: Fetch`, bound to the session cookie, 403 `Required` otherwise).

pub(crate) mod config;
mod documents;
mod error;
mod handlers;
mod session;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::Value;

use crate::control::{ControlPlane, VendorControl};
use crate::error::SandboxError;
use crate::persist::{self, DirtyFlag, Persister};
use crate::util;
use config::S4HanaConfig;
use session::Sessions;
use store::S4Data;

/// File name of the persisted S/4HANA state.
const STATE_FILE: &str = "s4hana.json";

/// Everything the handlers share.
pub(crate) struct Shared {
    data: RwLock<S4Data>,
    dirty: DirtyFlag,
    config: S4HanaConfig,
    sessions: Sessions,
}

type AppState = Arc<Shared>;

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, S4Data> {
        util::read(&self.data)
    }

    fn write(&self) -> RwLockWriteGuard<'_, S4Data> {
        self.dirty.mark();
        util::write(&self.data)
    }
}

impl VendorControl for Shared {
    fn dump_state(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(&*self.read())
    }

    fn reset(&self) {
        *self.write() = S4Data::default();
        self.sessions.clear();
    }
}

/// The S/4HANA simulator.
pub(crate) struct S4Hana {
    shared: Arc<Shared>,
    plane: Arc<ControlPlane>,
    state_path: Option<PathBuf>,
}

impl S4Hana {
    /// Builds the simulator, loading `s4hana.json` from `state_dir` when present.
    pub(crate) fn new(
        config: S4HanaConfig,
        state_dir: Option<&Path>,
    ) -> Result<Self, SandboxError> {
        let state_path = state_dir.map(|dir| dir.join(STATE_FILE));
        let data = match &state_path {
            Some(path) => persist::load(path)?.unwrap_or_default(),
            None => S4Data::default(),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                data: RwLock::new(data),
                dirty: DirtyFlag::default(),
                config,
                sessions: Sessions::default(),
            }),
            plane: ControlPlane::new(error::render_fault),
            state_path,
        })
    }

    /// The persister of `s4hana.json`, when a state directory is configured.
    pub(crate) fn persister(&self) -> Option<Persister> {
        let path = self.state_path.clone()?;
        let shared = Arc::clone(&self.shared);
        Some(Persister::new(
            "s4hana",
            path,
            self.shared.dirty.clone(),
            Arc::new(move || serde_json::to_vec(&*shared.read())),
        ))
    }

    /// The router serving the OData services, the token endpoint and the control endpoints.
    pub(crate) fn router(&self) -> Router {
        let shared = Arc::clone(&self.shared);
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
            .with_state(Arc::clone(&shared));
        crate::control::wrap(vendor, Arc::clone(&self.plane), shared)
    }
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

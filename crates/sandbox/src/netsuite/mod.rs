//! The NetSuite REST Record simulator: customers, inventory items and sales orders behind
//! OAuth 1.0a token-based authentication.

mod error;
mod handlers;
mod oauth;
mod query;
mod records;
mod render;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::config::NetSuiteConfig;
use crate::control::{ControlPlane, VendorControl};
use crate::error::SandboxError;
use crate::persist::{self, DirtyFlag, Persister};
use crate::util;
use error::NsError;
use oauth::{SignedRequest, Verifier};
use store::NetSuiteData;

/// File name of the persisted NetSuite state.
const STATE_FILE: &str = "netsuite.json";

/// Everything the NetSuite handlers share.
pub(crate) struct Shared {
    data: RwLock<NetSuiteData>,
    dirty: DirtyFlag,
    verifier: Verifier,
    concurrency: Option<Arc<Semaphore>>,
}

/// The state every NetSuite handler receives.
type AppState = Arc<Shared>;

impl Shared {
    /// Read access to the account.
    fn read(&self) -> RwLockReadGuard<'_, NetSuiteData> {
        util::read(&self.data)
    }

    /// Write access to the account; marks the state dirty for persistence.
    fn write(&self) -> RwLockWriteGuard<'_, NetSuiteData> {
        self.dirty.mark();
        util::write(&self.data)
    }
}

impl VendorControl for Shared {
    fn dump_state(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(&*self.read())
    }

    fn reset(&self) {
        *self.write() = NetSuiteData::default();
        self.verifier.reset();
    }
}

/// The NetSuite simulator.
pub(crate) struct NetSuite {
    shared: Arc<Shared>,
    plane: Arc<ControlPlane>,
    state_path: Option<PathBuf>,
}

impl NetSuite {
    /// Builds the simulator, loading `netsuite.json` from `state_dir` when present.
    pub(crate) fn new(
        config: NetSuiteConfig,
        state_dir: Option<&Path>,
    ) -> Result<Self, SandboxError> {
        let state_path = state_dir.map(|dir| dir.join(STATE_FILE));
        let mut data = match &state_path {
            Some(path) => persist::load(path)?.unwrap_or_default(),
            None => NetSuiteData::default(),
        };
        data.rebuild_indexes();
        let shared = Arc::new(Shared {
            data: RwLock::new(data),
            dirty: DirtyFlag::default(),
            verifier: Verifier::new(&config),
            concurrency: config
                .concurrency_limit
                .map(|limit| Arc::new(Semaphore::new(limit))),
        });
        Ok(Self {
            shared,
            plane: ControlPlane::new(error::render_fault),
            state_path,
        })
    }

    /// The persister of `netsuite.json`, when a state directory is configured.
    pub(crate) fn persister(&self) -> Option<Persister> {
        let path = self.state_path.clone()?;
        let shared = Arc::clone(&self.shared);
        Some(Persister::new(
            "netsuite",
            path,
            self.shared.dirty.clone(),
            Arc::new(move || serde_json::to_vec(&*shared.read())),
        ))
    }

    /// The router serving the record service and the control endpoints.
    pub(crate) fn router(&self) -> Router {
        let shared = Arc::clone(&self.shared);
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
            .with_state(Arc::clone(&shared));
        crate::control::wrap(api, Arc::clone(&self.plane), shared)
    }
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

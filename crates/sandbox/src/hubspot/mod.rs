//! The HubSpot CRM simulator: v3 objects, v4 associations, properties, rate limits and signed
//! webhooks.

mod association_types;
mod associations;
mod batch;
mod control;
mod error;
mod guard;
mod objects;
mod properties;
mod render;
mod schema;
mod search;
mod store;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::HubSpotConfig;
use crate::control::{ControlPlane, VendorControl};
use crate::error::SandboxError;
use crate::persist::{self, DirtyFlag, Persister};
use crate::util;
use error::HsError;
use guard::RateLimiter;
use schema::ObjectType;
use store::HubSpotData;
use webhooks::Webhooks;

/// File name of the persisted HubSpot state.
const STATE_FILE: &str = "hubspot.json";

/// Everything the HubSpot handlers share.
pub(crate) struct Shared {
    config: HubSpotConfig,
    data: RwLock<HubSpotData>,
    dirty: DirtyFlag,
    limiter: RateLimiter,
    webhooks: Webhooks,
}

/// The state every HubSpot handler receives.
type AppState = Arc<Shared>;

impl Shared {
    /// Read access to the portal.
    fn read(&self) -> RwLockReadGuard<'_, HubSpotData> {
        util::read(&self.data)
    }

    /// Write access to the portal; marks the state dirty for persistence.
    fn write(&self) -> RwLockWriteGuard<'_, HubSpotData> {
        self.dirty.mark();
        util::write(&self.data)
    }
}

impl VendorControl for Shared {
    fn dump_state(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(&*self.read())
    }

    fn reset(&self) {
        *self.write() = HubSpotData::seeded();
        self.webhooks.clear_deliveries();
    }
}

/// The HubSpot simulator.
pub(crate) struct HubSpot {
    shared: Arc<Shared>,
    plane: Arc<ControlPlane>,
    state_path: Option<PathBuf>,
}

impl HubSpot {
    /// Builds the simulator, loading `hubspot.json` from `state_dir` when present.
    pub(crate) fn new(
        config: HubSpotConfig,
        state_dir: Option<&Path>,
        shutdown: &CancellationToken,
    ) -> Result<Self, SandboxError> {
        let state_path = state_dir.map(|dir| dir.join(STATE_FILE));
        let data = match &state_path {
            Some(path) => persist::load(path)?.unwrap_or_else(HubSpotData::seeded),
            None => HubSpotData::seeded(),
        };
        let webhooks = Webhooks::new(&config, shutdown.child_token())?;
        let limiter = RateLimiter::new(config.rate_limit_per_interval, config.daily_limit);
        let shared = Arc::new(Shared {
            config,
            data: RwLock::new(data),
            dirty: DirtyFlag::default(),
            limiter,
            webhooks,
        });
        Ok(Self {
            shared,
            plane: ControlPlane::new(error::render_fault),
            state_path,
        })
    }

    /// The persister of `hubspot.json`, when a state directory is configured.
    pub(crate) fn persister(&self) -> Option<Persister> {
        let path = self.state_path.clone()?;
        let shared = Arc::clone(&self.shared);
        Some(Persister::new(
            "hubspot",
            path,
            self.shared.dirty.clone(),
            Arc::new(move || serde_json::to_vec(&*shared.read())),
        ))
    }

    /// The router serving the HubSpot API and the control endpoints.
    pub(crate) fn router(&self) -> Router {
        let shared = Arc::clone(&self.shared);
        let api = Router::new()
            .merge(objects::routes())
            .merge(batch::routes())
            .merge(associations::routes())
            .merge(properties::routes())
            .route_layer(middleware::from_fn_with_state(
                Arc::clone(&shared),
                guard::guard,
            ))
            .merge(control::routes())
            .fallback(not_found)
            .with_state(Arc::clone(&shared));
        crate::control::wrap(api, Arc::clone(&self.plane), shared)
    }
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

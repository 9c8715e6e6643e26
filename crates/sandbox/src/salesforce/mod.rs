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

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use self::config::{NotifyFormat, SalesforceConfig};
use self::notify::{Notifier, NotifySettings};
use self::oauth::Sessions;
use self::store::OrgData;
use crate::control::{ControlPlane, VendorControl};
use crate::error::SandboxError;
use crate::persist::{self, DirtyFlag, Persister};
use crate::util;

/// File name of the persisted state.
const STATE_FILE: &str = "salesforce.json";

/// Everything the handlers share.
pub(crate) struct Shared {
    config: SalesforceConfig,
    data: RwLock<OrgData>,
    dirty: DirtyFlag,
    sessions: Sessions,
    notifier: Notifier,
}

type AppState = Arc<Shared>;

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, OrgData> {
        util::read(&self.data)
    }

    fn write(&self) -> RwLockWriteGuard<'_, OrgData> {
        self.dirty.mark();
        util::write(&self.data)
    }
}

impl VendorControl for Shared {
    fn dump_state(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(&*self.read())
    }

    fn reset(&self) {
        *self.write() = OrgData::default();
        self.sessions.revoke_all();
        self.notifier.clear();
    }
}

/// The Salesforce simulator.
pub(crate) struct Salesforce {
    shared: Arc<Shared>,
    plane: Arc<ControlPlane>,
    state_path: Option<PathBuf>,
}

impl Salesforce {
    /// Builds the simulator, loading `salesforce.json` from `state_dir` when present.
    pub(crate) fn new(
        config: SalesforceConfig,
        state_dir: Option<&Path>,
        shutdown: &CancellationToken,
    ) -> Result<Self, SandboxError> {
        let state_path = state_dir.map(|dir| dir.join(STATE_FILE));
        let data = match &state_path {
            Some(path) => persist::load(path)?.unwrap_or_default(),
            None => OrgData::default(),
        };
        let notifier = Notifier::new(&config, shutdown.child_token())?;
        let shared = Arc::new(Shared {
            config,
            data: RwLock::new(data),
            dirty: DirtyFlag::default(),
            sessions: Sessions::default(),
            notifier,
        });
        Ok(Self {
            shared,
            plane: ControlPlane::new(error::render_fault),
            state_path,
        })
    }

    /// The persister of `salesforce.json`, when a state directory is configured.
    pub(crate) fn persister(&self) -> Option<Persister> {
        let path = self.state_path.clone()?;
        let shared = Arc::clone(&self.shared);
        Some(Persister::new(
            "salesforce",
            path,
            self.shared.dirty.clone(),
            Arc::new(move || serde_json::to_vec(&*shared.read())),
        ))
    }

    /// The router serving the API and the control endpoints.
    pub(crate) fn router(&self) -> Router {
        let shared = Arc::clone(&self.shared);
        let api = Router::new()
            .route("/services/data/{version}/{*rest}", any(api::handle))
            .route_layer(middleware::from_fn_with_state(
                Arc::clone(&shared),
                oauth::guard,
            ))
            .route("/services/oauth2/token", post(oauth::token))
            .route("/__sandbox/webhooks", get(get_settings).put(put_settings))
            .route(
                "/__sandbox/webhooks/deliveries",
                get(deliveries).delete(clear_deliveries),
            )
            .fallback(|| async { error::SfError::not_found().into_response() })
            .with_state(Arc::clone(&shared));
        crate::control::wrap(api, Arc::clone(&self.plane), shared)
    }
}

/// Body of `PUT /__sandbox/webhooks`; an absent `format` keeps the current one.
#[derive(Debug, Deserialize)]
struct SettingsInput {
    target_url: Option<String>,
    #[serde(default)]
    format: Option<NotifyFormat>,
    /// Accepted for symmetry with the HubSpot simulator; Salesforce has one scheme per format.
    #[serde(default, rename = "signature")]
    _signature: Option<String>,
}

async fn get_settings(State(shared): State<AppState>) -> Json<NotifySettings> {
    Json(shared.notifier.settings())
}

async fn put_settings(State(shared): State<AppState>, body: Bytes) -> Response {
    let input: SettingsInput = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": error.to_string() })),
            )
                .into_response();
        }
    };
    if let Some(url) = &input.target_url
        && reqwest::Url::parse(url).is_err()
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("invalid target_url {url:?}") })),
        )
            .into_response();
    }
    let settings = NotifySettings {
        target_url: input.target_url,
        format: input.format.unwrap_or(shared.notifier.settings().format),
    };
    tracing::info!(target_url = ?settings.target_url, format = ?settings.format, "Salesforce notification target set.");
    shared.notifier.set_settings(settings.clone());
    Json(settings).into_response()
}

async fn deliveries(State(shared): State<AppState>) -> Response {
    let deliveries = shared.notifier.deliveries();
    Json(json!({ "count": deliveries.len(), "deliveries": deliveries })).into_response()
}

async fn clear_deliveries(State(shared): State<AppState>) -> StatusCode {
    shared.notifier.clear();
    StatusCode::NO_CONTENT
}

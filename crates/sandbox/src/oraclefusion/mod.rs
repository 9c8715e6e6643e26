//! The Oracle Fusion Cloud simulator: Order Management's
//! `salesOrdersForOrderHub`, CRM `accounts` and product `itemsV2` REST
//! resources with the REST framework's collection, `?q=` finder and error
//! shapes; HTTP Basic for an integration user or bearer tokens from an
//! IDCS-style `/oauth2/v1/token` (client credentials).

pub(crate) mod config;
mod error;
mod handlers;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine as _;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::control::{ControlPlane, VendorControl};
use crate::error::SandboxError;
use crate::persist::{self, DirtyFlag, Persister};
use crate::util::{self, lock, parse_query, query_value};
use config::OracleFusionConfig;
use store::OraData;

const STATE_FILE: &str = "oraclefusion.json";

/// Everything the handlers share.
pub(crate) struct Shared {
    data: RwLock<OraData>,
    dirty: DirtyFlag,
    config: OracleFusionConfig,
    tokens: Mutex<HashMap<String, Instant>>,
}

type AppState = Arc<Shared>;

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, OraData> {
        util::read(&self.data)
    }

    fn write(&self) -> RwLockWriteGuard<'_, OraData> {
        self.dirty.mark();
        util::write(&self.data)
    }
}

impl VendorControl for Shared {
    fn dump_state(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(&*self.read())
    }

    fn reset(&self) {
        *self.write() = OraData::default();
        lock(&self.tokens).clear();
    }
}

/// The Oracle Fusion simulator.
pub(crate) struct OracleFusion {
    shared: Arc<Shared>,
    plane: Arc<ControlPlane>,
    state_path: Option<PathBuf>,
}

impl OracleFusion {
    /// Builds the simulator, loading `oraclefusion.json` from `state_dir` when present.
    pub(crate) fn new(
        config: OracleFusionConfig,
        state_dir: Option<&Path>,
    ) -> Result<Self, SandboxError> {
        let state_path = state_dir.map(|dir| dir.join(STATE_FILE));
        let data = match &state_path {
            Some(path) => persist::load(path)?.unwrap_or_default(),
            None => OraData::default(),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                data: RwLock::new(data),
                dirty: DirtyFlag::default(),
                config,
                tokens: Mutex::new(HashMap::new()),
            }),
            plane: ControlPlane::new(error::render_fault),
            state_path,
        })
    }

    /// The persister of `oraclefusion.json`, when a state directory is configured.
    pub(crate) fn persister(&self) -> Option<Persister> {
        let path = self.state_path.clone()?;
        let shared = Arc::clone(&self.shared);
        Some(Persister::new(
            "oraclefusion",
            path,
            self.shared.dirty.clone(),
            Arc::new(move || serde_json::to_vec(&*shared.read())),
        ))
    }

    /// The router serving the REST resources, the token endpoint and the control endpoints.
    pub(crate) fn router(&self) -> Router {
        let shared = Arc::clone(&self.shared);
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
            .with_state(Arc::clone(&shared));
        crate::control::wrap(vendor, Arc::clone(&self.plane), shared)
    }
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?,
    )
    .ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Basic for the integration user, or a live bearer token.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let ok = if let Some((user, password)) = basic(headers) {
        user == state.config.user && same(&password, &state.config.password)
    } else {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| {
                lock(&state.tokens)
                    .get(t)
                    .is_some_and(|e| *e > Instant::now())
            })
    };
    if !ok {
        tracing::info!(path = request.uri().path(), "Oracle Fusion login rejected.");
        return error::unauthorized();
    }
    next.run(request).await
}

/// `POST /oauth2/v1/token`: client credentials, the client in Basic or the form.
async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_query(std::str::from_utf8(&body).ok());
    let (id, secret) = basic(&headers).unwrap_or_else(|| {
        (
            query_value(&form, "client_id")
                .unwrap_or_default()
                .to_owned(),
            query_value(&form, "client_secret")
                .unwrap_or_default()
                .to_owned(),
        )
    });
    if query_value(&form, "grant_type") != Some("client_credentials") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "unsupported_grant_type", "error_description": "Grant type not supported."}))).into_response();
    }
    if !same(&id, &state.config.client_id) || !same(&secret, &state.config.client_secret) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client", "error_description": "Client authentication failed."}))).into_response();
    }
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    lock(&state.tokens).insert(token.clone(), Instant::now() + state.config.token_ttl);
    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": state.config.token_ttl.as_secs()})).into_response()
}

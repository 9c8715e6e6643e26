//! The Pipedrive simulator: API v2 deals, deal products, organizations, persons,
//! products and activities, v1 notes, API-token and OAuth authentication, burst
//! rate limits with `x-ratelimit-*` headers, and webhooks v2 with Basic auth.

mod api;
pub(crate) mod config;
mod store;
mod webhooks;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use self::config::PipedriveConfig;
use self::store::CompanyData;
use self::webhooks::Webhooks;
use crate::control::{ControlPlane, VendorControl};
use crate::error::SandboxError;
use crate::persist::{self, DirtyFlag, Persister};
use crate::util::{self, lock};

const STATE_FILE: &str = "pipedrive.json";
const ERROR_INFO: &str =
    "Please check developers.pipedrive.com for more information about Pipedrive API.";
/// Pipedrive's burst window.
const WINDOW: Duration = Duration::from_secs(2);

pub(crate) struct Shared {
    config: PipedriveConfig,
    data: RwLock<CompanyData>,
    dirty: DirtyFlag,
    tokens: Mutex<HashSet<String>>,
    window: Mutex<(Instant, u32)>,
    webhooks: Webhooks,
}

type AppState = Arc<Shared>;

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, CompanyData> {
        util::read(&self.data)
    }

    fn write(&self) -> RwLockWriteGuard<'_, CompanyData> {
        self.dirty.mark();
        util::write(&self.data)
    }
}

impl VendorControl for Shared {
    fn dump_state(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(&*self.read())
    }

    fn reset(&self) {
        *self.write() = CompanyData::default();
        lock(&self.tokens).clear();
        self.webhooks.clear();
    }
}

/// `{"success":false,"error","error_info","data":null,"additional_data":null}`.
pub(crate) fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(json!({ "success": false, "error": message, "error_info": ERROR_INFO, "data": null, "additional_data": null }))).into_response()
}

fn render_fault(status: StatusCode, retry_after: Option<u64>) -> Response {
    let message = match status.as_u16() {
        401 => "unauthorized access",
        429 => "Request over limit",
        404 => "Not found",
        _ => "Internal server error",
    };
    let mut response = error(status.as_u16(), message);
    if let Some(secs) = retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn ok(status: StatusCode, data: Value, additional: Value) -> Response {
    (
        status,
        Json(json!({ "success": true, "data": data, "additional_data": additional })),
    )
        .into_response()
}

/// The Pipedrive simulator.
pub(crate) struct Pipedrive {
    shared: Arc<Shared>,
    plane: Arc<ControlPlane>,
    state_path: Option<PathBuf>,
}

impl Pipedrive {
    pub(crate) fn new(
        config: PipedriveConfig,
        state_dir: Option<&Path>,
        shutdown: &CancellationToken,
    ) -> Result<Self, SandboxError> {
        let state_path = state_dir.map(|dir| dir.join(STATE_FILE));
        let data = match &state_path {
            Some(path) => persist::load(path)?.unwrap_or_default(),
            None => CompanyData::default(),
        };
        let webhooks = Webhooks::new(&config, shutdown.child_token())?;
        let shared = Arc::new(Shared {
            config,
            data: RwLock::new(data),
            dirty: DirtyFlag::default(),
            tokens: Mutex::default(),
            window: Mutex::new((Instant::now(), 0)),
            webhooks,
        });
        Ok(Self {
            shared,
            plane: ControlPlane::new(render_fault),
            state_path,
        })
    }

    pub(crate) fn persister(&self) -> Option<Persister> {
        let path = self.state_path.clone()?;
        let shared = Arc::clone(&self.shared);
        Some(Persister::new(
            "pipedrive",
            path,
            self.shared.dirty.clone(),
            Arc::new(move || serde_json::to_vec(&*shared.read())),
        ))
    }

    pub(crate) fn router(&self) -> Router {
        let shared = Arc::clone(&self.shared);
        let api = Router::new()
            .route("/api/v2/{resource}", get(api::list).post(api::create))
            .route("/api/v2/{resource}/{id}", get(api::read).patch(api::update))
            .route(
                "/api/v2/deals/{id}/products",
                get(api::deal_products).post(api::add_deal_product),
            )
            .route("/api/v1/notes", get(api::list_notes).post(api::create_note))
            .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard))
            .route("/oauth/token", post(oauth_token))
            .merge(webhooks::routes())
            .fallback(|| async { error(404, "Unknown method .") })
            .with_state(Arc::clone(&shared));
        crate::control::wrap(api, Arc::clone(&self.plane), shared)
    }
}

/// API token (`x-api-token` header or `api_token` query) or OAuth bearer; burst limit and headers.
async fn guard(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let query_token = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "api_token")
            .map(|(_, v)| v.into_owned())
    });
    let api_token = headers
        .get("x-api-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query_token);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let authorised = api_token.is_some_and(|t| t == shared.config.api_token)
        || bearer.is_some_and(|t| lock(&shared.tokens).contains(&t));
    if !authorised {
        return error(401, "unauthorized access");
    }
    let (remaining, reset) = {
        let mut window = lock(&shared.window);
        if window.0.elapsed() >= WINDOW {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
        (
            shared.config.burst_limit.saturating_sub(window.1),
            (WINDOW.saturating_sub(window.0.elapsed())).as_secs().max(1),
        )
    };
    let over = lock(&shared.window).1 > shared.config.burst_limit;
    let mut response = if over {
        error(429, "Request over limit")
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", shared.config.burst_limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// The refresh-token grant, client authenticated with Basic.
async fn oauth_token(
    State(shared): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let client = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
        });
    let c = &shared.config;
    if client.as_deref() != Some(&format!("{}:{}", c.client_id, c.client_secret)) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "success": false, "message": "Invalid client credentials" })),
        )
            .into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || form.get("refresh_token") != Some(&c.refresh_token)
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "message": "Invalid grant" })),
        )
            .into_response();
    }
    let token = format!("v1u:{}", uuid::Uuid::new_v4().simple());
    lock(&shared.tokens).insert(token.clone());
    Json(json!({ "access_token": token, "token_type": "Bearer", "refresh_token": c.refresh_token, "scope": "base,deals:full,contacts:full,products:read,activities:full", "expires_in": 3599, "api_domain": "https://sandbox.pipedrive.com" })).into_response()
}

//! The Pipedrive simulator: API v2 deals, deal products, organizations, persons,
//! products and activities, v1 notes and users, API-token and OAuth authentication, burst
//! rate limits with `x-ratelimit-*` headers, and webhooks v2 with Basic auth.

mod api;
pub(crate) mod config;
mod store;
mod webhooks;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use self::config::PipedriveConfig;
use self::store::CompanyData;
use self::webhooks::Webhooks;
use crate::error::SandboxError;
use crate::kit::oauth::{self, TokenForm, Tokens};
use crate::kit::{self, Context, SimState, Simulator};
use crate::util::lock;

const ERROR_INFO: &str =
    "Please check developers.pipedrive.com for more information about Pipedrive API.";
/// Pipedrive's burst window.
const WINDOW: Duration = Duration::from_secs(2);
/// Lifetime of an OAuth access token (`expires_in`).
const TOKEN_TTL: Duration = Duration::from_secs(3599);

pub(crate) struct Shared {
    config: PipedriveConfig,
    data: SimState<CompanyData>,
    tokens: Tokens,
    window: Mutex<(Instant, u32)>,
    webhooks: Webhooks,
    refresh: Mutex<RefreshTokens>,
}

/// The refresh token the grant accepts now. Pipedrive may hand out a new
/// refresh token on a refresh; with rotation on (`PUT /__sandbox/oauth`) the
/// simulator always does and revokes the one used, so a client that keeps the
/// configured token after a refresh is refused (`invalid_grant`).
#[derive(Debug)]
struct RefreshTokens {
    current: String,
    rotate: bool,
}

type AppState = Arc<Shared>;

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

/// Builds the simulator, loading `pipedrive.json` from the state directory when present.
pub(crate) fn build(ctx: &Context<'_>) -> Result<Simulator, SandboxError> {
    let config = ctx.config.pipedrive.clone();
    let webhooks = Webhooks::new(&config, ctx.shutdown.child_token())?;
    let webhook_routes = webhooks.routes();
    let initial_refresh_token = config.refresh_token.clone();
    let shared = Arc::new(Shared {
        config,
        data: SimState::load("pipedrive", ctx.state_dir, CompanyData::default)?,
        tokens: Tokens::default(),
        window: Mutex::new((Instant::now(), 0)),
        webhooks,
        refresh: Mutex::new(RefreshTokens {
            current: initial_refresh_token,
            rotate: false,
        }),
    });
    let api = Router::new()
        .route("/api/v2/{resource}", get(api::list).post(api::create))
        .route("/api/v2/{resource}/{id}", get(api::read).patch(api::update))
        .route(
            "/api/v2/deals/{id}/products",
            get(api::deal_products).post(api::add_deal_product),
        )
        .route("/api/v1/notes", get(api::list_notes).post(api::create_note))
        .route("/api/v1/users", get(api::list_users).post(api::create_user))
        .route(
            "/api/v1/users/{id}",
            get(api::read_user).put(api::update_user),
        )
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), guard))
        .route("/oauth/token", post(oauth_token))
        .route("/__sandbox/oauth", get(oauth_state).put(set_oauth))
        .fallback(|| async { error(404, "Unknown method .") })
        .with_state(Arc::clone(&shared))
        .merge(webhook_routes);
    Ok(kit::assemble(
        shared,
        |s| &s.data,
        |s| {
            s.tokens.revoke_all();
            s.webhooks.clear();
            *lock(&s.refresh) = RefreshTokens {
                current: s.config.refresh_token.clone(),
                rotate: false,
            };
        },
        api,
        render_fault,
    ))
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
    let authorised = api_token.is_some_and(|t| t == shared.config.api_token)
        || shared.tokens.bearer_valid(headers);
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
    let form = TokenForm::parse(&body);
    let client = oauth::basic(&headers).map(|(id, secret)| format!("{id}:{secret}"));
    let c = &shared.config;
    if client.as_deref() != Some(&format!("{}:{}", c.client_id, c.client_secret)) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "success": false, "message": "Invalid client credentials" })),
        )
            .into_response();
    }
    let refresh_token = {
        let mut refresh = lock(&shared.refresh);
        if form.field("grant_type") != "refresh_token"
            || form.field("refresh_token") != refresh.current
        {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "invalid_grant", "message": "Invalid grant" })),
            )
                .into_response();
        }
        if refresh.rotate {
            refresh.current = format!("rt:{}", uuid::Uuid::new_v4().simple());
        }
        refresh.current.clone()
    };
    let token = shared
        .tokens
        .insert(format!("v1u:{}", uuid::Uuid::new_v4().simple()), TOKEN_TTL);
    Json(json!({ "access_token": token, "token_type": "Bearer", "refresh_token": refresh_token, "scope": "base,deals:full,contacts:full,products:read,activities:full", "expires_in": TOKEN_TTL.as_secs(), "api_domain": api_domain(&headers) })).into_response()
}

/// `GET /__sandbox/oauth`: whether refresh tokens rotate, and the one valid now.
async fn oauth_state(State(shared): State<AppState>) -> Json<Value> {
    let refresh = lock(&shared.refresh);
    Json(json!({ "rotate_refresh_tokens": refresh.rotate, "refresh_token": refresh.current }))
}

/// `PUT /__sandbox/oauth` `{"rotate_refresh_tokens": true}`: turns rotation on or off.
async fn set_oauth(State(shared): State<AppState>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "body must be JSON");
    };
    let Some(rotate) = body["rotate_refresh_tokens"].as_bool() else {
        return error(400, "rotate_refresh_tokens must be a boolean");
    };
    lock(&shared.refresh).rotate = rotate;
    oauth_state(State(shared)).await.into_response()
}

/// The company's API host, which Pipedrive names in every token response
/// (`https://{company}.pipedrive.com`): here the host the client called.
fn api_domain(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("sandbox.pipedrive.com");
    format!("http://{host}")
}

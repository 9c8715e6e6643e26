//! `GET /api/v1/breakers`: each flow's circuit breaker per vendor.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::AppState;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::store::breakers::{self, BreakerState};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/breakers", get(list))
}

/// The breakers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BreakerList {
    /// Open ones first, then by flow and vendor.
    pub items: Vec<BreakerState>,
}

/// The latest state of each flow's breaker per vendor (a breaker that never
/// changed is closed and not listed).
#[utoipa::path(
    get,
    path = "/api/v1/breakers",
    tag = "health",
    responses((status = 200, description = "Breakers", body = BreakerList)),
)]
async fn list(
    Viewer(_): Viewer,
    State(state): State<AppState>,
) -> Result<Json<BreakerList>, ApiError> {
    Ok(Json(BreakerList {
        items: breakers::latest(&state.pool).await?,
    }))
}

//! The ops API under `/api/v1`; each feature module owns its routes.

pub mod dead_letters;
pub mod events;
pub mod health;
pub mod reports;

use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};

use crate::AppState;
use crate::auth::{Principal, Viewer};
use crate::error::ApiError;

/// Every API route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .merge(events::router())
        .merge(dead_letters::router())
        .merge(health::router())
        .merge(reports::router())
}

/// `GET /api/v1/me`: who the token belongs to.
async fn me(Viewer(principal): Viewer) -> Json<Principal> {
    Json(principal)
}

/// Parses an optional RFC 3339 query parameter.
pub(crate) fn parse_time(
    name: &str,
    value: Option<&str>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| ApiError::BadRequest(format!("{name} must be an RFC 3339 time: {e}")))
        })
        .transpose()
}

/// Parses `limit` (default `default`, at most `max`).
pub(crate) fn parse_limit(value: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "limit must be a number from 1 to {max}"
            ))),
        },
    }
}

/// An empty string means "no filter".
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

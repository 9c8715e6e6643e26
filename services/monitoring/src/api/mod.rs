//! The ops API under `/api/v1`; each feature module owns its routes.

pub mod breakers;
pub mod bulk;
pub mod dead_letters;
pub mod doc;
pub mod events;
pub mod export;
pub mod health;
pub mod incidents;
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
        .merge(bulk::router())
        .merge(export::router())
        .merge(incidents::router())
        .merge(breakers::router())
        .merge(health::router())
        .merge(reports::router())
}

/// Who the token belongs to.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    responses((status = 200, description = "The token's name and role", body = Principal)),
)]
async fn me(Viewer(principal): Viewer) -> Json<Principal> {
    Json(principal)
}

/// Longest text parameter (an id or a filter) the API accepts, in characters.
pub const MAX_TEXT: usize = 256;

/// Checks a text parameter at the edge, before it reaches Postgres: not
/// empty, at most [`MAX_TEXT`] characters, no control characters (Postgres
/// text cannot hold NUL, and none belongs in an id or a filter).
pub(crate) fn check_text(name: &str, value: String) -> Result<String, ApiError> {
    if value.is_empty() {
        return Err(ApiError::BadRequest(format!("{name} must not be empty")));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::BadRequest(format!(
            "{name} must be at most {MAX_TEXT} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{name} must not contain control characters"
        )));
    }
    Ok(value)
}

/// An optional text parameter: absent is no filter; present is checked with [`check_text`].
pub(crate) fn text(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    value.map(|v| check_text(name, v)).transpose()
}

/// Earliest time a parameter may name (Postgres and chrono both hold it).
pub(crate) fn earliest() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Latest time a parameter may name: the end of year 9999, as RFC 3339 allows.
pub(crate) fn latest() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// True when `t` is between [`earliest`] and [`latest`].
pub(crate) fn in_range(t: DateTime<Utc>) -> bool {
    (earliest()..=latest()).contains(&t)
}

/// Parses an optional RFC 3339 query parameter; present but empty is a 400.
pub(crate) fn parse_time(
    name: &str,
    value: Option<&str>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .filter(|t| in_range(*t))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{name} must be an RFC 3339 time between years 0001 and 9999, e.g. 2026-01-31T12:00:00Z"
                    ))
                })
        })
        .transpose()
}

/// Parses an optional integer parameter from `min` to `max`; present but empty is a 400.
pub(crate) fn parse_int(
    name: &str,
    value: Option<&str>,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("{name} must be an integer from {min} to {max}"))
                })
        })
        .transpose()
}

/// Parses `limit` (default `default`, at most `max`).
pub(crate) fn parse_limit(value: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    Ok(parse_int("limit", value, 1, max)?.unwrap_or(default))
}

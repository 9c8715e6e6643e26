//! Bearer-token authentication and HubSpot's rate limits, with their response headers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::HsError;
use crate::util::lock;

/// Length of HubSpot's rolling burst window.
const INTERVAL: Duration = Duration::from_secs(10);

/// HubSpot's per-second window.
const SECOND: Duration = Duration::from_secs(1);

/// Counters of the current second, ten-second window and day.
#[derive(Debug)]
struct Windows {
    second_start: Instant,
    second_count: u64,
    interval_start: Instant,
    interval_count: u64,
    day: NaiveDate,
    day_count: u64,
}

/// What one request did to the limits.
#[derive(Debug, Clone, Copy)]
struct Usage {
    second_remaining: u64,
    interval_remaining: u64,
    daily_remaining: u64,
    /// `Some(policy)` when the request is over a limit.
    exceeded: Option<&'static str>,
    retry_after_secs: u64,
}

/// Fixed-window counters for the ten-second and daily limits.
#[derive(Debug)]
pub(super) struct RateLimiter {
    per_second: u64,
    per_interval: u64,
    per_day: u64,
    windows: Mutex<Windows>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` requests per second, `per_interval` per
    /// ten seconds and `per_day` per day.
    pub(super) fn new(per_second: u32, per_interval: u32, per_day: u64) -> Self {
        Self {
            per_second: u64::from(per_second),
            per_interval: u64::from(per_interval),
            per_day,
            windows: Mutex::new(Windows {
                second_start: Instant::now(),
                second_count: 0,
                interval_start: Instant::now(),
                interval_count: 0,
                day: Utc::now().date_naive(),
                day_count: 0,
            }),
        }
    }

    fn record(&self) -> Usage {
        let now = Instant::now();
        let today = Utc::now().date_naive();
        let mut windows = lock(&self.windows);
        if now.duration_since(windows.second_start) >= SECOND {
            windows.second_start = now;
            windows.second_count = 0;
        }
        if now.duration_since(windows.interval_start) >= INTERVAL {
            windows.interval_start = now;
            windows.interval_count = 0;
        }
        if windows.day != today {
            windows.day = today;
            windows.day_count = 0;
        }
        let exceeded = if windows.day_count >= self.per_day {
            Some("DAILY")
        } else if windows.interval_count >= self.per_interval {
            Some("TEN_SECONDLY_ROLLING")
        } else if windows.second_count >= self.per_second {
            Some("SECONDLY")
        } else {
            windows.second_count += 1;
            windows.interval_count += 1;
            windows.day_count += 1;
            None
        };
        let elapsed = now.duration_since(windows.interval_start);
        Usage {
            second_remaining: self.per_second.saturating_sub(windows.second_count),
            interval_remaining: self.per_interval.saturating_sub(windows.interval_count),
            daily_remaining: self.per_day.saturating_sub(windows.day_count),
            exceeded,
            retry_after_secs: INTERVAL.saturating_sub(elapsed).as_secs().max(1),
        }
    }

    fn headers(&self, usage: Usage, headers: &mut HeaderMap) {
        let pairs = [
            ("x-hubspot-ratelimit-max", self.per_interval),
            ("x-hubspot-ratelimit-remaining", usage.interval_remaining),
            ("x-hubspot-ratelimit-interval-milliseconds", 10_000),
            ("x-hubspot-ratelimit-daily", self.per_day),
            ("x-hubspot-ratelimit-daily-remaining", usage.daily_remaining),
            ("x-hubspot-ratelimit-secondly", self.per_second),
            (
                "x-hubspot-ratelimit-secondly-remaining",
                usage.second_remaining,
            ),
        ];
        for (name, value) in pairs {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
}

fn authorized(request: &Request, token: &str) -> bool {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(token.as_bytes())))
}

/// Rejects unauthenticated requests with 401 and over-limit ones with 429, and adds the
/// rate-limit headers to every authenticated response.
pub(super) async fn guard(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !authorized(&request, &shared.config.access_token) {
        return HsError::unauthenticated().into_response();
    }
    let usage = shared.limiter.record();
    let mut response = match usage.exceeded {
        Some(policy) => HsError::rate_limited(policy, Some(usage.retry_after_secs)).into_response(),
        None => next.run(request).await,
    };
    shared.limiter.headers(usage, response.headers_mut());
    response
}

//! What every source route passes before its handler: the source's rate
//! limit, then the whole body read within a deadline and a size limit.
//! Handlers of JSON vendors also call [`require_json`] once authenticated.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::error::IngressError;
use crate::settings::RateLimit;

/// One source's request budget.
#[derive(Clone)]
pub(crate) struct SourceLimiter {
    source: &'static str,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl SourceLimiter {
    /// A GCRA limiter of `limit` for `source` (zero values were refused at load).
    pub(crate) fn new(source: &'static str, limit: RateLimit) -> Self {
        let rate = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            source,
            limiter: Arc::new(RateLimiter::direct(
                Quota::per_second(rate).allow_burst(burst),
            )),
        }
    }
}

/// 429 with `Retry-After` once the source's budget is spent; the body is not read.
pub(crate) async fn rate_limit(
    State(limiter): State<SourceLimiter>,
    request: Request,
    next: Next,
) -> Response {
    match limiter.limiter.check() {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            metrics::counter!("crmerp_ingress_rate_limited_total", "source" => limiter.source)
                .increment(1);
            IngressError::RateLimited {
                source_name: limiter.source,
                // Whole seconds, rounded up: an earlier retry would be refused again.
                retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
            .into_response()
        }
    }
}

/// How much body, and how fast.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// Largest body in bytes (413 beyond).
    pub(crate) max_bytes: usize,
    /// Longest time for the whole body (408 beyond), however it trickles in.
    pub(crate) timeout: Duration,
}

/// Reads the whole body within `timeout` and `max_bytes` before the handler
/// runs, so a client sending a byte a second cannot hold the route.
pub(crate) async fn read_body(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = Limited::new(body, limits.max_bytes).collect();
    let body = match tokio::time::timeout(limits.timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => {
            return IngressError::TooLarge.into_response();
        }
        Ok(Err(error)) => return IngressError::Malformed(error.to_string()).into_response(),
        Err(_) => {
            metrics::counter!("crmerp_ingress_body_timeouts_total").increment(1);
            return IngressError::RequestTimeout.into_response();
        }
    };
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// 415 unless the `Content-Type` is JSON (`application/json` or
/// `application/<x>+json`, any parameters). A request without one is taken
/// as the vendor's JSON: the signature already vouches for the sender.
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), IngressError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let raw = String::from_utf8_lossy(value.as_bytes());
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(IngressError::UnsupportedMediaType(
            raw.chars().take(100).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().expect("header"));
        headers
    }

    #[test]
    fn json_content_types_pass_and_others_are_415() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/cloudevents+json",
        ] {
            assert!(require_json(&with(ok)).is_ok(), "{ok}");
        }
        assert!(require_json(&HeaderMap::new()).is_ok());
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "text/json+xml",
            "application/jsonp",
        ] {
            assert!(
                matches!(
                    require_json(&with(bad)),
                    Err(IngressError::UnsupportedMediaType(_))
                ),
                "{bad}"
            );
        }
    }
}

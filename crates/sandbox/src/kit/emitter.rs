//! The one webhook emitter: every outbound notification of every simulator is
//! retried on the configured schedule, logged per attempt (`GET
//! /__sandbox/webhooks/deliveries`), and stops with the sandbox.
//!
//! A vendor supplies the request of each attempt (its body, headers and
//! signature) and, where it has one, its runtime settings (where webhooks go,
//! how they are signed: `GET`/`PUT /__sandbox/webhooks`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::{EventConfig, RetryPolicy};
use crate::error::SandboxError;
use crate::util::{lock, read, write};

/// Deliveries kept in a log.
const LOG_CAPACITY: usize = 10_000;

/// A vendor's webhook settings, changeable through `PUT /__sandbox/webhooks`.
pub(crate) trait Settings: Clone + Serialize + Send + Sync + 'static {
    /// Body of `PUT /__sandbox/webhooks`.
    type Input: DeserializeOwned;
    /// The URL the input points webhooks at, checked before it is applied.
    fn input_target(input: &Self::Input) -> Option<&str>;
    /// The settings after `input`.
    fn apply(&self, input: Self::Input) -> Self;
}

/// Settings that are only a target URL (`{"target_url"}`); a `signature` field
/// is accepted and ignored, for symmetry with HubSpot's settings.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Target {
    /// Where webhooks go; `None` sends none.
    pub(crate) target_url: Option<String>,
}

/// Body of `PUT /__sandbox/webhooks` for [`Target`].
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TargetInput {
    target_url: Option<String>,
    #[serde(default, rename = "signature")]
    _signature: Option<String>,
}

impl Settings for Target {
    type Input = TargetInput;

    fn input_target(input: &TargetInput) -> Option<&str> {
        input.target_url.as_deref()
    }

    fn apply(&self, input: TargetInput) -> Self {
        Self {
            target_url: input.target_url,
        }
    }
}

/// One attempt's request, and where it goes (for the log).
pub(crate) struct Attempt {
    /// The target URL.
    pub(crate) target: String,
    /// The request, ready to send.
    pub(crate) request: reqwest::RequestBuilder,
}

/// What a delivery attempt's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accepted: done.
    Delivered,
    /// Try again after the policy's delay.
    Retry,
    /// Refused for good: stop (e.g. Business Central drops the subscription).
    Rejected,
}

/// The answer to one attempt: `status` is `None` for a transport failure.
pub(crate) struct Answer<'a> {
    /// HTTP status, if an answer came.
    pub(crate) status: Option<u16>,
    /// The answer's body.
    pub(crate) body: &'a str,
}

/// Decides what an answer means.
pub(crate) type Judge = fn(&Answer<'_>) -> Verdict;

/// The usual rule: any 2xx is accepted, everything else is retried.
pub(crate) fn success_is_delivery(answer: &Answer<'_>) -> Verdict {
    match answer.status {
        Some(status) if (200..300).contains(&status) => Verdict::Delivered,
        _ => Verdict::Retry,
    }
}

/// One delivery attempt, as logged: the vendor's description of the event
/// (`about`, flattened) plus the attempt's outcome.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Delivery<A> {
    #[serde(flatten)]
    about: A,
    attempt: u32,
    target_url: String,
    status: Option<u16>,
    error: Option<String>,
    delivered: bool,
    gave_up: bool,
    time: DateTime<Utc>,
}

impl<A> Emitter<Target, A>
where
    A: Clone + Serialize + Send + Sync + 'static,
{
    /// An emitter of an ERP's business events, configured by `config`.
    pub(crate) fn for_events(
        vendor: &'static str,
        config: &EventConfig,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, SandboxError> {
        let target = Target {
            target_url: config.target_url.clone(),
        };
        Self::new(
            vendor,
            target,
            config.retry,
            config.request_timeout,
            shutdown,
        )
    }

    /// POSTs `body` with `headers` (which name its content type) to the current
    /// target in the background, when one is set; 2xx delivers.
    pub(crate) fn post(self: &Arc<Self>, about: A, headers: Vec<(String, String)>, body: String) {
        if self.settings().target_url.is_none() {
            return;
        }
        let emitter = Arc::clone(self);
        let attempt = move |settings: &Target, _attempt: u32| {
            let target = settings.target_url.clone()?;
            let request = headers
                .iter()
                .fold(emitter.client().post(&target), |request, (name, value)| {
                    request.header(name.as_str(), value.as_str())
                })
                .body(body.clone());
            Some(Attempt { target, request })
        };
        self.spawn(about, attempt, success_is_delivery);
    }
}

/// Outbound webhooks of one simulator: settings `S`, events described by `A`.
pub(crate) struct Emitter<S, A> {
    vendor: &'static str,
    settings: RwLock<S>,
    retry: RetryPolicy,
    client: reqwest::Client,
    log: Mutex<VecDeque<Delivery<A>>>,
    shutdown: CancellationToken,
}

impl<S, A> Emitter<S, A>
where
    S: Clone + Send + Sync + 'static,
    A: Clone + Serialize + Send + Sync + 'static,
{
    /// Creates an emitter; attempts time out after `timeout` and stop with `shutdown`.
    pub(crate) fn new(
        vendor: &'static str,
        settings: S,
        retry: RetryPolicy,
        timeout: std::time::Duration,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, SandboxError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(SandboxError::HttpClient)?;
        Ok(Arc::new(Self {
            vendor,
            settings: RwLock::new(settings),
            retry,
            client,
            log: Mutex::new(VecDeque::new()),
            shutdown,
        }))
    }

    /// The current settings.
    pub(crate) fn settings(&self) -> S {
        read(&self.settings).clone()
    }

    /// The HTTP client attempts are built with.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Every logged attempt, oldest first.
    pub(crate) fn deliveries(&self) -> Vec<Delivery<A>> {
        lock(&self.log).iter().cloned().collect()
    }

    /// Empties the delivery log.
    pub(crate) fn clear(&self) {
        lock(&self.log).clear();
    }

    /// Delivers one event: `attempt(settings, n)` builds attempt `n` (0-based), or
    /// `None` when there is nowhere to deliver to any more; `judge` reads each
    /// answer. Retries on the policy's schedule until delivered, rejected, out of
    /// attempts or shut down, and returns the last verdict.
    pub(crate) async fn deliver<F>(&self, about: A, mut attempt: F, judge: Judge) -> Verdict
    where
        F: FnMut(&S, u32) -> Option<Attempt>,
    {
        let attempts = self.retry.max_attempts.max(1);
        for n in 0..attempts {
            let settings = self.settings();
            let Some(Attempt { target, request }) = attempt(&settings, n) else {
                return Verdict::Rejected;
            };
            let sent = tokio::select! {
                sent = send(request) => sent,
                () = self.shutdown.cancelled() => return Verdict::Retry,
            };
            let (status, transport_error, body) = sent;
            let verdict = match transport_error {
                Some(_) => Verdict::Retry,
                None => judge(&Answer {
                    status,
                    body: &body,
                }),
            };
            let error = transport_error.or_else(|| match (verdict, status) {
                (Verdict::Delivered, _) => None,
                (_, Some(status)) if !(200..300).contains(&status) => {
                    Some(format!("HTTP {status}"))
                }
                _ => Some("answer not accepted".to_owned()),
            });
            let gave_up =
                verdict == Verdict::Rejected || (verdict == Verdict::Retry && n + 1 >= attempts);
            if gave_up {
                tracing::warn!(
                    vendor = self.vendor,
                    attempts = n + 1,
                    "Webhook delivery gave up."
                );
            }
            self.record(Delivery {
                about: about.clone(),
                attempt: n,
                target_url: target,
                status,
                error,
                delivered: verdict == Verdict::Delivered,
                gave_up,
                time: Utc::now(),
            });
            if verdict != Verdict::Retry {
                return verdict;
            }
            if n + 1 < attempts {
                tokio::select! {
                    () = tokio::time::sleep(self.retry.delay_after(n)) => {}
                    () = self.shutdown.cancelled() => return Verdict::Retry,
                }
            }
        }
        Verdict::Retry
    }

    /// [`Emitter::deliver`] in the background.
    pub(crate) fn spawn<F>(self: &Arc<Self>, about: A, attempt: F, judge: Judge)
    where
        F: FnMut(&S, u32) -> Option<Attempt> + Send + 'static,
    {
        let emitter = Arc::clone(self);
        tokio::spawn(async move {
            emitter.deliver(about, attempt, judge).await;
        });
    }

    fn record(&self, delivery: Delivery<A>) {
        let mut log = lock(&self.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(delivery);
    }

    /// `GET` / `DELETE /__sandbox/webhooks/deliveries`.
    pub(crate) fn log_routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route(
                "/__sandbox/webhooks/deliveries",
                get(list_deliveries::<S, A>).delete(clear_deliveries::<S, A>),
            )
            .with_state(Arc::clone(self))
    }
}

impl<S, A> Emitter<S, A>
where
    S: Settings,
    A: Clone + Serialize + Send + Sync + 'static,
{
    /// The delivery log routes plus `GET` / `PUT /__sandbox/webhooks`.
    pub(crate) fn routes(self: &Arc<Self>) -> Router {
        let settings = Router::new()
            .route(
                "/__sandbox/webhooks",
                get(get_settings::<S, A>).put(put_settings::<S, A>),
            )
            .with_state(Arc::clone(self));
        self.log_routes().merge(settings)
    }
}

/// Sends one request: `(status, transport error, body)`.
async fn send(request: reqwest::RequestBuilder) -> (Option<u16>, Option<String>, String) {
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            (Some(status), None, body)
        }
        Err(error) => (None, Some(error.to_string()), String::new()),
    }
}

async fn list_deliveries<S, A>(State(emitter): State<Arc<Emitter<S, A>>>) -> Response
where
    S: Clone + Send + Sync + 'static,
    A: Clone + Serialize + Send + Sync + 'static,
{
    let deliveries = emitter.deliveries();
    Json(json!({ "count": deliveries.len(), "deliveries": deliveries })).into_response()
}

async fn clear_deliveries<S, A>(State(emitter): State<Arc<Emitter<S, A>>>) -> StatusCode
where
    S: Clone + Send + Sync + 'static,
    A: Clone + Serialize + Send + Sync + 'static,
{
    emitter.clear();
    StatusCode::NO_CONTENT
}

async fn get_settings<S: Settings, A>(State(emitter): State<Arc<Emitter<S, A>>>) -> Response {
    Json(read(&emitter.settings).clone()).into_response()
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn put_settings<S: Settings, A>(
    State(emitter): State<Arc<Emitter<S, A>>>,
    body: Bytes,
) -> Response {
    let input: S::Input = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(error) => return bad_request(error.to_string()),
    };
    if let Some(url) = S::input_target(&input)
        && reqwest::Url::parse(url).is_err()
    {
        return bad_request(format!("invalid target_url {url:?}"));
    }
    let mut settings = write(&emitter.settings);
    *settings = settings.apply(input);
    tracing::info!(vendor = emitter.vendor, "Webhook settings set.");
    Json(settings.clone()).into_response()
}

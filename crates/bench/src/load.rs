//! Load generators: open loop (sends on a fixed schedule whether or not earlier
//! requests finished; latency counts from the scheduled time, so a stall is not
//! hidden by coordinated omission) and closed loop (a fixed number of deals in
//! flight end to end, each slot sending the next deal when its outcome arrives).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use crmerp_proto::{EventEnvelope, Message as _};
use crmerp_testkit::hubspot::{DEV_CLIENT_SECRET, deal_stage_webhook, sign_v3};
use futures::StreamExt as _;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long one webhook request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a closed-loop slot waits for its deal's outcome.
const OUTCOME_TIMEOUT: Duration = Duration::from_secs(60);
/// Open loop: requests in flight beyond this are not sent and count as dropped.
pub const MAX_IN_FLIGHT: usize = 20_000;

/// One webhook the generator sent (or meant to send).
#[derive(Debug, Clone)]
pub struct Sent {
    /// The HubSpot deal won.
    pub deal_id: String,
    /// When it was scheduled (closed loop: sent), microseconds since the epoch.
    pub scheduled_us: i64,
    /// HTTP status; 0 when no answer came.
    pub status: u16,
    /// Scheduled time to the end of the answer, microseconds.
    pub response_us: u64,
    /// Sent during the warm-up, so left out of the statistics.
    pub warmup: bool,
}

/// What a generator run produced.
#[derive(Debug, Default)]
pub struct LoadRun {
    /// Every request, in no particular order.
    pub sent: Vec<Sent>,
    /// Open loop: requests not sent because too many were in flight.
    pub dropped: usize,
    /// Closed loop: accepted deals whose outcome did not arrive in time.
    pub outcome_timeouts: usize,
    /// Start of the measured window (after the warm-up), microseconds since the epoch.
    pub measure_start_us: i64,
    /// End of the measured window (the last scheduled send), microseconds since the epoch.
    pub measure_end_us: i64,
}

/// Posts signed HubSpot deal-won webhooks to ingress.
#[derive(Clone)]
pub struct Webhooks {
    http: reqwest::Client,
    url: Arc<str>,
}

impl Webhooks {
    /// A sender for the ingress at `ingress_url`.
    pub fn new(ingress_url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(4096)
            .build()?;
        Ok(Self {
            http,
            url: format!("{ingress_url}/webhooks/hubspot").into(),
        })
    }

    /// Posts one v3-signed `deal.propertyChange` to `closedwon`; returns the status (0: no answer).
    async fn post(&self, deal_id: &str, event_id: u64, occurred_at_ms: i64) -> u16 {
        let body = deal_stage_webhook(event_id, deal_id, "closedwon", occurred_at_ms);
        let now = Utc::now().timestamp_millis();
        let Ok(signature) = sign_v3(DEV_CLIENT_SECRET, &self.url, &body, now) else {
            return 0;
        };
        let response = self
            .http
            .post(&*self.url)
            .header("content-type", "application/json")
            .header("X-HubSpot-Signature-v3", signature)
            .header("X-HubSpot-Request-Timestamp", now.to_string())
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the body so the connection goes back to the pool.
                let _ = response.bytes().await;
                status
            }
            Err(_) => 0,
        }
    }
}

/// Maps an `Instant` schedule onto wall-clock microseconds.
#[derive(Clone, Copy)]
struct Clock {
    base: Instant,
    base_us: i64,
}

impl Clock {
    fn start_soon() -> Self {
        let lead = Duration::from_millis(100);
        Self {
            base: Instant::now() + lead,
            base_us: Utc::now().timestamp_micros() + micros(lead),
        }
    }

    fn wall_us(&self, at: Instant) -> i64 {
        if at >= self.base {
            self.base_us + micros(at - self.base)
        } else {
            self.base_us - micros(self.base - at)
        }
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn elapsed_us(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Sends one webhook per deal at `rate` per second, the first `warmup` of them
/// marked as warm-up; never waits for earlier requests.
pub async fn open_loop(
    webhooks: &Webhooks,
    deals: Vec<String>,
    rate: f64,
    warmup: Duration,
) -> LoadRun {
    let clock = Clock::start_soon();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let mut run = LoadRun {
        measure_start_us: clock.wall_us(clock.base + warmup),
        ..LoadRun::default()
    };
    let total = deals.len();
    for (n, deal_id) in deals.into_iter().enumerate() {
        let at = clock.base + Duration::from_secs_f64(n as f64 / rate);
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        let scheduled_us = clock.wall_us(at);
        if n + 1 == total {
            run.measure_end_us = scheduled_us;
        }
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            run.dropped += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (webhooks, in_flight) = (webhooks.clone(), Arc::clone(&in_flight));
        let warmup = at < clock.base + warmup;
        tasks.spawn(async move {
            let status = webhooks
                .post(&deal_id, n as u64 + 1, scheduled_us / 1000)
                .await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            Sent {
                deal_id,
                scheduled_us,
                status,
                response_us: elapsed_us(at),
                warmup,
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(sent) = done {
            run.sent.push(sent);
        }
    }
    run
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>;

/// Keeps `window` deals in flight end to end for `warmup + duration` (or until
/// `deals` run out): each slot sends a webhook, waits for the deal's outcome
/// on `outcome.deal-to-order.>`, then sends the next.
pub async fn closed_loop(
    webhooks: &Webhooks,
    nats: async_nats::Client,
    deals: Vec<String>,
    window: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<LoadRun> {
    let waiters: Waiters = Arc::default();
    let mut outcomes = nats.subscribe("outcome.deal-to-order.>").await?;
    nats.flush().await?;
    let listener = {
        let waiters = Arc::clone(&waiters);
        tokio::spawn(async move {
            while let Some(message) = outcomes.next().await {
                if message.subject.ends_with(".retry_scheduled") {
                    continue;
                }
                let Ok(envelope) = EventEnvelope::decode(message.payload) else {
                    continue;
                };
                let deal_id = envelope.subject.rsplit('/').next().unwrap_or_default();
                let waiter = waiters
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(deal_id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(());
                }
            }
        })
    };

    let clock = Clock::start_soon();
    tokio::time::sleep_until(clock.base).await;
    let warm_until = clock.base + warmup;
    let deadline = warm_until + duration;
    let slots = Arc::new(Semaphore::new(window));
    let timeouts = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let mut last_send = clock.base;
    for (n, deal_id) in deals.into_iter().enumerate() {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        last_send = now;
        let (webhooks, waiters, timeouts) = (
            webhooks.clone(),
            Arc::clone(&waiters),
            Arc::clone(&timeouts),
        );
        let scheduled_us = clock.wall_us(now);
        tasks.spawn(async move {
            let (done_tx, done_rx) = oneshot::channel();
            waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(deal_id.clone(), done_tx);
            let status = webhooks
                .post(&deal_id, n as u64 + 1, scheduled_us / 1000)
                .await;
            let response_us = elapsed_us(now);
            if (200..300).contains(&status) {
                if tokio::time::timeout(OUTCOME_TIMEOUT, done_rx)
                    .await
                    .is_err()
                {
                    timeouts.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                waiters
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&deal_id);
            }
            drop(slot);
            Sent {
                deal_id,
                scheduled_us,
                status,
                response_us,
                warmup: now < warm_until,
            }
        });
    }
    let mut run = LoadRun {
        measure_start_us: clock.wall_us(warm_until),
        measure_end_us: clock.wall_us(last_send),
        ..LoadRun::default()
    };
    while let Some(done) = tasks.join_next().await {
        if let Ok(sent) = done {
            run.sent.push(sent);
        }
    }
    listener.abort();
    run.outcome_timeouts = timeouts.load(Ordering::Relaxed);
    Ok(run)
}

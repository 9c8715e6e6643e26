//! Runs one phase on a running stack: seed, snapshot, load, drain, snapshot, read, analyse.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use tokio::time::Instant;

use crate::LOAD_GENERATOR;
use crate::analyze::analyze;
use crate::collect::{self, Mark};
use crate::load::{self, LoadRun, Webhooks};
use crate::machine::load_avg;
use crate::procstat::{self, Window, round2};
use crate::report::{JetStreamUse, Phase};
use crate::seed::Seeder;
use crate::stack::BenchStack;

/// How often processes are sampled while a phase runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// What to run.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// Keep `window` deals in flight end to end, drawing from `deals` pre-created deals.
    ClosedLoop {
        /// Deals in flight.
        window: usize,
        /// Deals to pre-create (the phase ends early when they run out).
        deals: usize,
    },
    /// Send at a fixed rate, deals/s.
    OpenLoop(f64),
}

/// One phase's plan.
#[derive(Debug, Clone, Copy)]
pub struct PhaseSpec {
    /// The load.
    pub load: Load,
    /// Warm-up, left out of the statistics.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Longest wait for the backlog after sending stops.
    pub drain_limit: Duration,
}

/// Everything a phase needs from the run.
pub struct Bench<'a> {
    /// The stack.
    pub stack: &'a BenchStack,
    /// JetStream on the stack's server.
    pub js: jetstream::Context,
    /// A plain NATS client (closed loop listens for outcomes on it).
    pub nats: async_nats::Client,
    /// Creates deals.
    pub seeder: Seeder,
    /// Sends webhooks.
    pub webhooks: Webhooks,
}

/// Samples every process until dropped.
struct Sampler {
    windows: Arc<Mutex<HashMap<String, Window>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pids: Vec<(String, u32)>) -> Self {
        let windows: Arc<Mutex<HashMap<String, Window>>> = Arc::default();
        {
            let mut map = windows.lock().unwrap_or_else(PoisonError::into_inner);
            for (name, pid) in &pids {
                if let Some(sample) = procstat::sample(*pid) {
                    map.insert(name.clone(), Window::new(sample));
                }
            }
        }
        let shared = Arc::clone(&windows);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(SAMPLE_EVERY).await;
                let mut map = shared.lock().unwrap_or_else(PoisonError::into_inner);
                for (name, pid) in &pids {
                    if let (Some(window), Some(sample)) =
                        (map.get_mut(name), procstat::sample(*pid))
                    {
                        window.push(sample);
                    }
                }
            }
        });
        Self { windows, task }
    }

    fn finish(self, pids: &[(String, u32)]) -> BTreeMap<String, procstat::Usage> {
        self.task.abort();
        let mut map = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, pid) in pids {
            if let (Some(window), Some(sample)) = (map.get_mut(name), procstat::sample(*pid)) {
                window.push(sample);
            }
        }
        map.iter()
            .map(|(name, window)| (name.clone(), window.usage()))
            .collect()
    }
}

/// Every process to watch: the stack's and this load generator.
pub fn watched(stack: &BenchStack) -> Vec<(String, u32)> {
    let mut pids: Vec<(String, u32)> = stack
        .pids()
        .into_iter()
        .map(|(name, pid)| (name.to_owned(), pid))
        .collect();
    pids.push((LOAD_GENERATOR.to_owned(), std::process::id()));
    pids
}

/// CPU and RSS of every process while nothing happens for `window`.
pub async fn idle(stack: &BenchStack, window: Duration) -> BTreeMap<String, procstat::Usage> {
    let pids = watched(stack);
    let sampler = Sampler::start(pids.clone());
    tokio::time::sleep(window).await;
    sampler.finish(&pids)
}

impl Bench<'_> {
    /// Runs one phase and returns its figures.
    pub async fn run(&mut self, name: &str, spec: PhaseSpec) -> anyhow::Result<Phase> {
        let total = spec.warmup + spec.duration;
        let deal_count = match spec.load {
            Load::ClosedLoop { deals, .. } => deals,
            Load::OpenLoop(rate) => (rate * total.as_secs_f64()).ceil() as usize,
        };
        let seeding = Instant::now();
        let deals = self
            .seeder
            .deals(deal_count)
            .await
            .context("seeding deals")?;
        eprintln!(
            "phase {name}: {deal_count} deals created in {:.1}s; running {:.0}s",
            seeding.elapsed().as_secs_f64(),
            total.as_secs_f64()
        );

        let before = collect::marks(&self.js).await?;
        let load_avg_start = load_avg();
        let pids = watched(self.stack);
        let sampler = Sampler::start(pids.clone());
        let run = match spec.load {
            Load::ClosedLoop { window, .. } => {
                load::closed_loop(
                    &self.webhooks,
                    self.nats.clone(),
                    deals,
                    window,
                    spec.warmup,
                    spec.duration,
                )
                .await?
            }
            Load::OpenLoop(rate) => load::open_loop(&self.webhooks, deals, rate, spec.warmup).await,
        };
        let drained = self.drain(spec.drain_limit).await;
        let processes = sampler.finish(&pids);
        let load_avg_end = load_avg();
        let after = collect::marks(&self.js).await?;
        let mut phase = self
            .figures(
                name,
                spec,
                &run,
                &before,
                &after,
                processes,
                [load_avg_start, load_avg_end],
            )
            .await?;
        if !drained {
            // Still queued, not lost: the product was too slow for this rate.
            phase.backlog_at_end = std::mem::take(&mut phase.errors.not_completed);
            phase.kept_up = false;
        }
        Ok(phase)
    }

    /// Waits until deal-to-order has nothing pending or in flight (true), or `limit` passed.
    async fn drain(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(stream) = self.js.get_stream("INBOUND").await
                && let Ok(info) = stream.consumer_info("deal-to-order").await
                && info.num_pending == 0
                && info.num_ack_pending == 0
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("backlog not drained within {limit:?}");
        false
    }

    #[allow(clippy::too_many_arguments)]
    async fn figures(
        &self,
        name: &str,
        spec: PhaseSpec,
        run: &LoadRun,
        before: &BTreeMap<String, Mark>,
        after: &BTreeMap<String, Mark>,
        processes: BTreeMap<String, procstat::Usage>,
        load_avgs: [[f64; 3]; 2],
    ) -> anyhow::Result<Phase> {
        let range = |stream: &str| {
            let from = before.get(stream).map_or(0, |m| m.last_seq);
            let to = after.get(stream).map_or(0, |m| m.last_seq);
            (from, to)
        };
        let (in_from, in_to) = range("INBOUND");
        let (out_from, out_to) = range("OUTCOMES");
        let (dlq_from, dlq_to) = range("DLQ");
        let inbound = collect::read_range(&self.js, "INBOUND", in_from, in_to).await?;
        let outcomes = collect::read_range(&self.js, "OUTCOMES", out_from, out_to).await?;
        let mut analysis = analyze(run, &inbound, &outcomes)?;
        analysis.errors.dead_letters = dlq_to.saturating_sub(dlq_from);
        analysis.errors.dropped_by_generator = run.dropped as u64;

        let mut per_stream = BTreeMap::new();
        for (stream, end) in after {
            let start = before.get(stream).copied().unwrap_or_default();
            per_stream.insert(
                stream.clone(),
                Mark {
                    last_seq: end.last_seq.saturating_sub(start.last_seq),
                    bytes: end.bytes.saturating_sub(start.bytes),
                },
            );
        }
        let writes: u64 = per_stream.values().map(|m| m.last_seq).sum();
        let bytes: u64 = per_stream.values().map(|m| m.bytes).sum();
        let per_deal = |v: u64| {
            if analysis.succeeded_total == 0 {
                0.0
            } else {
                round2(v as f64 / analysis.succeeded_total as f64)
            }
        };

        let window_secs = ((run.measure_end_us - run.measure_start_us) as f64 / 1e6).max(1e-3);
        let drain_secs = analysis.last_outcome_us.map_or(0.0, |last| {
            ((last - run.measure_end_us) as f64 / 1e6).max(0.0)
        });
        let offered = analysis.sent as f64 / window_secs;
        let completed_per_sec = analysis.completed_in_window as f64 / window_secs;
        let kept_up = analysis.errors.total() == 0
            && match spec.load {
                Load::ClosedLoop { .. } => true,
                Load::OpenLoop(rate) => {
                    completed_per_sec >= 0.95 * rate
                        && drain_secs <= (0.1 * spec.duration.as_secs_f64()).max(2.0)
                }
            };
        Ok(Phase {
            name: name.to_owned(),
            target_rate: match spec.load {
                Load::OpenLoop(rate) => Some(rate),
                Load::ClosedLoop { .. } => None,
            },
            window: match spec.load {
                Load::ClosedLoop { window, .. } => Some(window),
                Load::OpenLoop(_) => None,
            },
            warmup_secs: spec.warmup.as_secs_f64(),
            duration_secs: round2(window_secs),
            sent: analysis.sent,
            accepted: analysis.accepted,
            completed: analysis.completed,
            offered_per_sec: round2(offered),
            accepted_per_sec: round2(analysis.accepted as f64 / window_secs),
            completed_per_sec: round2(completed_per_sec),
            drain_secs: round2(drain_secs),
            kept_up,
            backlog_at_end: 0,
            errors: analysis.errors,
            latency_ms: analysis.latency_ms,
            jetstream: JetStreamUse {
                writes,
                bytes,
                writes_per_deal: per_deal(writes),
                bytes_per_deal: per_deal(bytes),
                per_stream,
            },
            processes,
            load_avg_start: load_avgs[0],
            load_avg_end: load_avgs[1],
        })
    }
}

//! The result file (`var/bench/result-<mode>.json`): its types, the printed
//! table and the completeness check `make bench-smoke` runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::collect::Mark;
use crate::machine::Machine;
use crate::procstat::Usage;

/// Version of the result format.
pub const SCHEMA: &str = "crmerp-bench/v1";

/// Stages every phase reports, in pipeline order.
pub const STAGES: &[(&str, &str)] = &[
    (
        "ingress_response",
        "generator: scheduled send -> ingress 2xx (after the PubAck)",
    ),
    (
        "ingress_publish",
        "DealWon.accepted_at -> INBOUND message stored",
    ),
    ("queue_wait", "DealWon.accepted_at -> Outcome.started_at"),
    (
        "crm_hydrate",
        "HubSpot reads of the attempt (sum of call durations)",
    ),
    (
        "erp_create",
        "NetSuite calls of the attempt: find order, find customer, create order",
    ),
    ("write_back", "HubSpot PATCH of the deal"),
    ("handler", "Outcome.duration_ms (whole attempt)"),
    (
        "outcome_logged",
        "Outcome.finished_at -> OUTCOMES message stored",
    ),
    (
        "end_to_end",
        "generator: scheduled send -> OUTCOMES message stored",
    ),
    (
        "end_to_end_product",
        "DealWon.accepted_at -> OUTCOMES message stored",
    ),
];

/// Percentiles of one stage, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    /// Deals measured.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// Everything that went wrong in a phase; the product promises zero.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Errors {
    /// Webhooks answered with a non-2xx status.
    pub non_2xx: u64,
    /// Webhooks that got no answer (connection error or timeout).
    pub no_answer: u64,
    /// Open loop: webhooks not sent because too many were in flight.
    pub dropped_by_generator: u64,
    /// Dead letters written in the phase.
    pub dead_letters: u64,
    /// Attempts that ended in a retry or a failure (any outcome but `succeeded`).
    pub failed_attempts: u64,
    /// Accepted deals without a `succeeded` outcome when the phase ended.
    pub not_completed: u64,
}

impl Errors {
    /// Sum of every error count.
    pub fn total(&self) -> u64 {
        self.non_2xx
            + self.no_answer
            + self.dropped_by_generator
            + self.dead_letters
            + self.failed_attempts
            + self.not_completed
    }
}

/// JetStream writes of a phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct JetStreamUse {
    /// Messages appended to every stream (INBOUND, OUTCOMES, DLQ, KV buckets).
    pub writes: u64,
    /// Growth of the stored bytes of every stream.
    pub bytes: u64,
    /// `writes` per completed deal.
    pub writes_per_deal: f64,
    /// `bytes` per completed deal.
    pub bytes_per_deal: f64,
    /// Per stream: appended messages and stored-bytes growth.
    pub per_stream: BTreeMap<String, Mark>,
}

/// One measured phase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Phase {
    /// `closed_loop` or `rate_<n>`.
    pub name: String,
    /// Offered rate of an open-loop phase, deals/s (`None`: closed loop).
    pub target_rate: Option<f64>,
    /// Closed loop: deals in flight end to end.
    pub window: Option<usize>,
    /// Warm-up left out of the statistics, seconds.
    pub warmup_secs: f64,
    /// Measured window, seconds.
    pub duration_secs: f64,
    /// Webhooks sent in the measured window.
    pub sent: u64,
    /// Of those, answered 2xx.
    pub accepted: u64,
    /// Of those, with a `succeeded` outcome.
    pub completed: u64,
    /// `sent` per second.
    pub offered_per_sec: f64,
    /// `accepted` per second.
    pub accepted_per_sec: f64,
    /// `succeeded` outcomes stored inside the measured window, per second:
    /// the sustained end-to-end throughput (webhook accepted -> order -> write-back).
    pub completed_per_sec: f64,
    /// Last outcome stored minus the end of the measured window, seconds (the backlog).
    pub drain_secs: f64,
    /// The pipeline kept up: no errors, throughput within 5 % of the offered
    /// rate and the backlog drained within max(2 s, 10 % of the window).
    pub kept_up: bool,
    /// Accepted deals still queued when the drain limit passed (not errors:
    /// the product was too slow for the rate, so it did not keep up).
    pub backlog_at_end: u64,
    /// Errors.
    pub errors: Errors,
    /// Per stage, see [`STAGES`].
    pub latency_ms: BTreeMap<String, Latency>,
    /// JetStream writes.
    pub jetstream: JetStreamUse,
    /// CPU and RSS per process over sending and draining.
    pub processes: BTreeMap<String, Usage>,
    /// Load average when the phase started.
    pub load_avg_start: [f64; 3],
    /// Load average when it ended.
    pub load_avg_end: [f64; 3],
}

/// A target of issue 7 and whether this run met it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    /// What is measured.
    pub name: String,
    /// The goal, e.g. `>= 1000 deals/s`.
    pub goal: String,
    /// The measured value (`None`: the phase it needs did not run or kept up).
    pub value: Option<f64>,
    /// Met or not (`None`: not measured).
    pub met: Option<bool>,
}

/// How the run was configured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    /// `smoke` or `full`.
    pub profile: String,
    /// Directory of the service binaries.
    pub bin_dir: String,
    /// Cargo profile of the service binaries (`release` or `debug`), from the directory name.
    pub build: String,
    /// Log level of the services.
    pub service_log_level: String,
    /// Extra service environment (e.g. flow concurrency overrides).
    pub service_env: BTreeMap<String, String>,
    /// Fixed rates planned, deals/s.
    pub rates: Vec<f64>,
    /// Warm-up per phase, seconds.
    pub warmup_secs: f64,
    /// Measured window per phase, seconds.
    pub phase_secs: f64,
    /// Closed-loop window (deals in flight end to end).
    pub closed_loop_window: usize,
}

/// One result file: one durability mode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchResult {
    /// [`SCHEMA`].
    pub schema: String,
    /// `shipped` or `throughput`.
    pub mode: String,
    /// nats-server `sync_interval`.
    pub sync_interval: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// The machine.
    pub machine: Machine,
    /// The configuration.
    pub config: RunConfig,
    /// Per process, idle after start-up.
    pub idle: BTreeMap<String, Usage>,
    /// Phases in the order run.
    pub phases: Vec<Phase>,
    /// Rates not run because an earlier rate did not keep up.
    pub skipped_rates: Vec<f64>,
    /// Highest sustained end-to-end throughput: the closed-loop phase or the
    /// highest kept-up rate, deals/s.
    pub max_sustained_per_sec: f64,
    /// Sum of every phase's errors.
    pub errors_total: u64,
    /// The targets for this mode.
    pub targets: Vec<Target>,
}

/// Service processes of the product (idle RSS target applies to these).
pub const SERVICES: &[&str] = &["ingress", "deal-to-order"];

/// Checks that a result is complete and well formed (no timing judgements).
pub fn check(result: &BenchResult) -> Result<(), String> {
    let fail = |what: String| Err(what);
    if result.schema != SCHEMA {
        return fail(format!(
            "schema is {:?}, expected {SCHEMA:?}",
            result.schema
        ));
    }
    if !["shipped", "throughput"].contains(&result.mode.as_str()) {
        return fail(format!("unknown mode {:?}", result.mode));
    }
    if result.machine.nproc == 0 || result.machine.memory_mib == 0 {
        return fail("machine description is empty".into());
    }
    for process in ["ingress", "deal-to-order", "nats-server", "sandbox"] {
        if !result.idle.contains_key(process) {
            return fail(format!("no idle figures for {process}"));
        }
    }
    if result.phases.is_empty() || result.phases[0].name != "closed_loop" {
        return fail("the first phase must be the closed loop".into());
    }
    if !result.phases.iter().any(|p| p.target_rate.is_some()) {
        return fail("no fixed-rate phase ran".into());
    }
    for phase in &result.phases {
        if phase.completed == 0 {
            return fail(format!("phase {} completed no deal", phase.name));
        }
        for (stage, _) in STAGES {
            let Some(latency) = phase.latency_ms.get(*stage) else {
                return fail(format!("phase {} lacks stage {stage}", phase.name));
            };
            if latency.count == 0 {
                return fail(format!(
                    "phase {} measured no deal in stage {stage}",
                    phase.name
                ));
            }
            let values = [
                latency.p50_ms,
                latency.p95_ms,
                latency.p99_ms,
                latency.max_ms,
            ];
            if values.iter().any(|v| !v.is_finite() || *v < 0.0)
                || values.windows(2).any(|w| w[0] > w[1])
            {
                return fail(format!(
                    "phase {} stage {stage}: percentiles out of order",
                    phase.name
                ));
            }
        }
        for process in [
            "ingress",
            "deal-to-order",
            "nats-server",
            "sandbox",
            "load-generator",
        ] {
            if !phase.processes.contains_key(process) {
                return fail(format!("phase {} lacks figures for {process}", phase.name));
            }
        }
        if phase.jetstream.writes == 0 || !phase.jetstream.writes_per_deal.is_finite() {
            return fail(format!("phase {} recorded no JetStream writes", phase.name));
        }
    }
    if result.targets.is_empty() {
        return fail("no targets".into());
    }
    Ok(())
}

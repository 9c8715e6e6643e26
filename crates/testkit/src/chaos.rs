//! The chaos soak: wins deals at a steady rate while randomly killing and
//! restarting deal-to-order, ingress and nats-server, then checks that every
//! accepted deal has exactly one ERP order and its write-back.
//!
//! `make chaos` runs it for minutes; `make test` runs a short version.
//!
//! The fault schedule (which process dies, and the pauses between kills) comes
//! from a seeded RNG: `CRMERP_CHAOS_SEED` when set, else the clock. The seed is
//! printed at the start and carried in the report and in every error, so a
//! failing run can be replayed with the same schedule (the timing of the load
//! still differs from run to run).
//!
//! The stack's ERP is Business Central, whose API (like the real one) does not
//! enforce unique external document numbers: a doubled order is stored, not
//! refused, so the "nothing doubled" count tests the product and not the ERP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::faults::post_deal_won;
use crate::stack::{Stack, StackOptions};

/// How long and how hard to shake the system.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Length of the fault phase.
    pub duration: Duration,
    /// Deals won per second.
    pub deals_per_second: u32,
    /// Mean pause between two faults.
    pub mean_fault_interval: Duration,
    /// Seed of the fault schedule; `None` reads [`SEED_ENV`], else uses the clock.
    pub seed: Option<u64>,
}

/// Environment variable that fixes the fault schedule's seed (to replay a run).
pub const SEED_ENV: &str = "CRMERP_CHAOS_SEED";

/// The ERP of the chaos stack: one that stores doubled references instead of refusing them.
pub const ERP: &str = "businesscentral";

/// The seed to use: `explicit`, else `$CRMERP_CHAOS_SEED`, else the clock.
pub fn choose_seed(explicit: Option<u64>) -> anyhow::Result<u64> {
    if let Some(seed) = explicit {
        return Ok(seed);
    }
    if let Ok(text) = std::env::var(SEED_ENV) {
        return text
            .trim()
            .parse()
            .with_context(|| format!("{SEED_ENV}={text} is not a u64"));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    // Nanoseconds truncated to 64 bits: distinct for runs started apart.
    Ok(now.as_nanos() as u64)
}

/// What happened, printed by `make chaos`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ChaosReport {
    /// Seed of the fault schedule (`CRMERP_CHAOS_SEED=<seed>` replays it).
    pub seed: u64,
    /// Deals won (webhooks sent, counting each deal once).
    pub deals: u64,
    /// Deals whose webhook ingress accepted (2xx), possibly after re-sends.
    pub accepted: u64,
    /// Webhook answers that were not 2xx (the sender re-sent those).
    pub webhook_rejections: u64,
    /// deal-to-order kills.
    pub worker_kills: u64,
    /// ingress kills.
    pub ingress_kills: u64,
    /// nats-server kills.
    pub nats_kills: u64,
    /// Accepted deals without an order or write-back at the end (must be 0).
    pub lost: u64,
    /// External ids with more than one ERP order (must be 0).
    pub doubled: u64,
    /// Seconds from the end of the fault phase until every deal was written back.
    pub drain_seconds: f64,
}

/// Runs the soak and returns the counts; fails only on harness errors (the
/// invariants are reported in the counts, so the caller decides). Prints the
/// seed first; every error names it.
pub async fn run(options: ChaosOptions) -> anyhow::Result<ChaosReport> {
    let seed = choose_seed(options.seed)?;
    eprintln!("chaos: seed {seed} (replay the fault schedule with {SEED_ENV}={seed})");
    run_seeded(options, seed)
        .await
        .with_context(|| format!("chaos run failed ({SEED_ENV}={seed} replays it)"))
}

async fn run_seeded(options: ChaosOptions, seed: u64) -> anyhow::Result<ChaosReport> {
    let mut rng = StdRng::seed_from_u64(seed);
    let stack = Stack::start(StackOptions {
        env: vec![("CRMERP__FLOW__PROBE_INTERVAL".into(), "200ms".into())],
        erp: ERP,
        ..StackOptions::default()
    })
    .await?;
    let total = u64::from(options.deals_per_second) * options.duration.as_secs().max(1);
    let deals = stack
        .hubspot
        .create_deals_for_one_company("Chaos", usize::try_from(total)?)
        .await?;
    // Ingress restarts keep their port, so this URL stays valid throughout.
    let ingress_url = stack.ingress_url()?;
    let stack = Arc::new(Mutex::new(stack));
    let rejections = Arc::new(AtomicU64::new(0));
    let mut report = ChaosReport {
        seed,
        deals: total,
        ..ChaosReport::default()
    };

    // The load: one webhook per deal on schedule, each re-sent until accepted as HubSpot would.
    let interval = Duration::from_secs(1) / options.deals_per_second.max(1);
    let mut senders = tokio::task::JoinSet::new();
    let started = Instant::now();
    for (n, deal_id) in deals.iter().cloned().enumerate() {
        let (ingress_url, rejections) = (ingress_url.clone(), Arc::clone(&rejections));
        let due = interval * u32::try_from(n)?;
        senders.spawn(async move {
            tokio::time::sleep(due).await;
            let occurred_at = chrono::Utc::now().timestamp_millis();
            for _ in 0..600 {
                let status =
                    post_deal_won(&ingress_url, &deal_id, 900_000 + n as u64, occurred_at).await;
                if matches!(status, Ok(s) if (200..300).contains(&s)) {
                    return Some(deal_id);
                }
                rejections.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None
        });
    }

    // The faults.
    while started.elapsed() < options.duration {
        let pause =
            rng.random_range(options.mean_fault_interval / 2..options.mean_fault_interval * 3 / 2);
        tokio::time::sleep(pause).await;
        let mut stack = stack.lock().await;
        match rng.random_range(0..3) {
            0 => {
                if let Some(worker) = stack.worker.as_mut() {
                    worker.kill().await?;
                }
                stack.start_worker().await?;
                report.worker_kills += 1;
            }
            1 => {
                stack.restart_ingress().await?;
                report.ingress_kills += 1;
            }
            _ => {
                stack.nats.kill().await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                stack.nats.restart().await?;
                report.nats_kills += 1;
            }
        }
    }

    let mut accepted = Vec::new();
    while let Some(result) = senders.join_next().await {
        if let Ok(Some(deal_id)) = result {
            accepted.push(deal_id);
        }
    }
    report.accepted = accepted.len() as u64;
    report.webhook_rejections = rejections.load(Ordering::Relaxed);

    let drain_started = Instant::now();
    let stack = stack.lock().await;
    let deadline = drain_started + Duration::from_secs(120);
    loop {
        let mut missing = 0;
        for deal_id in &accepted {
            if stack
                .crm
                .erp_order_number(deal_id)
                .await
                .ok()
                .flatten()
                .is_none()
            {
                missing += 1;
            }
        }
        if missing == 0 || Instant::now() > deadline {
            report.lost = missing;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    report.drain_seconds = drain_started.elapsed().as_secs_f64();
    // Counted through the ERP's own API, per deal: none is lost, more than one is doubled.
    for deal_id in &accepted {
        let orders = stack
            .erp
            .orders_for(&stack.crm.external_ref(deal_id))
            .await?
            .len();
        if orders == 0 {
            report.lost += 1;
        } else if orders > 1 {
            report.doubled += 1;
        }
    }
    Ok(report)
}

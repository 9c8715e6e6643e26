//! `make chaos`: a bounded soak that kills and restarts services and
//! nats-server while deals are won, then prints the counts and fails if any
//! accepted deal was lost or doubled.
//!
//! Usage: `crmerp-chaos [seconds] [deals-per-second]` (defaults 180 and 5).
//! The fault schedule's seed is printed first; `CRMERP_CHAOS_SEED=<seed>`
//! replays it.

use std::time::Duration;

use crmerp_testkit::chaos::{ChaosOptions, SEED_ENV, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(180);
    let rate: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    println!(
        "Chaos soak: {seconds} s at {rate} deals/s, random kills of deal-to-order, ingress and nats-server."
    );
    let report = run(ChaosOptions {
        duration: Duration::from_secs(seconds),
        deals_per_second: rate,
        mean_fault_interval: Duration::from_secs(4),
        seed: None,
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    anyhow::ensure!(
        report.lost == 0 && report.doubled == 0,
        "invariants violated: {} lost, {} doubled (replay with {SEED_ENV}={})",
        report.lost,
        report.doubled,
        report.seed
    );
    println!("Nothing lost, nothing doubled.");
    Ok(())
}

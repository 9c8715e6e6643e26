//! The short chaos soak that `make test` runs; `make chaos` runs the long one.
//!
//! The fault schedule is seeded: the seed is printed at the start and named in
//! every failure; `CRMERP_CHAOS_SEED=<seed>` replays it.

use std::time::Duration;

use crmerp_testkit::chaos::{ChaosOptions, SEED_ENV, run};

#[tokio::test]
async fn short_chaos_soak_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let report = run(ChaosOptions {
        duration: Duration::from_secs(15),
        deals_per_second: 4,
        mean_fault_interval: Duration::from_secs(3),
        seed: None,
    })
    .await?;
    println!("{report:?}");
    let replay = format!("replay with {SEED_ENV}={}: {report:?}", report.seed);
    assert!(
        report.worker_kills + report.ingress_kills + report.nats_kills > 0,
        "faults were injected; {replay}"
    );
    assert_eq!(
        report.accepted, report.deals,
        "every deal was eventually accepted; {replay}"
    );
    assert_eq!(report.lost, 0, "nothing lost; {replay}");
    assert_eq!(report.doubled, 0, "nothing doubled; {replay}");
    Ok(())
}

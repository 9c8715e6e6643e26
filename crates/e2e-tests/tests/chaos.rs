//! The short chaos soak that `make test` runs; `make chaos` runs the long one.

use std::time::Duration;

use crmerp_testkit::chaos::{ChaosOptions, run};

#[tokio::test]
async fn short_chaos_soak_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let report = run(ChaosOptions {
        duration: Duration::from_secs(15),
        deals_per_second: 4,
        mean_fault_interval: Duration::from_secs(3),
    })
    .await?;
    println!("{report:?}");
    assert!(
        report.worker_kills + report.ingress_kills + report.nats_kills > 0,
        "faults were injected"
    );
    assert_eq!(
        report.accepted, report.deals,
        "every deal was eventually accepted"
    );
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.doubled, 0, "{report:?}");
    Ok(())
}

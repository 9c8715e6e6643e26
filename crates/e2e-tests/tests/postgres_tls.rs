//! Monitoring's event log over TLS. Monitoring reaches Postgres only through
//! a TLS front that refuses clients starting without TLS, and verifies the
//! server's certificate against the CA named in its database URL
//! (`sslmode=verify-full&sslrootcert=...`), as the prod overlay configures.

use std::time::Duration;

use crmerp_testkit::monitoring::{Monitoring, VIEWER_TOKEN};
use crmerp_testkit::{Stack, StackOptions, eventually};

#[tokio::test]
async fn the_event_log_works_over_verified_tls_to_postgres() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let (monitoring, tls) = Monitoring::start_over_tls(&stack).await?;
    let (deal, _) = stack
        .win_new_deal("Over TLS", Duration::from_secs(60))
        .await?;
    let api = monitoring.api(Some(VIEWER_TOKEN))?;
    // Stored and read back through the TLS front: the only way to Postgres.
    let query = format!("/api/v1/events?crm_record_id={}", deal.deal_id);
    eventually(
        "the outcome in the event log",
        Duration::from_secs(60),
        || async {
            let (_, body) = api.get(&query).await.ok()?;
            let items = body["items"].as_array()?;
            items
                .iter()
                .any(|item| item["outcome"] == "success")
                .then_some(())
        },
    )
    .await?;
    assert_eq!(
        tls.refused_plaintext(),
        0,
        "monitoring never tried plaintext"
    );
    Ok(())
}

#[tokio::test]
async fn a_certificate_from_another_ca_stops_monitoring_with_a_clear_error() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let (_monitoring, first) = Monitoring::start_over_tls(&stack).await?;
    // A second front with its own CA: monitoring is told to trust the first one only.
    let dir = tempfile::tempdir()?;
    let other = crmerp_testkit::postgres_tls::PostgresTls::start(dir.path(), 1).await?;
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/crmerp?sslmode=verify-full&sslrootcert={}",
        other.port(),
        first.ca_cert().display()
    );
    let output = tokio::process::Command::new(crmerp_testkit::paths::binary("monitoring")?)
        .env("CRMERP__NATS__URL", stack.nats.url())
        .env("CRMERP__MONITORING__DATABASE_URL", &url)
        .env("CRMERP__MONITORING__ADDR", "127.0.0.1:0")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output).await??;
    assert!(!output.status.success(), "monitoring must not start");
    let log = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        log.to_lowercase().contains("certificate") || log.contains("UnknownIssuer"),
        "the failure names the certificate problem: {log}"
    );
    Ok(())
}

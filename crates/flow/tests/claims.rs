//! Claims against a real nats-server: one holder at a time, a recorded result
//! for later workers, expiry of a dead holder's claim on the server's clock,
//! the fence that stops a holder whose claim was taken over, and release.

use std::time::Duration;

use async_nats::jetstream;
use crmerp_flow::{Acquired, ClaimError, Claims};
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::topology::{CLAIMS_BUCKET, ensure_streams};
use crmerp_testkit::NatsServer;

struct Harness {
    js: jetstream::Context,
    _server: NatsServer,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let server = NatsServer::start(dir.path()).await?;
        let js = jetstream::new(server.client().await?);
        let nats: NatsSettings = serde_json::from_value(serde_json::json!({
            "url": server.url(),
            "duplicate_window": "2m",
            "inbound_max_age": "1h",
            "outcome_max_age": "1h",
        }))?;
        ensure_streams(&js, &nats).await?;
        Ok(Self {
            js,
            _server: server,
            _dir: dir,
        })
    }

    /// A worker's claims with a one-second TTL and the given wait.
    async fn worker(&self, wait: Duration) -> anyhow::Result<Claims> {
        self.worker_with(Duration::from_secs(1), wait).await
    }

    /// A worker's claims with `ttl` and `wait`.
    async fn worker_with(&self, ttl: Duration, wait: Duration) -> anyhow::Result<Claims> {
        Ok(Claims::bind(&self.js, CLAIMS_BUCKET, "test-flow", ttl, wait).await?)
    }
}

fn held(acquired: Acquired) -> crmerp_flow::Claim {
    match acquired {
        Acquired::Held(claim) => claim,
        Acquired::Done(result) => panic!("expected to hold the claim, found done {result:?}"),
    }
}

#[tokio::test]
async fn one_holder_at_a_time_and_later_workers_get_the_recorded_result() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let a = harness.worker(Duration::from_secs(5)).await?;
    let b = harness.worker(Duration::from_millis(300)).await?;
    let key = a.key("order.erp", "hubspot-deal-1");
    assert_eq!(key, b.key("order.erp", "hubspot-deal-1"));

    let claim = held(a.acquire(&key).await?);
    // The holder renews every TTL/3: two TTLs later B still cannot take it.
    let busy = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match b.acquire(&key).await {
                Err(ClaimError::Busy { waited, .. }) if waited >= Duration::from_millis(300) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => return other,
            }
        }
    })
    .await;
    assert!(
        busy.is_err(),
        "B stayed out for as long as A held and renewed: {busy:?}"
    );
    claim.confirm().await?;
    claim.complete(b"SO-1").await?;
    match b.acquire(&key).await? {
        Acquired::Done(result) => assert_eq!(result, b"SO-1"),
        Acquired::Held(_) => panic!("the recorded result must stop a second effect"),
    }
    Ok(())
}

#[tokio::test]
async fn a_dead_holders_claim_expires_and_a_waiting_worker_takes_it() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let a = harness.worker(Duration::from_secs(5)).await?;
    let b = harness.worker(Duration::from_secs(10)).await?;
    let key = a.key("order.erp", "hubspot-deal-2");
    let claim = held(a.acquire(&key).await?);
    // A crash: no release, no more renewals.
    drop(claim);
    let started = tokio::time::Instant::now();
    let taken = held(b.acquire(&key).await?);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "taken over after the TTL, not before ({:?})",
        started.elapsed()
    );
    taken.confirm().await?;
    Ok(())
}

#[tokio::test]
async fn a_holder_whose_claim_was_taken_over_is_fenced_off() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let a = harness.worker(Duration::from_secs(5)).await?;
    let key = a.key("order.erp", "hubspot-deal-3");
    let claim = held(a.acquire(&key).await?);
    // Another worker's write, as after an expiry while A was stalled.
    let store = harness.js.get_key_value(CLAIMS_BUCKET).await?;
    store
        .put(&key, r#"{"state":"held","holder":"other"}"#.into())
        .await?;
    let fenced = claim.confirm().await;
    assert!(
        matches!(fenced, Err(ClaimError::Lost { .. })),
        "the stalled holder must not act: {fenced:?}"
    );
    assert!(matches!(
        claim.complete(b"SO-3").await,
        Err(ClaimError::Lost { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn a_released_claim_lets_the_waiting_worker_in_at_once() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    // A long TTL: the waiter can only get in through the release.
    let b = harness
        .worker_with(Duration::from_secs(30), Duration::from_secs(10))
        .await?;
    let key = b.key("order.erp", "hubspot-deal-4");
    let slow = harness
        .worker_with(Duration::from_secs(30), Duration::from_secs(10))
        .await?;
    let claim = held(slow.acquire(&key).await?);
    let waiter = tokio::spawn(async move { b.acquire(&key).await });
    // Bounded wait; the positive control is the waiter getting in after the release.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiter.is_finished(),
        "the waiter waits while the claim is held"
    );
    let released = tokio::time::Instant::now();
    claim.release().await;
    let taken = held(waiter.await??);
    assert!(
        released.elapsed() < Duration::from_secs(5),
        "released claims are taken long before their 30 s TTL"
    );
    taken.release().await;
    Ok(())
}

#[tokio::test]
async fn keys_name_the_flow_the_kind_and_the_encoded_id() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let claims = harness.worker(Duration::from_secs(1)).await?;
    assert_eq!(
        claims.key("order.businesscentral", "hubspot-deal-42"),
        "test-flow.order.businesscentral.hubspot-deal-42"
    );
    assert_ne!(
        claims.key("order.erp", "a.b"),
        claims.key("order.erp", "a=2Eb")
    );
    Ok(())
}

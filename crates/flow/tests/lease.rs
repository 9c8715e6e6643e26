//! Leases against a real nats-server: of two contenders exactly one holds the
//! lease while it renews; the other takes over after the holder stops, at once
//! on a release and within the TTL on a crash; a holder that was taken over
//! learns it and its confirmation fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use crmerp_flow::{Lease, LeaseError, run_exclusive};
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::topology::{CLAIMS_BUCKET, ensure_streams};
use crmerp_testkit::NatsServer;
use tokio_util::sync::CancellationToken;

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

    async fn contender(&self, name: &str) -> anyhow::Result<Lease> {
        Ok(Lease::bind(&self.js, CLAIMS_BUCKET, name, Duration::from_secs(1)).await?)
    }
}

#[tokio::test]
async fn one_contender_holds_and_the_other_takes_over_after_a_release() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let a = harness.contender("bc-renewal").await?;
    let b = harness.contender("bc-renewal").await?;
    assert_eq!(a.key(), b.key());
    assert_ne!(a.holder(), b.holder());

    let held = a.try_acquire().await?.expect("A takes the free lease");
    assert!(b.try_acquire().await?.is_none(), "B cannot while A holds");
    // Three TTLs later A still holds it: the renewals keep it alive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(b.try_acquire().await?.is_none(), "B still cannot");
    assert_eq!(b.current_holder().await?.as_deref(), Some(a.holder()));
    held.confirm().await?;
    assert!(!held.lost().is_cancelled());

    held.release().await;
    let taken = b
        .try_acquire()
        .await?
        .expect("B takes the released lease at once");
    assert_eq!(a.current_holder().await?.as_deref(), Some(b.holder()));
    taken.release().await;
    Ok(())
}

#[tokio::test]
async fn a_dead_holders_lease_expires_and_the_late_holder_learns_it_lost() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let a = harness.contender("tryton-poller").await?;
    let b = harness.contender("tryton-poller").await?;

    let revision_holder = a.try_acquire().await?.expect("A takes it");
    // A stops renewing (as a paused replica does) but keeps its handle.
    revision_holder.stop_renewing();
    let stopped = tokio::time::Instant::now();
    let shutdown = CancellationToken::new();
    let taken = tokio::time::timeout(Duration::from_secs(10), b.acquire(&shutdown))
        .await?
        .expect("B takes the expired lease");
    assert!(
        stopped.elapsed() >= Duration::from_millis(900),
        "not before the TTL: {:?}",
        stopped.elapsed()
    );
    // A, back, finds out before acting.
    match revision_holder.confirm().await {
        Err(LeaseError::Lost { .. }) => {}
        other => panic!("A must learn it lost the lease: {other:?}"),
    }
    assert!(revision_holder.lost().is_cancelled());
    assert_eq!(b.current_holder().await?.as_deref(), Some(b.holder()));
    taken.release().await;
    Ok(())
}

#[tokio::test]
async fn run_exclusive_runs_the_job_on_one_replica_and_fails_over() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let starts = Arc::new(AtomicUsize::new(0));
    let leader = Arc::new(AtomicUsize::new(usize::MAX));
    let mut replicas = Vec::new();
    for replica in 0..2 {
        let lease = harness.contender("singleton").await?;
        let shutdown = CancellationToken::new();
        let counters = (
            Arc::clone(&running),
            Arc::clone(&most),
            Arc::clone(&starts),
            Arc::clone(&leader),
        );
        let task = tokio::spawn(run_exclusive(
            lease,
            shutdown.clone(),
            move |_held, stop| {
                let (running, most, starts, leader) = counters.clone();
                async move {
                    starts.fetch_add(1, Ordering::SeqCst);
                    leader.store(replica, Ordering::SeqCst);
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    stop.cancelled().await;
                    running.fetch_sub(1, Ordering::SeqCst);
                }
            },
        ));
        replicas.push(Some((shutdown, task)));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1, "one replica runs the job");
    assert_eq!(running.load(Ordering::SeqCst), 1);

    // The leader shuts down; the other replica picks the job up.
    let first = leader.load(Ordering::SeqCst);
    let (shutdown, task) = replicas[first].take().expect("the leader");
    shutdown.cancel();
    task.await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while starts.load(Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(starts.load(Ordering::SeqCst), 2, "the job moved over");
    assert_eq!(leader.load(Ordering::SeqCst), 1 - first);
    assert_eq!(running.load(Ordering::SeqCst), 1);
    assert_eq!(most.load(Ordering::SeqCst), 1, "never two at once");

    let (shutdown, task) = replicas[1 - first].take().expect("the follower");
    shutdown.cancel();
    task.await?;
    assert_eq!(running.load(Ordering::SeqCst), 0);
    Ok(())
}

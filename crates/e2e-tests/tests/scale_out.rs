//! Scale-out on one machine: a three-node NATS cluster with R3 streams and
//! two deal-to-order replicas sharing one durable consumer.
//!
//! `deals_survive_a_nats_node_and_a_replica_dying` wins deals while one NATS
//! node and one replica are killed: every deal still becomes exactly one
//! Business Central order (an ERP that, like the real one, would store a
//! doubled create, so a duplicate shows), the surviving replica drains the consumer and the lost
//! node rejoins and catches up. It wins
//! `CRMERP_SCALE_DEALS` deals (default 120, a few minutes' worth is
//! `make scale-test`).
//!
//! `throughput_with_one_and_two_replicas` (ignored by default; `make
//! scale-bench`) queues deals with no replica running, then times how long
//! one or two replicas take to drain them, optionally with
//! `CRMERP_SCALE_LATENCY_MS` of added ERP latency per call and
//! `CRMERP_SCALE_CONCURRENCY` deals in flight per replica (default 16).

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull;
use crmerp_testkit::cluster_stack::ERP;
use crmerp_testkit::hubspot::DealSpec;
use crmerp_testkit::vendors::CrmDriver;
use crmerp_testkit::{ClusterStack, ClusterStackOptions, eventually};
use futures::{StreamExt, TryStreamExt, stream};

/// Parallel HubSpot sessions winning deals.
const SALESPEOPLE: usize = 8;

fn deal_count(default: usize) -> usize {
    std::env::var("CRMERP_SCALE_DEALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Creates `count` complete deals (not yet won) and returns their ids.
async fn create_deals(
    stack: &ClusterStack,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    stream::iter(0..count)
        .map(|i| async move {
            let deal = stack
                .hubspot
                .create_deal(&DealSpec::complete(&format!("{prefix} {i}")))
                .await?;
            Ok::<_, anyhow::Error>(deal.deal_id)
        })
        .buffer_unordered(SALESPEOPLE)
        .try_collect()
        .await
}

/// Moves every deal to `closedwon` (the sandbox then sends HubSpot's webhook to ingress).
async fn win(stack: &ClusterStack, deals: &[String]) -> anyhow::Result<()> {
    stream::iter(deals)
        .map(|deal| stack.hubspot.move_to_stage(deal, "closedwon"))
        .buffer_unordered(SALESPEOPLE)
        .try_collect::<Vec<()>>()
        .await
        .map(drop)
}

/// Waits until the ERP has answered `expected` successful order creates.
async fn wait_for_orders(
    stack: &ClusterStack,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    eventually(&format!("{expected} sales orders"), timeout, || async {
        let creates = stack.effective_order_creates().await.ok()?;
        (creates >= expected).then_some(())
    })
    .await
}

/// Every deal has exactly one order, looked up by its reference, whose number
/// is the one written back, and the ERP answered one successful create per deal.
async fn assert_one_order_per_deal(stack: &ClusterStack, deals: &[String]) -> anyhow::Result<()> {
    let wrong: Vec<String> = stream::iter(deals)
        .map(|deal| async move {
            let orders = stack
                .erp
                .orders_for(&stack.hubspot.external_ref(deal))
                .await?;
            let numbers: Vec<_> = orders.iter().map(|o| stack.erp.order_number(o)).collect();
            let written_back = stack.hubspot.erp_order_number(deal).await?;
            let right = numbers.len() == 1 && numbers[0] == written_back;
            Ok::<_, anyhow::Error>(
                (!right)
                    .then(|| format!("{deal}: orders {numbers:?}, written back {written_back:?}")),
            )
        })
        .buffer_unordered(SALESPEOPLE)
        .try_filter_map(|wrong| async move { Ok(wrong) })
        .try_collect()
        .await?;
    assert!(
        wrong.is_empty(),
        "deals without exactly one order: {wrong:?}"
    );
    let creates = stack.effective_order_creates().await?;
    assert_eq!(creates, deals.len(), "one successful create per deal");
    Ok(())
}

#[tokio::test]
async fn deals_survive_a_nats_node_and_a_replica_dying() -> anyhow::Result<()> {
    let count = deal_count(120);
    let mut stack = ClusterStack::start(ClusterStackOptions::default()).await?;
    // Real ERPs take tens to hundreds of ms per call: keep deals in flight when things die.
    stack.set_vendor_latency(ERP, 30).await?;
    let deals = create_deals(&stack, "Scale", count).await?;
    let third = count / 3;

    // A third of the deals are won with everything up.
    win(&stack, &deals[..third]).await?;
    wait_for_orders(&stack, third / 2, Duration::from_secs(60)).await?;
    // Node 0 is the one the services were configured with: they must fail over
    // to the members they learnt from it, and R3 streams keep their quorum.
    stack.cluster.kill(0).await?;
    win(&stack, &deals[third..2 * third]).await?;
    wait_for_orders(&stack, third + third / 2, Duration::from_secs(60)).await?;
    // Both replicas took a share of the work before one crashes mid-stream;
    // its unacknowledged deals come back after the ack wait to the other.
    assert!(stack.deals_handled_by(0) > 0, "replica 0 took no work");
    assert!(stack.deals_handled_by(1) > 0, "replica 1 took no work");
    stack.kill_worker(0).await?;
    win(&stack, &deals[2 * third..]).await?;

    wait_for_orders(&stack, count, Duration::from_secs(180)).await?;
    // The survivor drained the shared consumer: nothing pending, nothing in
    // flight, so any redelivery of a deal whose ack was lost has run and the
    // counts below are final.
    let js = stack.jetstream().await?;
    let info = eventually("a drained consumer", Duration::from_secs(30), || async {
        let mut consumer = js
            .get_stream("INBOUND")
            .await
            .ok()?
            .get_consumer::<pull::Config>("deal-to-order")
            .await
            .ok()?;
        let info = consumer.info().await.ok()?.clone();
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(info)
    })
    .await?;
    assert!(info.delivered.stream_sequence >= u64::try_from(count)?);
    assert_one_order_per_deal(&stack, &deals).await?;
    let mut inbound = js.get_stream("INBOUND").await?;
    assert_eq!(inbound.info().await?.config.num_replicas, 3, "R3 stream");

    // The lost member comes back on its store and catches up: a leader and
    // two current followers again.
    stack.cluster.restart(0).await?;
    eventually(
        "INBOUND with three current members",
        Duration::from_secs(30),
        || async {
            let mut inbound = js.get_stream("INBOUND").await.ok()?;
            let cluster = inbound.info().await.ok()?.cluster.clone()?;
            (cluster.leader.is_some()
                && cluster.replicas.len() == 2
                && cluster
                    .replicas
                    .iter()
                    .all(|peer| peer.current && !peer.offline))
            .then_some(())
        },
    )
    .await?;
    Ok(())
}

/// Queues `count` won deals with no replica running, starts `replicas`
/// replicas and returns the drain rate in deals per second.
async fn drain_rate(replicas: usize, count: usize) -> anyhow::Result<f64> {
    let concurrency = std::env::var("CRMERP_SCALE_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let mut stack = ClusterStack::start(ClusterStackOptions {
        workers: 0,
        concurrency,
        ..ClusterStackOptions::default()
    })
    .await?;
    let latency_ms = std::env::var("CRMERP_SCALE_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let deals = create_deals(&stack, "Bench", count).await?;
    win(&stack, &deals).await?;
    // After the wins: the latency is the ERP's, not the CRM's webhook path.
    stack.set_vendor_latency(ERP, latency_ms).await?;
    let js = stack.jetstream().await?;
    eventually(
        "every won deal queued",
        Duration::from_secs(120),
        || async {
            let mut stream = js.get_stream("INBOUND").await.ok()?;
            let messages = stream.info().await.ok()?.state.messages;
            (messages >= u64::try_from(count).ok()?).then_some(())
        },
    )
    .await?;
    let started = Instant::now();
    for _ in 0..replicas {
        stack.start_worker().await?;
    }
    wait_for_orders(&stack, count, Duration::from_secs(600)).await?;
    let elapsed = started.elapsed();
    assert_one_order_per_deal(&stack, &deals).await?;
    let rate = count as f64 / elapsed.as_secs_f64();
    println!(
        "replicas={replicas} concurrency={concurrency} deals={count} erp_latency={latency_ms}ms drained_in={:.1}s rate={rate:.1} deals/s",
        elapsed.as_secs_f64()
    );
    Ok(rate)
}

#[tokio::test]
#[ignore = "benchmark: run with `make scale-bench`"]
async fn throughput_with_one_and_two_replicas() -> anyhow::Result<()> {
    let count = deal_count(300);
    let one = drain_rate(1, count).await?;
    let two = drain_rate(2, count).await?;
    println!("speed-up with two replicas: {:.2}x", two / one);
    Ok(())
}

//! The singleton jobs over real processes: the Tryton poller against a real
//! Tryton 8.2 server and a real nats-server (a shipped sale becomes a
//! published `OrderStatusChanged`, a restarted poller resumes from the stored
//! cursor), and the Business Central subscription keeper on two replicas
//! against the BC simulator (one renews; the other takes over when it stops).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use axum::Router;
use axum::extract::RawQuery;
use axum::routing::post;
use crmerp_connector::CallLog;
use crmerp_connector::businesscentral::{BusinessCentralConfig, BusinessCentralErp, webhook};
use crmerp_connector::tryton::status::WatchedModel;
use crmerp_connector::tryton::{TrytonConfig, TrytonErp};
use crmerp_flow::pollers::keep_subscriptions;
use crmerp_flow::{Lease, RenewalSettings, TrytonPollSettings, TrytonPoller, run_exclusive};
use crmerp_proto::{EventEnvelope, Message as _, OrderStatus, event_envelope::Data};
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::topology::{
    CLAIMS_BUCKET, INBOUND_STREAM, ensure_streams, order_status_subject,
};
use crmerp_testkit::NatsServer;
use crmerp_testkit::tryton::{ADMIN, ADMIN_PASSWORD, TrytonServer};
use secrecy::SecretString;
use serde_json::json;
use tokio_util::sync::CancellationToken;

async fn jetstream_on(dir: &std::path::Path) -> anyhow::Result<(NatsServer, jetstream::Context)> {
    let server = NatsServer::start(dir).await?;
    let js = jetstream::new(server.client().await?);
    let nats: NatsSettings = serde_json::from_value(json!({
        "url": server.url(),
        "duplicate_window": "2m",
        "inbound_max_age": "1h",
        "outcome_max_age": "1h",
    }))?;
    ensure_streams(&js, &nats).await?;
    Ok((server, js))
}

/// Every `OrderStatusChanged` published for Tryton, oldest first, with its `Nats-Msg-Id`.
async fn published(js: &jetstream::Context) -> anyhow::Result<Vec<(String, EventEnvelope)>> {
    let stream = js.get_stream(INBOUND_STREAM).await?;
    let subject = order_status_subject("tryton");
    let mut out = Vec::new();
    let last = stream.get_info().await?.state.last_sequence;
    for sequence in 1..=last {
        let Ok(message) = stream.get_raw_message(sequence).await else {
            continue;
        };
        if message.subject.as_str() != subject {
            continue;
        }
        let id = message
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        out.push((id, EventEnvelope::decode(message.payload)?));
    }
    Ok(out)
}

fn status(envelope: &EventEnvelope) -> (OrderStatus, String, String) {
    match &envelope.data {
        Some(Data::OrderStatusChanged(changed)) => (
            changed.status(),
            changed
                .order
                .as_ref()
                .map(|o| o.id.clone())
                .unwrap_or_default(),
            changed.external_ref.clone(),
        ),
        other => panic!("not an order status: {other:?}"),
    }
}

#[tokio::test]
async fn a_shipped_tryton_sale_is_polled_and_published_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_nats, js) = jetstream_on(dir.path()).await?;
    let tryton = TrytonServer::start(dir.path()).await?;
    let config: TrytonConfig = serde_json::from_value(json!({
        "base_url": tryton.url(),
        "database": tryton.database(),
        "username": ADMIN,
        "password": ADMIN_PASSWORD,
    }))?;
    let erp = Arc::new(TrytonErp::new(config, reqwest::Client::new())?);
    let settings = TrytonPollSettings {
        interval: Duration::from_millis(200),
        page_size: 2,
        initial_lookback: Duration::from_secs(3600),
    };
    let poller = TrytonPoller::new(Arc::clone(&erp), &js, CLAIMS_BUCKET, settings.clone()).await?;
    let lease = Lease::bind(&js, CLAIMS_BUCKET, "tryton-poller", Duration::from_secs(5)).await?;
    let held = lease.try_acquire().await?.expect("the only contender");

    let api = tryton.api();
    let sale = api.confirmed_sale("hubspot-deal-4711").await?;
    assert!(poller.poll_once(&held).await? >= 1);
    let events = published(&js).await?;
    let (first, order, external_ref) = status(&events.last().expect("an event").1);
    assert_eq!(first, OrderStatus::Received);
    assert_eq!(order, sale.to_string());
    assert_eq!(external_ref, "hubspot-deal-4711");

    // Nothing changed: a second round publishes nothing.
    assert_eq!(poller.poll_once(&held).await?, 0);

    api.advance_shipments(sale, &["assign_force", "pick", "pack"])
        .await?;
    assert!(poller.poll_once(&held).await? >= 1);
    let (packed, ..) = status(&published(&js).await?.last().expect("an event").1);
    assert_eq!(packed, OrderStatus::Packed);

    api.advance_shipments(sale, &["do"]).await?;
    // A new poller (a restart, or another replica) resumes from the stored cursors.
    held.release().await;
    let restarted = TrytonPoller::new(Arc::clone(&erp), &js, CLAIMS_BUCKET, settings).await?;
    assert!(restarted.cursor(WatchedModel::Shipment).await?.is_some());
    let held = lease.try_acquire().await?.expect("free again");
    let before = published(&js).await?.len();
    let count = restarted.poll_once(&held).await?;
    assert!(count >= 1, "the shipment's last write");
    let events = published(&js).await?;
    assert_eq!(
        events.len(),
        before + count,
        "only what changed since the cursor"
    );
    let (id, envelope) = events.last().expect("an event");
    let (dispatched, order, _) = status(envelope);
    assert_eq!(dispatched, OrderStatus::Dispatched);
    assert_eq!(order, sale.to_string());
    assert!(id.starts_with("tryton:stock.shipment.out:"), "{id}");
    match &envelope.data {
        Some(Data::OrderStatusChanged(changed)) => {
            assert_eq!(changed.shipments.len(), 1, "{changed:?}");
            assert!(changed.shipments[0].dispatched_at.is_some(), "{changed:?}");
            assert!(changed.changed_at.is_some());
        }
        other => panic!("{other:?}"),
    }
    // The read-back port agrees with what was published.
    let now = crmerp_connector::OrderStatusSource::order_status(
        erp.as_ref(),
        &crmerp_proto::RecordRef {
            system: "tryton".into(),
            object_type: "sale.sale".into(),
            id: sale.to_string(),
        },
        &CallLog::new(),
    )
    .await?
    .expect("the sale");
    assert_eq!(now.status(), OrderStatus::Dispatched);
    held.release().await;
    Ok(())
}

/// A notification URL that answers BC's validation handshake and counts it.
async fn receiver(handshakes: Arc<AtomicUsize>) -> anyhow::Result<String> {
    let app = Router::new().route(
        "/bc",
        post(move |RawQuery(query): RawQuery| {
            let handshakes = Arc::clone(&handshakes);
            async move {
                let token = webhook::handshake_response(query.as_deref()).unwrap_or_default();
                if !token.is_empty() {
                    handshakes.fetch_add(1, Ordering::SeqCst);
                }
                token
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/bc", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

fn business_central(url: &str) -> anyhow::Result<BusinessCentralErp> {
    let config: BusinessCentralConfig = serde_json::from_value(json!({
        "base_url": url,
        "tenant_id": crmerp_sandbox::DEV_BC_TENANT_ID,
        "environment": crmerp_sandbox::DEV_BC_ENVIRONMENT,
        "company_id": crmerp_sandbox::DEV_BC_COMPANY_ID,
        "oauth": {
            "token_url": format!("{url}/{}/oauth2/v2.0/token", crmerp_sandbox::DEV_BC_TENANT_ID),
            "client_id": crmerp_sandbox::DEV_BC_CLIENT_ID,
            "client_secret": crmerp_sandbox::DEV_BC_CLIENT_SECRET,
        }
    }))?;
    Ok(BusinessCentralErp::new(config, reqwest::Client::new())?)
}

#[tokio::test]
async fn of_two_replicas_one_renews_the_bc_subscriptions() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_nats, js) = jetstream_on(dir.path()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bc_url = format!("http://{}", listener.local_addr()?);
    let sandbox_stop = CancellationToken::new();
    tokio::spawn(crmerp_sandbox::serve(
        crmerp_sandbox::SandboxConfig::default(),
        vec![("businesscentral", listener)],
        sandbox_stop.clone(),
    ));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let url = receiver(Arc::clone(&handshakes)).await?;
    let client_state = SecretString::from("bc-client-state");
    let setup = business_central(&bc_url)?;
    let created = setup
        .subscribe(
            &url,
            &setup.company_resource("salesOrders"),
            &client_state,
            &CallLog::new(),
        )
        .await?;
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        1,
        "the subscribe handshake"
    );

    // A margin longer than BC's three-day life: every check renews. The long
    // interval means each leader renews exactly once when it takes over.
    let settings = RenewalSettings {
        check_interval: Duration::from_secs(3600),
        margin: Duration::from_secs(4 * 24 * 3600),
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let erp = Arc::new(business_central(&bc_url)?);
        let lease = Lease::bind(
            &js,
            CLAIMS_BUCKET,
            "bc-subscriptions",
            Duration::from_secs(2),
        )
        .await?;
        let shutdown = CancellationToken::new();
        let (state, settings) = (client_state.clone(), settings.clone());
        replicas.push((
            shutdown.clone(),
            lease.holder().to_owned(),
            tokio::spawn(run_exclusive(lease, shutdown, move |held, stop| {
                keep_subscriptions(
                    Arc::clone(&erp),
                    state.clone(),
                    settings.clone(),
                    held,
                    stop,
                )
            })),
        ));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handshakes.load(Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Well past the lease TTL: the follower never renewed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        2,
        "one replica renewed, once"
    );
    let subscriptions = setup.subscriptions(&CallLog::new()).await?;
    assert_eq!(subscriptions.len(), 1);
    assert_ne!(subscriptions[0].etag, created.etag, "renewed");

    // The leader stops; the other replica takes over and renews.
    let probe = Lease::bind(
        &js,
        CLAIMS_BUCKET,
        "bc-subscriptions",
        Duration::from_secs(2),
    )
    .await?;
    let leader = probe.current_holder().await?.expect("a leader");
    let index = replicas
        .iter()
        .position(|(_, holder, _)| *holder == leader)
        .expect("one of the replicas leads");
    let (shutdown, _, task) = replicas.remove(index);
    shutdown.cancel();
    task.await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handshakes.load(Ordering::SeqCst) < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        3,
        "the new leader renewed"
    );
    assert_eq!(
        probe.current_holder().await?.as_deref(),
        Some(replicas[0].1.as_str())
    );
    let (shutdown, _, task) = replicas.remove(0);
    shutdown.cancel();
    task.await?;
    sandbox_stop.cancel();
    Ok(())
}

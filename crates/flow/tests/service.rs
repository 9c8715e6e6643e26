//! The flow service builder against a real nats-server: one service that
//! consumes and answers requests, with its admin endpoints, readiness and
//! shutdown; and a service with nothing to run refused at start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use crmerp_connector::ConnectorError;
use crmerp_flow::responder::{self, ReplyError};
use crmerp_flow::{
    Attempt, Failure, FlowService, FlowSettings, Handler, Responder, ResponderSettings,
    ServiceError, ServiceSettings, Success,
};
use crmerp_proto::{EventEnvelope, Message as _, RecordRef};
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::telemetry::TelemetrySettings;
use crmerp_testkit::{NatsServer, eventually};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

const FLOW: &str = "service-test";
const PATIENCE: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
struct Settings {
    nats: NatsSettings,
    #[serde(default)]
    telemetry: TelemetrySettings,
    flow: FlowSettings,
    #[serde(default)]
    responder: ResponderSettings,
}

impl ServiceSettings for Settings {
    const DEFAULTS: &'static str = "";

    fn nats(&self) -> &NatsSettings {
        &self.nats
    }
    fn telemetry(&self) -> &TelemetrySettings {
        &self.telemetry
    }
    fn admin_addr(&self) -> &str {
        "127.0.0.1:0"
    }
    fn flow(&self) -> Option<&FlowSettings> {
        Some(&self.flow)
    }
    fn responder(&self) -> ResponderSettings {
        self.responder.clone()
    }
}

fn settings(nats_url: &str) -> Settings {
    serde_json::from_value(serde_json::json!({
        "nats": { "url": nats_url, "inbound_max_age": "1h", "outcome_max_age": "1h" },
        "flow": {
            "ack_wait": "30s",
            "max_deliver": 3,
            "retry_schedule": ["1s"],
            "max_ack_pending": 100,
            "concurrency": 4,
            "shutdown_grace": "1s",
            "publish_retry_delay": "200ms",
        },
        "responder": { "deadline": "500ms" },
    }))
    .unwrap()
}

struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl Handler for Counting {
    async fn handle(&self, _: &EventEnvelope, _: &Attempt) -> Result<Success, Failure> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Success::default())
    }

    async fn probe(&self, _: &str) -> Result<(), ConnectorError> {
        Ok(())
    }
}

struct Echo;

#[async_trait]
impl Responder for Echo {
    type Request = RecordRef;
    type Reply = RecordRef;

    async fn respond(&self, request: RecordRef, _: Instant) -> Result<RecordRef, ReplyError> {
        Ok(request)
    }
}

async fn get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_consumes_answers_reports_ready_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path()).await.unwrap();
    let client = server.client().await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_url = format!("http://{}", admin.local_addr().unwrap());
    let handled = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();

    let handler = Arc::clone(&handled);
    let service = FlowService::with_settings(FLOW, settings(&server.url()))
        .unwrap()
        .admin_listener(admin)
        .consume(
            &["inbound.test.service.a.>", "inbound.test.service.b.>"],
            move |_ctx| async move { Ok(Counting(handler)) },
        )
        .respond("request.test.service", |_ctx| async { Ok(Echo) });
    let running = tokio::spawn(service.run_until(shutdown.clone()));

    eventually("service ready", PATIENCE, || async {
        let (status, _) = get(&format!("{admin_url}/readyz")).await?;
        (status == 200).then_some(())
    })
    .await
    .unwrap();

    // Both subjects reach the handler.
    let js = async_nats::jetstream::new(client.clone());
    for (n, subject) in ["inbound.test.service.a.1", "inbound.test.service.b.1"]
        .into_iter()
        .enumerate()
    {
        let event = EventEnvelope {
            id: format!("event-{n}"),
            subject: subject.to_owned(),
            ..Default::default()
        };
        js.publish(subject, event.encode_to_vec().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    eventually("both events handled", PATIENCE, || {
        let count = handled.load(Ordering::SeqCst);
        async move { (count == 2).then_some(()) }
    })
    .await
    .unwrap();

    let request = RecordRef {
        id: "quote-1".to_owned(),
        ..Default::default()
    };
    let reply: RecordRef = responder::request(
        &client,
        "request.test.service",
        &request,
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(reply, request);

    let (_, metrics) = get(&format!("{admin_url}/metrics")).await.unwrap();
    assert!(
        metrics.contains("crmerp_responder_requests_total"),
        "{metrics}"
    );
    assert!(metrics.contains("crmerp_flow_events_total"), "{metrics}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("service stops")
        .expect("service task")
        .expect("service ends cleanly");
    assert!(get(&format!("{admin_url}/healthz")).await.is_none());
}

#[tokio::test]
async fn a_service_with_nothing_to_run_is_refused() {
    let service =
        FlowService::with_settings(FLOW, settings("nats://127.0.0.1:1")).expect("valid settings");
    let error = service
        .run_until(CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(error, ServiceError::Config(_)), "{error}");
}

//! The request-reply responder against a real nats-server: replicas share a
//! queue group, a slow responder gets a `deadline_exceeded` reply, an
//! undecodable request a `bad_request` one, and a vendor failure keeps its
//! category.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use crmerp_connector::{ConnectorError, ErrorCategory, ErrorKind};
use crmerp_flow::responder::{
    self, CATEGORY_BAD_REQUEST, CATEGORY_DEADLINE_EXCEEDED, ReplyError, RequestError,
};
use crmerp_flow::{Responder, ResponderSettings};
use crmerp_proto::RecordRef;
use crmerp_service_kit::Readiness;
use crmerp_testkit::{NatsServer, eventually};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const FLOW: &str = "pricing-test";
const SUBJECT: &str = "request.test.price";
const DEADLINE: Duration = Duration::from_millis(300);

/// Echoes the request's id, stamped with the replica's name; ids `slow` and
/// `down` misbehave.
struct Echo {
    replica: &'static str,
    handled: Arc<Mutex<HashMap<String, Vec<&'static str>>>>,
}

#[async_trait]
impl Responder for Echo {
    type Request = RecordRef;
    type Reply = RecordRef;

    async fn respond(
        &self,
        request: RecordRef,
        deadline: Instant,
    ) -> Result<RecordRef, ReplyError> {
        self.handled
            .lock()
            .unwrap()
            .entry(request.id.clone())
            .or_default()
            .push(self.replica);
        match request.id.as_str() {
            "slow" => tokio::time::sleep_until((deadline + DEADLINE).into()).await,
            "down" => {
                return Err(ConnectorError::new(
                    ErrorKind::Transient,
                    ErrorCategory::Unavailable,
                    "erp",
                    "GET /prices",
                    "503 from the ERP",
                )
                .into());
            }
            _ => {}
        }
        Ok(RecordRef {
            system: self.replica.to_owned(),
            object_type: "price".to_owned(),
            id: request.id,
        })
    }
}

struct Harness {
    client: async_nats::Client,
    handled: Arc<Mutex<HashMap<String, Vec<&'static str>>>>,
    shutdown: CancellationToken,
    replicas: Vec<(Readiness, JoinHandle<Result<(), crmerp_flow::FlowError>>)>,
    _server: NatsServer,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A server and one responder replica per name, each on its own connection.
    async fn start(replicas: &[&'static str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = NatsServer::start(dir.path()).await.unwrap();
        let client = server.client().await.unwrap();
        let handled = Arc::default();
        let shutdown = CancellationToken::new();
        let settings = ResponderSettings {
            deadline: DEADLINE,
            ..ResponderSettings::default()
        };
        let mut running = Vec::new();
        for replica in replicas {
            let readiness = Readiness::new();
            let echo = Arc::new(Echo {
                replica,
                handled: Arc::clone(&handled),
            });
            let task = tokio::spawn(responder::serve(
                FLOW,
                SUBJECT,
                server.client().await.unwrap(),
                settings.clone(),
                echo,
                readiness.clone(),
                shutdown.clone(),
            ));
            running.push((readiness, task));
        }
        for (readiness, _) in &running {
            let readiness = readiness.clone();
            eventually("responder subscribed", Duration::from_secs(10), || {
                let ready = readiness.is_ready();
                async move { ready.then_some(()) }
            })
            .await
            .unwrap();
        }
        Self {
            client,
            handled,
            shutdown,
            replicas: running,
            _server: server,
            _dir: dir,
        }
    }

    async fn ask(&self, id: &str) -> Result<RecordRef, RequestError> {
        let request = RecordRef {
            id: id.to_owned(),
            ..Default::default()
        };
        responder::request(&self.client, SUBJECT, &request, DEADLINE * 5).await
    }

    fn handled(&self, id: &str) -> Vec<&'static str> {
        self.handled
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for (readiness, task) in self.replicas {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("responder stops")
                .expect("responder task")
                .expect("responder ends cleanly");
            assert!(!readiness.is_ready());
        }
    }
}

fn refused(result: Result<RecordRef, RequestError>) -> ReplyError {
    match result {
        Err(RequestError::Refused(error)) => error,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_in_one_queue_group_share_requests_and_answer_each_once() {
    let h = Harness::start(&["a", "b"]).await;
    let mut answered_by = HashMap::<String, usize>::new();
    for n in 0..40 {
        let id = format!("quote-{n}");
        let reply = h.ask(&id).await.expect("a reply");
        assert_eq!(reply.id, id);
        assert_eq!(
            h.handled(&id),
            [reply.system.as_str()],
            "handled once, by the replier"
        );
        *answered_by.entry(reply.system).or_default() += 1;
    }
    // A queue group picks one member at random per request: 40 requests all
    // going to one replica would happen with probability 2^-39.
    assert_eq!(answered_by.len(), 2, "{answered_by:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_past_its_deadline_gets_a_deadline_exceeded_reply() {
    let h = Harness::start(&["a"]).await;
    let started = Instant::now();
    let error = refused(h.ask("slow").await);
    let waited = started.elapsed();
    assert_eq!(error.category, CATEGORY_DEADLINE_EXCEEDED, "{error:?}");
    assert!(error.retryable);
    assert!(
        waited >= DEADLINE && waited < DEADLINE * 3,
        "answered after {waited:?}, deadline {DEADLINE:?}"
    );
    // The replica is free again for the next request.
    assert_eq!(h.ask("next").await.expect("a reply").id, "next");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_request_gets_a_bad_request_reply_without_reaching_the_responder() {
    let h = Harness::start(&["a"]).await;
    // Field 1, length 5, but only one byte follows.
    let reply = h
        .client
        .request(SUBJECT, vec![0x0a, 0x05, 0x61].into())
        .await
        .expect("an answer");
    assert!(reply.payload.is_empty());
    let error = ReplyError::from_headers(reply.headers.as_ref()).expect("an error reply");
    assert_eq!(error.category, CATEGORY_BAD_REQUEST, "{error:?}");
    assert!(!error.retryable);
    assert!(h.handled.lock().unwrap().is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_failure_is_answered_with_its_category() {
    let h = Harness::start(&["a"]).await;
    let error = refused(h.ask("down").await);
    assert_eq!(error.category, ErrorCategory::Unavailable.as_str());
    assert!(error.retryable);
    assert!(error.message.contains("503 from the ERP"), "{error:?}");
    h.stop().await;
}

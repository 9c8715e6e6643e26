//! Request-reply for synchronous flows (quote pricing): a queue-group
//! subscription, so replicas share the requests, that decodes a protobuf
//! request, runs a [`Responder`] under a deadline and always answers.
//!
//! A reply is either the responder's protobuf reply or an error reply: an
//! empty body with the headers [`ERROR_HEADER`] (a human-readable message),
//! [`ERROR_CATEGORY_HEADER`] (machine-readable, see [`ReplyError::category`])
//! and [`ERROR_RETRYABLE_HEADER`] (`true` / `false`). Headers keep the error
//! out of every request's protobuf contract; [`request`] decodes both shapes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{HeaderMap, Subject};
use async_trait::async_trait;
use bytes::Bytes;
use crmerp_connector::{ConnectorError, ErrorKind};
use crmerp_proto::Message;
use crmerp_service_kit::Readiness;
use futures::StreamExt as _;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::runtime::FlowError;

/// Reply header carrying the error message of an error reply.
pub const ERROR_HEADER: &str = "Crmerp-Error";
/// Reply header carrying the machine-readable error category.
pub const ERROR_CATEGORY_HEADER: &str = "Crmerp-Error-Category";
/// Reply header saying whether the same request may succeed later.
pub const ERROR_RETRYABLE_HEADER: &str = "Crmerp-Error-Retryable";

/// Category of a request that is not the expected protobuf message.
pub const CATEGORY_BAD_REQUEST: &str = "bad_request";
/// Category of a request the responder did not answer within the deadline.
pub const CATEGORY_DEADLINE_EXCEEDED: &str = "deadline_exceeded";

/// Settings of a request-reply responder, section `[responder]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponderSettings {
    /// How long the responder may take before the caller gets a
    /// `deadline_exceeded` error reply (default 2 s).
    #[serde(
        default = "default_deadline",
        with = "crate::settings::humantime_serde_compat"
    )]
    pub deadline: Duration,
    /// Requests handled at once by one replica (default 64).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

impl Default for ResponderSettings {
    fn default() -> Self {
        Self {
            deadline: default_deadline(),
            concurrency: default_concurrency(),
        }
    }
}

fn default_deadline() -> Duration {
    Duration::from_secs(2)
}

fn default_concurrency() -> usize {
    64
}

impl ResponderSettings {
    /// Checks the settings; the message names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.deadline.is_zero() {
            return Err("responder.deadline must be positive".into());
        }
        if self.concurrency == 0 {
            return Err("responder.concurrency must be at least 1".into());
        }
        Ok(())
    }
}

/// Why a request got an error reply instead of a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{category}: {message}")]
pub struct ReplyError {
    /// Machine-readable: [`CATEGORY_BAD_REQUEST`], [`CATEGORY_DEADLINE_EXCEEDED`],
    /// or the responder's own (a connector category such as `unavailable`).
    pub category: String,
    /// Human-readable detail.
    pub message: String,
    /// True when the same request may succeed later.
    pub retryable: bool,
}

impl ReplyError {
    /// An error reply of `category`.
    pub fn new(category: &str, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            category: category.to_owned(),
            message: message.into(),
            retryable,
        }
    }

    /// The error of a reply, when its headers mark it as an error reply.
    pub fn from_headers(headers: Option<&HeaderMap>) -> Option<Self> {
        let headers = headers?;
        let category = headers.get(ERROR_CATEGORY_HEADER)?.as_str().to_owned();
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        Some(Self {
            category,
            message: header(ERROR_HEADER).unwrap_or_default(),
            retryable: header(ERROR_RETRYABLE_HEADER).is_some_and(|v| v == "true"),
        })
    }

    /// The headers of this error reply.
    pub fn to_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        // Header values cannot hold line breaks.
        let message = self.message.replace(['\r', '\n'], " ");
        headers.insert(ERROR_HEADER, message.as_str());
        headers.insert(ERROR_CATEGORY_HEADER, self.category.as_str());
        headers.insert(
            ERROR_RETRYABLE_HEADER,
            if self.retryable { "true" } else { "false" },
        );
        headers
    }
}

impl From<ConnectorError> for ReplyError {
    /// A vendor failure: its category, and retryable unless permanent.
    fn from(error: ConnectorError) -> Self {
        Self {
            category: error.category.as_str().to_owned(),
            retryable: error.kind != ErrorKind::Permanent,
            message: error.to_string(),
        }
    }
}

/// A synchronous flow's business logic: one request, one reply.
#[async_trait]
pub trait Responder: Send + Sync + 'static {
    /// The protobuf request.
    type Request: Message + Default + Send + 'static;
    /// The protobuf reply.
    type Reply: Message + Send + 'static;

    /// Answers one request. The runtime stops waiting at `deadline` and
    /// answers `deadline_exceeded` itself; vendor calls should be budgeted so
    /// they end before it.
    async fn respond(
        &self,
        request: Self::Request,
        deadline: Instant,
    ) -> Result<Self::Reply, ReplyError>;
}

/// Answers requests on `subject` in queue group `name` (the flow name, so
/// every replica of the flow shares the requests) until `shutdown` fires, then
/// answers the requests already received and returns.
pub async fn serve<R: Responder>(
    name: &str,
    subject: &str,
    client: async_nats::Client,
    settings: ResponderSettings,
    responder: Arc<R>,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<(), FlowError> {
    settings.validate().map_err(FlowError::Settings)?;
    let bind_error = |message: String| FlowError::Consumer {
        consumer: name.to_owned(),
        message,
    };
    let mut requests = client
        .queue_subscribe(subject.to_owned(), name.to_owned())
        .await
        .map_err(|e| bind_error(e.to_string()))?;
    if !subscription_confirmed(&client, &shutdown)
        .await
        .map_err(bind_error)?
    {
        return Ok(());
    }
    readiness.set(true);
    tracing::info!(flow = name, subject, "Answering requests.");
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let mut tasks = JoinSet::new();
    let mut draining = false;
    loop {
        while tasks.try_join_next().is_some() {}
        let request = tokio::select! {
            request = requests.next() => request,
            () = shutdown.cancelled(), if !draining => {
                // Stop new requests; those already received still get answers.
                readiness.set(false);
                draining = true;
                if let Err(error) = requests.drain().await {
                    tracing::warn!(flow = name, %error, "Cannot drain the request subscription.");
                    break;
                }
                continue;
            }
        };
        let Some(request) = request else { break };
        let Some(reply_to) = request.reply.clone() else {
            tracing::warn!(flow = name, subject = %request.subject, "Request without a reply subject; ignored.");
            count(name, "no_reply_subject");
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let span = tracing::info_span!("flow.respond", flow = %name, subject = %request.subject, outcome = tracing::field::Empty);
        crmerp_service_kit::trace_context::set_parent(&span, request.headers.as_ref());
        let (client, responder, name) = (client.clone(), Arc::clone(&responder), name.to_owned());
        let deadline = settings.deadline;
        tasks.spawn(
            async move {
                answer(
                    &client,
                    &name,
                    &*responder,
                    request.payload,
                    reply_to,
                    deadline,
                )
                .await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    readiness.set(false);
    while tasks.join_next().await.is_some() {}
    tracing::info!(flow = name, "Stopped answering requests.");
    Ok(())
}

/// Waits until the server has processed the subscription, so ready means
/// requests reach us: a message this connection sends itself comes back only
/// after the server handled every earlier operation of the connection (a
/// flush only writes the socket). Waits while NATS is unreachable; false when
/// shutdown came first.
async fn subscription_confirmed(
    client: &async_nats::Client,
    shutdown: &CancellationToken,
) -> Result<bool, String> {
    let echo = async {
        let inbox = client.new_inbox();
        let mut echo = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| e.to_string())?;
        client
            .publish(inbox, Bytes::new())
            .await
            .map_err(|e| e.to_string())?;
        echo.next()
            .await
            .map(drop)
            .ok_or_else(|| "the connection closed".to_owned())
    };
    tokio::pin!(echo);
    loop {
        tokio::select! {
            result = tokio::time::timeout(Duration::from_secs(2), &mut echo) => match result {
                Ok(confirmed) => return confirmed.map(|()| true),
                Err(_) => tracing::info!("Waiting for NATS to confirm the request subscription."),
            },
            () = shutdown.cancelled() => return Ok(false),
        }
    }
}

/// Runs one request and sends its reply or error reply.
async fn answer<R: Responder>(
    client: &async_nats::Client,
    flow: &str,
    responder: &R,
    payload: Bytes,
    reply_to: Subject,
    deadline: Duration,
) {
    let started = Instant::now();
    let result = match R::Request::decode(payload) {
        Err(error) => Err(ReplyError::new(
            CATEGORY_BAD_REQUEST,
            format!("undecodable request: {error}"),
            false,
        )),
        Ok(request) => {
            match tokio::time::timeout(deadline, responder.respond(request, started + deadline))
                .await
            {
                Ok(result) => result,
                Err(_) => Err(ReplyError::new(
                    CATEGORY_DEADLINE_EXCEEDED,
                    format!("no answer within {deadline:?}"),
                    true,
                )),
            }
        }
    };
    let outcome = match &result {
        Ok(_) => "replied",
        Err(error) if error.category == CATEGORY_BAD_REQUEST => "bad_request",
        Err(error) if error.category == CATEGORY_DEADLINE_EXCEEDED => "deadline_exceeded",
        Err(_) => "failed",
    };
    tracing::Span::current().record("outcome", outcome);
    metrics::histogram!("crmerp_responder_seconds", "flow" => flow.to_owned())
        .record(started.elapsed().as_secs_f64());
    count(flow, outcome);
    let sent = match result {
        Ok(reply) => {
            client
                .publish(reply_to, Bytes::from(reply.encode_to_vec()))
                .await
        }
        Err(error) => {
            tracing::warn!(category = %error.category, message = %error.message, "Request answered with an error.");
            client
                .publish_with_headers(reply_to, error.to_headers(), Bytes::new())
                .await
        }
    };
    if let Err(error) = sent {
        // The caller times out and may ask again.
        tracing::warn!(%error, "Cannot send the reply.");
    }
}

fn count(flow: &str, outcome: &'static str) {
    metrics::counter!("crmerp_responder_requests_total", "flow" => flow.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// A request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The responder answered with an error reply.
    #[error("error reply: {0}")]
    Refused(ReplyError),
    /// No reply came (no responder, timeout, connection lost).
    #[error("no reply: {0}")]
    NoReply(String),
    /// The reply is not the expected protobuf message.
    #[error("undecodable reply: {0}")]
    Undecodable(String),
}

/// Sends `request` to `subject` and decodes the reply or error reply; waits at
/// most `timeout` (give it a little more than the responder's deadline, so the
/// responder's `deadline_exceeded` arrives first).
pub async fn request<Req: Message, Rep: Message + Default>(
    client: &async_nats::Client,
    subject: &str,
    request: &Req,
    timeout: Duration,
) -> Result<Rep, RequestError> {
    let mut headers = HeaderMap::new();
    crmerp_service_kit::trace_context::inject(&mut headers);
    let message = client
        .send_request(
            subject.to_owned(),
            async_nats::Request::new()
                .payload(Bytes::from(request.encode_to_vec()))
                .headers(headers)
                .timeout(Some(timeout)),
        )
        .await
        .map_err(|e| RequestError::NoReply(e.to_string()))?;
    if let Some(error) = ReplyError::from_headers(message.headers.as_ref()) {
        return Err(RequestError::Refused(error));
    }
    Rep::decode(message.payload).map_err(|e| RequestError::Undecodable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmerp_connector::ErrorCategory;

    #[test]
    fn an_error_reply_survives_its_headers() {
        let error = ReplyError::new("unavailable", "ERP down\nretry later", true);
        let back = ReplyError::from_headers(Some(&error.to_headers())).expect("error reply");
        assert_eq!(back.category, "unavailable");
        assert_eq!(back.message, "ERP down retry later");
        assert!(back.retryable);
        assert_eq!(ReplyError::from_headers(Some(&HeaderMap::new())), None);
        assert_eq!(ReplyError::from_headers(None), None);
    }

    #[test]
    fn a_vendor_error_keeps_its_category_and_retryability() {
        let permanent = ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::UnknownItem,
            "netsuite",
            "GET /item",
            "no such item",
        );
        let reply = ReplyError::from(permanent);
        assert_eq!(reply.category, ErrorCategory::UnknownItem.as_str());
        assert!(!reply.retryable);
    }

    #[test]
    fn settings_default_to_a_two_second_deadline() {
        let settings: ResponderSettings = serde_json::from_str("{}").expect("parses");
        assert_eq!(settings.deadline, Duration::from_secs(2));
        assert!(settings.validate().is_ok());
        let zero = ResponderSettings {
            deadline: Duration::ZERO,
            ..settings
        };
        assert!(zero.validate().unwrap_err().contains("responder.deadline"));
    }
}

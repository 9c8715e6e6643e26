//! [`FlowService`]: everything a flow service's binary does besides its
//! business logic, so a flow's `main` is its handler plus a few lines.
//!
//! The service loads its settings (defaults < `CRMERP_CONFIG` file <
//! `CRMERP__*` environment), starts telemetry, serves `/healthz`, `/readyz`
//! and `/metrics` on its admin listener, connects to NATS, declares the
//! streams and buckets, builds the handler the flow gives it (after NATS is up,
//! so the handler can bind claims), runs the consumer and/or the responder, and
//! on SIGTERM/SIGINT drains them and stops.
//!
//! ```no_run
//! # use crmerp_flow::{Attempt, Failure, FlowService, FlowSettings, Handler, ServiceSettings, Success};
//! # use crmerp_service_kit::{settings::NatsSettings, telemetry::TelemetrySettings};
//! # #[derive(serde::Deserialize)]
//! # struct Settings { nats: NatsSettings, telemetry: TelemetrySettings, flow: FlowSettings, admin_addr: String }
//! # impl ServiceSettings for Settings {
//! #     const DEFAULTS: &'static str = "";
//! #     fn nats(&self) -> &NatsSettings { &self.nats }
//! #     fn telemetry(&self) -> &TelemetrySettings { &self.telemetry }
//! #     fn admin_addr(&self) -> &str { &self.admin_addr }
//! #     fn flow(&self) -> Option<&FlowSettings> { Some(&self.flow) }
//! # }
//! # struct Fulfilment;
//! # #[async_trait::async_trait]
//! # impl Handler for Fulfilment {
//! #     async fn handle(&self, _: &crmerp_proto::EventEnvelope, _: &Attempt) -> Result<Success, Failure> { Ok(Success::default()) }
//! #     async fn probe(&self, _: &str) -> Result<(), crmerp_connector::ConnectorError> { Ok(()) }
//! # }
//! #[tokio::main]
//! async fn main() -> Result<(), crmerp_flow::ServiceError> {
//!     FlowService::<Settings>::load("fulfilment-sync")?
//!         .consume(&["inbound.erp.order.status.>", "inbound.carrier.shipment.>"], |_ctx| async {
//!             Ok(Fulfilment)
//!         })
//!         .run()
//!         .await
//! }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::telemetry::{self, TelemetryError, TelemetryGuard, TelemetrySettings};
use crmerp_service_kit::{ConfigError, Readiness, admin, announce_listener, nats, topology};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::handler::Handler;
use crate::responder::{self, Responder, ResponderSettings};
use crate::runtime::{self, FlowError};
use crate::settings::FlowSettings;

/// What the runtime reads from a flow service's settings type.
pub trait ServiceSettings: DeserializeOwned + Send + Sync + 'static {
    /// The service's compiled-in defaults, a TOML document.
    const DEFAULTS: &'static str;

    /// Section `[nats]`.
    fn nats(&self) -> &NatsSettings;
    /// Section `[telemetry]`.
    fn telemetry(&self) -> &TelemetrySettings;
    /// Where `/healthz`, `/readyz` and `/metrics` listen.
    fn admin_addr(&self) -> &str;
    /// Consumer and retry settings (section `[flow]`); needed to consume.
    fn flow(&self) -> Option<&FlowSettings> {
        None
    }
    /// Responder settings (section `[responder]`); the defaults when absent.
    fn responder(&self) -> ResponderSettings {
        ResponderSettings::default()
    }
    /// The service's own checks, run at load; the message names the key.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A flow service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The settings could not be loaded.
    #[error(transparent)]
    Load(#[from] ConfigError),
    /// A setting is invalid, or the service has nothing to run.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Telemetry could not be set up.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// The admin listener could not be bound or failed.
    #[error("admin listener {addr}: {source}")]
    Admin {
        /// The configured address.
        addr: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// NATS connection failed.
    #[error(transparent)]
    Nats(#[from] nats::ConnectError),
    /// Streams or buckets could not be declared.
    #[error(transparent)]
    Topology(#[from] topology::TopologyError),
    /// The flow's handler could not be built.
    #[error("cannot build the handler: {0}")]
    Handler(#[source] BoxError),
    /// The consumer or the responder failed.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// The consumer or the responder task panicked.
    #[error("a flow task stopped unexpectedly: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The error a handler factory may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a handler factory gets once NATS is up and the topology declared.
pub struct Context<S> {
    /// The flow name.
    pub name: &'static str,
    /// The loaded settings.
    pub settings: Arc<S>,
    /// The NATS connection.
    pub client: async_nats::Client,
    /// JetStream on that connection (e.g. to bind claims).
    pub js: jetstream::Context,
}

impl<S> Clone for Context<S> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            settings: Arc::clone(&self.settings),
            client: self.client.clone(),
            js: self.js.clone(),
        }
    }
}

/// Starts one part (consumer or responder) once NATS is up.
type Part<S> = Box<
    dyn FnOnce(
            Context<S>,
            Readiness,
            CancellationToken,
        ) -> BoxFuture<'static, Result<(), ServiceError>>
        + Send,
>;

/// A flow service being assembled; see the module docs.
pub struct FlowService<S> {
    name: &'static str,
    settings: Arc<S>,
    telemetry: Option<TelemetryGuard>,
    admin: Option<tokio::net::TcpListener>,
    consumer: Option<Part<S>>,
    responder: Option<Part<S>>,
}

impl<S: ServiceSettings> FlowService<S> {
    /// Loads and validates the settings from their layers and starts telemetry.
    pub fn load(name: &'static str) -> Result<Self, ServiceError> {
        let settings: S = crmerp_service_kit::load_settings(S::DEFAULTS)?;
        let mut service = Self::with_settings(name, settings)?;
        service.telemetry = Some(telemetry::init(name, service.settings.telemetry())?);
        Ok(service)
    }

    /// A service on already-loaded settings, without installing telemetry
    /// (tests, or a process that set it up itself).
    pub fn with_settings(name: &'static str, settings: S) -> Result<Self, ServiceError> {
        if let Some(flow) = settings.flow() {
            flow.validate().map_err(ServiceError::Config)?;
        }
        settings
            .responder()
            .validate()
            .map_err(ServiceError::Config)?;
        settings.validate().map_err(ServiceError::Config)?;
        Ok(Self {
            name,
            settings: Arc::new(settings),
            telemetry: None,
            admin: None,
            consumer: None,
            responder: None,
        })
    }

    /// Serves the admin endpoints on `listener` instead of binding
    /// `admin_addr` (tests bind port 0 and need the address first).
    pub fn admin_listener(mut self, listener: tokio::net::TcpListener) -> Self {
        self.admin = Some(listener);
        self
    }

    /// The loaded settings.
    pub fn settings(&self) -> &S {
        &self.settings
    }

    /// Consumes `INBOUND` on `subjects` with the durable consumer named after
    /// the flow; `handler` builds the handler once NATS is up.
    pub fn consume<H, F, Fut>(mut self, subjects: &[&str], handler: F) -> Self
    where
        H: Handler,
        F: FnOnce(Context<S>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<H, BoxError>> + Send + 'static,
    {
        let subjects: Vec<String> = subjects.iter().map(|s| (*s).to_owned()).collect();
        self.consumer = Some(Box::new(move |ctx: Context<S>, readiness, shutdown| {
            Box::pin(async move {
                let Some(settings) = ctx.settings.flow().cloned() else {
                    return Err(ServiceError::Config(format!(
                        "flow {} consumes but its settings have no [flow] section",
                        ctx.name
                    )));
                };
                let (name, js) = (ctx.name, ctx.js.clone());
                let handler = handler(ctx).await.map_err(ServiceError::Handler)?;
                let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
                runtime::run(
                    name,
                    &subjects,
                    js,
                    settings,
                    Arc::new(handler),
                    readiness,
                    shutdown,
                )
                .await?;
                Ok(())
            })
        }));
        self
    }

    /// Answers requests on `subject` in the flow's queue group; `responder`
    /// builds the responder once NATS is up.
    pub fn respond<R, F, Fut>(mut self, subject: &str, responder: F) -> Self
    where
        R: Responder,
        F: FnOnce(Context<S>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, BoxError>> + Send + 'static,
    {
        let subject = subject.to_owned();
        self.responder = Some(Box::new(move |ctx: Context<S>, readiness, shutdown| {
            Box::pin(async move {
                let settings = ctx.settings.responder();
                let (name, client) = (ctx.name, ctx.client.clone());
                let responder = responder(ctx).await.map_err(ServiceError::Handler)?;
                responder::serve(
                    name,
                    &subject,
                    client,
                    settings,
                    Arc::new(responder),
                    readiness,
                    shutdown,
                )
                .await?;
                Ok(())
            })
        }));
        self
    }

    /// Runs until SIGTERM or SIGINT, then drains and stops.
    pub async fn run(self) -> Result<(), ServiceError> {
        let shutdown = crmerp_service_kit::shutdown::on_signal();
        self.run_until(shutdown).await
    }

    /// Runs until `shutdown` fires, then drains and stops.
    pub async fn run_until(self, shutdown: CancellationToken) -> Result<(), ServiceError> {
        let Self {
            name,
            settings,
            telemetry,
            admin,
            consumer,
            responder,
        } = self;
        if consumer.is_none() && responder.is_none() {
            return Err(ServiceError::Config(format!(
                "flow {name} neither consumes nor responds"
            )));
        }
        let admin_addr = settings.admin_addr().to_owned();
        let admin_error = |source| ServiceError::Admin {
            addr: admin_addr.clone(),
            source,
        };
        let listener = match admin {
            Some(listener) => listener,
            None => tokio::net::TcpListener::bind(&admin_addr)
                .await
                .map_err(admin_error)?,
        };
        let readiness = Readiness::new();
        let router = admin::router(readiness.clone(), admin::install_metrics());
        announce_listener("admin", listener.local_addr().map_err(admin_error)?);
        let admin_shutdown = shutdown.clone();
        let admin = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { admin_shutdown.cancelled().await })
                .await
        });

        let (client, js) = nats::connect(settings.nats(), name).await?;
        topology::ensure_streams_until_ready(&js, settings.nats(), &shutdown).await?;
        let flush_client = client.clone();
        let ctx = Context {
            name,
            settings,
            client,
            js,
        };
        let mut parts = JoinSet::new();
        // The consumer's readiness follows its fetches; a responder alone
        // reports its subscription. Both: the consumer's is the service's.
        let responder_readiness = if consumer.is_some() {
            Readiness::new()
        } else {
            readiness.clone()
        };
        if let Some(start) = consumer {
            parts.spawn(start(ctx.clone(), readiness.clone(), shutdown.clone()));
        }
        if let Some(start) = responder {
            parts.spawn(start(ctx, responder_readiness, shutdown.clone()));
        }
        let mut result = Ok(());
        while let Some(finished) = parts.join_next().await {
            let outcome = finished.map_err(ServiceError::from).and_then(|part| part);
            if let Err(error) = outcome {
                // One part failing stops the service; the others drain.
                tracing::error!(flow = name, %error, "Flow part failed; stopping.");
                shutdown.cancel();
                if result.is_ok() {
                    result = Err(error);
                }
            }
        }
        shutdown.cancel();
        flush(&flush_client, name).await;
        match admin.await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => return Err(admin_error(source)),
            Err(join) => return Err(admin_error(std::io::Error::other(join))),
        }
        drop(telemetry);
        result
    }
}

/// Longest wait for the last acks and NAKs to reach the server at shutdown.
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// Writes out what the parts queued last (acks, NAKs, outcomes). Without it
/// the process could exit with a NAK still in the client's buffer, and that
/// message would wait out the whole ack wait before its redelivery.
async fn flush(client: &async_nats::Client, flow: &str) {
    match tokio::time::timeout(FLUSH_DEADLINE, client.flush()).await {
        Ok(Ok(())) => tracing::info!(flow, "NATS client flushed."),
        Ok(Err(error)) => tracing::warn!(flow, %error, "Cannot flush the NATS client."),
        Err(_) => tracing::warn!(flow, "NATS client flush timed out."),
    }
}

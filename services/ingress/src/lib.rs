//! Webhook ingress.
//!
//! Routes are organised by source ([`sources`]: one module per vendor, with its
//! routes and request authentication, mounted from one table) and by event
//! kind ([`events`]: one normaliser per canonical event, e.g. deal won).
//! Each vendor route verifies the vendor's own signature scheme over the raw
//! body, normalises the payload into thin canonical events and publishes them
//! to JetStream with `Nats-Msg-Id` derived from the vendor's event id, so a
//! re-sent webhook is de-duplicated. The route answers 2xx only after
//! JetStream acknowledged every event; when JetStream is unreachable it answers
//! 503 so the vendor retries. A rejected request publishes nothing.
//!
//! The public listener ([`server`]) bounds slow clients: header-read and idle
//! timeouts and a connection cap; each source route adds its rate limit and a
//! body-read deadline. `/readyz` reports NATS and the streams.

mod error;
mod events;
mod fulfilment_settings;
mod publisher;
mod readiness;
mod server;
mod settings;
mod sources;
mod webhook_ids;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::{Readiness, admin, announce_listener, nats, topology};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::IngressError;
pub use fulfilment_settings::{
    AfterShipIngress, BusinessCentralIngress, EasyPostIngress, NetSuiteIngress,
    OracleFusionIngress, S4HanaIngress, ScanName, StatusName, TwilioIngress,
};
pub use publisher::Publisher;
pub use settings::{CrmSettings, IngressSettings, RateLimit, Settings};

/// A built ingress, bound to its listener and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
    js: async_nats::jetstream::Context,
    nats: NatsSettings,
    readiness: Readiness,
    limits: server::ConnectionLimits,
}

/// Ingress could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// NATS connection failed.
    #[error(transparent)]
    Nats(#[from] nats::ConnectError),
    /// The listener has no local address.
    #[error("listener has no local address: {0}")]
    Listener(#[from] std::io::Error),
}

impl Application {
    /// Connects to NATS and builds the router. Streams are declared in the
    /// background so ingress can start before NATS (it answers 503 until then).
    pub async fn build(settings: Settings, listener: TcpListener) -> Result<Self, StartError> {
        let addr = listener.local_addr()?;
        let (client, js) = nats::connect(&settings.nats, "ingress").await?;
        let readiness = Readiness::new();
        let publisher = Publisher::new(client.clone(), js.clone(), readiness.clone());
        let shared = sources::Shared {
            webhook_ids: webhook_ids::WebhookIds::new(publisher.clone()),
            warned_types: events::unroutable::WarnedTypes::default(),
            publisher,
            public_base_url: settings
                .ingress
                .public_base_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}"))
                .trim_end_matches('/')
                .into(),
        };
        let sources: Vec<_> = sources::SOURCES.iter().map(|s| s.system).collect();
        tracing::info!(?sources, "Webhook sources mounted.");
        let router = sources::router(&shared, &settings)
            .layer(DefaultBodyLimit::max(settings.ingress.body_limit))
            .merge(readiness::router(client, readiness.clone()))
            .merge(admin::liveness_and_metrics_router(admin::install_metrics()));
        let ingress = &settings.ingress;
        let limits = server::ConnectionLimits {
            header_read_timeout: ingress.header_read_timeout,
            idle_timeout: ingress.idle_timeout,
            max_connections: ingress.max_connections,
            // Room for a body still arriving and its publish.
            drain: ingress.body_read_timeout + Duration::from_secs(10),
        };
        Ok(Self {
            listener,
            router,
            addr,
            js,
            nats: settings.nats,
            readiness,
            limits,
        })
    }

    /// The bound address (useful when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` fires, then finishes in-flight requests.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        declare_streams_in_background(self.js, self.nats, self.readiness, shutdown.clone());
        announce_listener("http", self.addr);
        server::serve(self.listener, self.router, self.limits, shutdown).await;
        Ok(())
    }
}

fn declare_streams_in_background(
    js: async_nats::jetstream::Context,
    settings: NatsSettings,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        if topology::ensure_streams_until_ready(&js, &settings, &shutdown)
            .await
            .is_ok()
        {
            readiness.set(true);
            tracing::info!("Streams declared.");
        }
    });
}

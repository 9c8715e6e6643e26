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

mod error;
mod events;
mod publisher;
mod settings;
mod sources;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::{Readiness, admin, announce_listener, nats, topology};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::IngressError;
pub use publisher::Publisher;
pub use settings::{CrmSettings, IngressSettings, Settings};

/// A built ingress, bound to its listener and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
    js: async_nats::jetstream::Context,
    nats: NatsSettings,
    readiness: Readiness,
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
        let publisher = Publisher::new(client, js.clone(), readiness.clone());
        let shared = sources::Shared {
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
            .merge(admin::router(readiness.clone(), admin::install_metrics()));
        Ok(Self {
            listener,
            router,
            addr,
            js,
            nats: settings.nats,
            readiness,
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
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
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

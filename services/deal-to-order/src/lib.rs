//! deal-to-order: a won CRM deal becomes exactly one ERP sales order.
//!
//! The service owns the durable consumer `deal-to-order` on
//! `inbound.crm.deal.won.>`. For each event it hydrates the deal from the CRM,
//! validates it, finds or creates the ERP customer, finds the order by the
//! deal's external reference or creates it, and writes the order number back
//! to the deal. Creates run under a claim in JetStream KV, so replicas never
//! create twice for one deal. Retries, outcomes and dead letters are the flow
//! runtime's (`crmerp-flow`).

mod connectors;
mod handler;
mod settings;
mod validate;

use std::net::SocketAddr;
use std::sync::Arc;

use crmerp_connector::{CrmConnector, ErpConnector};
use crmerp_flow::{ClaimError, Claims};
use crmerp_service_kit::{Readiness, admin, announce_listener, nats, topology};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use handler::DealToOrder;
pub use settings::Settings;
pub use validate::{Invalid, validate_deal};

/// The flow (and durable consumer) name.
pub const FLOW: &str = "deal-to-order";

/// deal-to-order could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configured connectors are missing or invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// NATS connection failed.
    #[error(transparent)]
    Nats(#[from] nats::ConnectError),
    /// Streams could not be declared.
    #[error(transparent)]
    Topology(#[from] topology::TopologyError),
    /// The consumer failed.
    #[error(transparent)]
    Flow(#[from] crmerp_flow::FlowError),
    /// The claims bucket could not be bound.
    #[error(transparent)]
    Claims(#[from] ClaimError),
    /// The admin listener failed.
    #[error("admin listener: {0}")]
    Io(#[from] std::io::Error),
}

/// A built deal-to-order service.
pub struct Application {
    settings: Settings,
    crm: Arc<dyn CrmConnector>,
    erp: Arc<dyn ErpConnector>,
    admin: TcpListener,
    admin_addr: SocketAddr,
}

impl Application {
    /// Validates the connector configuration and builds the handler; fails
    /// fast with a message naming any missing setting.
    pub async fn build(settings: Settings, admin: TcpListener) -> Result<Self, ServiceError> {
        let (crm, erp) = connectors::from_settings(&settings).map_err(ServiceError::Config)?;
        settings
            .flow
            .validate_claim_for(settings.erp_request_timeout())
            .map_err(ServiceError::Config)?;
        let admin_addr = admin.local_addr()?;
        Ok(Self {
            settings,
            crm,
            erp,
            admin,
            admin_addr,
        })
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Consumes until `shutdown` fires, then drains in-flight work.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), ServiceError> {
        let readiness = Readiness::new();
        let admin_router = admin::router(readiness.clone(), admin::install_metrics());
        announce_listener("admin", self.admin_addr);
        let admin_shutdown = shutdown.clone();
        let admin_task = tokio::spawn(async move {
            axum::serve(self.admin, admin_router)
                .with_graceful_shutdown(async move { admin_shutdown.cancelled().await })
                .await
        });

        let (_client, js) = nats::connect(&self.settings.nats, FLOW).await?;
        topology::ensure_streams_until_ready(&js, &self.settings.nats, &shutdown).await?;
        let claims = Claims::bind(
            &js,
            topology::CLAIMS_BUCKET,
            FLOW,
            self.settings.flow.claim_ttl,
            self.settings.flow.claim_wait,
        )
        .await?;
        let handler = Arc::new(DealToOrder::new(
            self.crm,
            self.erp,
            claims,
            self.settings.deal_to_order.min_order_value,
        ));
        crmerp_flow::run(
            FLOW,
            &[topology::DEAL_WON_FILTER],
            js,
            self.settings.flow.clone(),
            handler,
            readiness,
            shutdown,
        )
        .await?;
        admin_task.await.map_err(std::io::Error::other)??;
        Ok(())
    }
}

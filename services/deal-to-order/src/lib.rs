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

use std::sync::Arc;

use crmerp_flow::{Claims, FlowService, KvCredentialStore, OrderLinks, ServiceError};
use crmerp_service_kit::topology;

pub use connectors::Ports;
pub use handler::DealToOrder;
pub use settings::Settings;
pub use validate::{Invalid, validate_deal};

/// The flow (and durable consumer) name.
pub const FLOW: &str = "deal-to-order";

/// Adds deal-to-order's handler to `service`, consuming every deal-won event.
///
/// The configured connectors are built here, so a missing or invalid vendor
/// setting stops start-up before NATS is reached; the claims bucket is bound
/// once NATS is up.
pub fn service(service: FlowService<Settings>) -> Result<FlowService<Settings>, ServiceError> {
    let settings = service.settings();
    let ports = Ports::from_settings(settings).map_err(ServiceError::Config)?;
    let min_order_value = settings.deal_to_order.min_order_value;
    Ok(
        service.consume(&[topology::DEAL_WON_FILTER], move |ctx| async move {
            let flow = &ctx.settings.flow;
            let claims = Claims::bind(
                &ctx.js,
                topology::CLAIMS_BUCKET,
                FLOW,
                flow.claim_ttl,
                flow.claim_wait,
            )
            .await?;
            let links = OrderLinks::bind(&ctx.js, topology::ORDER_LINKS_BUCKET).await?;
            let credentials =
                KvCredentialStore::bind(&ctx.js, topology::CREDENTIALS_BUCKET).await?;
            ports.credentials.attach(Arc::new(credentials));
            Ok(DealToOrder::new(ports, claims, links, min_order_value))
        }),
    )
}

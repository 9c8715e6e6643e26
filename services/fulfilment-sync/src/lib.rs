//! fulfilment-sync: an ERP order's fulfilment, step by step, on its CRM deal.
//!
//! The service owns the durable consumer `fulfilment-sync` on
//! `inbound.erp.order.status.>` and `inbound.carrier.shipment.>`. For each
//! event it finds the deal the order came from (the order links deal-to-order
//! records; none is a dead letter with resolution `order_not_linked`, to be
//! requeued once linked), reads the status back from the ERP when the event
//! carries ids only, and, under a per-order claim and against the order's
//! state in JetStream KV (compare-and-set), writes a timeline entry at the
//! ERP's or carrier's time, moves the deal's fulfilment fields forward only,
//! and creates a follow-up task for the account owner on exceptions, holds,
//! cancellations, failed deliveries and returns. Retries, outcomes and dead
//! letters are the flow runtime's (`crmerp-flow`).

mod connectors;
mod handler;
mod settings;
mod state;
mod templates;

use std::sync::Arc;

use crmerp_flow::{Claims, FlowService, OrderLinks, ServiceError};
use crmerp_service_kit::topology;

pub use connectors::Ports;
pub use handler::{FulfilmentSync, ORDER_NOT_LINKED};
pub use settings::{ConnectorSelection, FulfilmentSyncSettings, Settings};
pub use state::{Fact, OrderState, Plan, ShipmentInfo, StateError, StateStore, plan};
pub use templates::{TASK_KINDS, TaskContext, TaskTemplate, TaskTemplates, TemplateError};

/// The flow (and durable consumer) name.
pub const FLOW: &str = "fulfilment-sync";

/// Adds fulfilment-sync's handler to `service`, consuming order-status events
/// and carrier scans.
///
/// The connectors and the task templates are built here, so a missing setting,
/// a missing capability or a template naming an unknown variable stops
/// start-up before NATS is reached; the buckets are bound once NATS is up.
pub fn service(service: FlowService<Settings>) -> Result<FlowService<Settings>, ServiceError> {
    let settings = service.settings();
    let ports = Ports::from_settings(settings).map_err(ServiceError::Config)?;
    let templates = Arc::new(
        TaskTemplates::compile(&settings.fulfilment_sync.tasks)
            .map_err(|e| ServiceError::Config(e.to_string()))?,
    );
    Ok(service.consume(
        &[topology::ORDER_STATUS_FILTER, topology::CARRIER_SCAN_FILTER],
        move |ctx| async move {
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
            let state = StateStore::bind(&ctx.js, topology::FULFILMENT_ORDERS_BUCKET).await?;
            Ok(FulfilmentSync::new(ports, links, state, claims, templates))
        },
    ))
}

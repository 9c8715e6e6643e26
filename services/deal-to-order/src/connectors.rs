//! Takes deal-to-order's ports from the configured CRM and ERP, failing fast
//! with the missing setting's or capability's name.

use std::sync::Arc;

use crmerp_connector::registry::{build_crm, build_erp};
use crmerp_connector::{ConnectorError, CustomerMaster, DealSource, OrderSink, System};

use crate::{FLOW, Settings};

/// The ports deal-to-order uses, shared by every in-flight message.
#[derive(Clone)]
pub struct Ports {
    /// The CRM's won deals (hydrate, write back, flag).
    pub deals: Arc<dyn DealSource>,
    /// The ERP's customer master.
    pub customers: Arc<dyn CustomerMaster>,
    /// The ERP's sales orders.
    pub orders: Arc<dyn OrderSink>,
}

impl Ports {
    /// The configured CRM's and ERP's ports; errors name a missing setting or capability.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let crm =
            build_crm(&settings.crm.kind, settings.crm.selected()).map_err(|e| e.to_string())?;
        let erp =
            build_erp(&settings.erp.kind, settings.erp.selected()).map_err(|e| e.to_string())?;
        Ok(Self {
            deals: crm.deal_source(FLOW).map_err(|e| e.to_string())?,
            customers: erp.customer_master(FLOW).map_err(|e| e.to_string())?,
            orders: erp.order_sink(FLOW).map_err(|e| e.to_string())?,
        })
    }

    /// Probes the port of `system` (the breaker asks by system name).
    pub async fn probe(&self, system: &str) -> Result<(), ConnectorError> {
        let ports: [&dyn System; 3] = [&*self.orders, &*self.customers, &*self.deals];
        match ports.into_iter().find(|port| port.system() == system) {
            Some(port) => port.probe().await,
            None => self.deals.probe().await,
        }
    }
}

//! Builds the configured CRM and ERP connectors, failing fast with the missing setting's name.

use std::sync::Arc;

use crmerp_connector::http_client::build_client;
use crmerp_connector::hubspot::HubSpotCrm;
use crmerp_connector::netsuite::NetSuiteErp;
use crmerp_connector::{CrmConnector, ErpConnector};

use crate::Settings;

/// The configured CRM and ERP, shared by every in-flight message.
pub type Connectors = (Arc<dyn CrmConnector>, Arc<dyn ErpConnector>);

/// The CRM and ERP selected by `crm.kind` and `erp.kind`.
pub fn from_settings(settings: &Settings) -> Result<Connectors, String> {
    let crm: Arc<dyn CrmConnector> = match settings.crm.kind.as_str() {
        "hubspot" => {
            let config = settings
                .crm
                .hubspot
                .clone()
                .ok_or("crm.kind is \"hubspot\" but section [crm.hubspot] is missing")?;
            let client = build_client(&config.timeouts).map_err(|e| format!("crm.hubspot: {e}"))?;
            Arc::new(HubSpotCrm::new(config, client).map_err(|e| e.to_string())?)
        }
        other => {
            return Err(format!(
                "crm.kind \"{other}\" is not a supported CRM (supported: hubspot)"
            ));
        }
    };
    let erp: Arc<dyn ErpConnector> = match settings.erp.kind.as_str() {
        "netsuite" => {
            let config = settings
                .erp
                .netsuite
                .clone()
                .ok_or("erp.kind is \"netsuite\" but section [erp.netsuite] is missing")?;
            let client =
                build_client(&config.timeouts).map_err(|e| format!("erp.netsuite: {e}"))?;
            Arc::new(NetSuiteErp::new(config, client).map_err(|e| e.to_string())?)
        }
        other => {
            return Err(format!(
                "erp.kind \"{other}\" is not a supported ERP (supported: netsuite)"
            ));
        }
    };
    Ok((crm, erp))
}

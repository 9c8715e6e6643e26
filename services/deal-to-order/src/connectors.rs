//! Builds the configured CRM and ERP connectors, failing fast with the missing setting's name.

use std::sync::Arc;

use crmerp_connector::registry::{build_crm, build_erp};
use crmerp_connector::{CrmConnector, ErpConnector};

use crate::Settings;

/// The configured CRM and ERP, shared by every in-flight message.
pub type Connectors = (Arc<dyn CrmConnector>, Arc<dyn ErpConnector>);

/// The CRM and ERP selected by `crm.kind` and `erp.kind`.
pub fn from_settings(settings: &Settings) -> Result<Connectors, String> {
    let crm = build_crm(&settings.crm.kind, settings.crm.selected()).map_err(|e| e.to_string())?;
    let erp = build_erp(&settings.erp.kind, settings.erp.selected()).map_err(|e| e.to_string())?;
    Ok((crm, erp))
}

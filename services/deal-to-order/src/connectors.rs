//! Takes deal-to-order's ports from the configured CRM and ERP, failing fast
//! with the missing setting's or capability's name.

use std::sync::Arc;

use crmerp_connector::credentials::CredentialSlot;
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
    /// Where the connectors keep credentials a vendor rotates; the service
    /// attaches its store once NATS is up.
    pub credentials: CredentialSlot,
}

impl Ports {
    /// The configured CRM's and ERP's ports; errors name a missing setting or capability.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let credentials = CredentialSlot::new();
        let maps = settings
            .deal_to_order
            .field_maps()
            .with_credentials(credentials.clone());
        let crm = build_crm(&settings.crm.kind, settings.crm.selected(), &maps)
            .map_err(|e| e.to_string())?;
        let erp = build_erp(&settings.erp.kind, settings.erp.selected(), &maps)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            deals: crm.deal_source(FLOW).map_err(|e| e.to_string())?,
            customers: erp.customer_master(FLOW).map_err(|e| e.to_string())?,
            orders: erp.order_sink(FLOW).map_err(|e| e.to_string())?,
            credentials,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// deal-to-order's settings from `config/dev.toml` with `env` on top.
    fn settings(env: &[(&str, &str)]) -> Settings {
        let dev = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/dev.toml");
        crmerp_service_kit::settings::load_settings_from(
            include_str!("../defaults.toml"),
            dev.to_str(),
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .expect("settings load")
    }

    fn ports(env: &[(&str, &str)]) -> Result<Ports, String> {
        Ports::from_settings(&settings(env))
    }

    #[test]
    fn every_dev_vendor_builds_from_its_section_and_the_flows_field_maps() {
        for crm in ["hubspot", "salesforce", "pipedrive", "dynamics365"] {
            for erp in ["netsuite", "businesscentral", "s4hana", "oraclefusion"] {
                let built = ports(&[("CRMERP__CRM__KIND", crm), ("CRMERP__ERP__KIND", erp)]);
                assert!(built.is_ok(), "{crm} x {erp}: {:?}", built.err());
            }
        }
    }

    #[test]
    fn a_missing_field_map_is_named_in_the_flows_section() {
        let err = ports(&[
            ("CRMERP__ERP__KIND", "s4hana"),
            ("CRMERP__DEAL_TO_ORDER__ERP__S4HANA__SALES_ORGANIZATION", ""),
        ])
        .err()
        .expect("refused");
        assert!(
            err.contains("deal_to_order.erp.s4hana.sales_organization"),
            "{err}"
        );
        let err = ports(&[
            ("CRMERP__ERP__KIND", "oraclefusion"),
            ("CRMERP__DEAL_TO_ORDER__ERP__ORACLEFUSION__SUBMIT", "maybe"),
        ])
        .err()
        .expect("refused");
        assert!(err.contains("deal_to_order.erp.oraclefusion"), "{err}");
    }

    #[test]
    fn a_field_map_at_its_pre_split_place_is_still_read_unless_it_contradicts() {
        // The old environment name alone still works.
        let built = ports(&[("CRMERP__CRM__HUBSPOT__SKU_PROPERTY", "erp_sku")]);
        assert!(built.is_ok(), "{:?}", built.err());
        // Both places with different values: one would silently lose. (The dev
        // file sets write_back_property in the flow's section.)
        let err = ports(&[(
            "CRMERP__CRM__HUBSPOT__WRITE_BACK_PROPERTY",
            "legacy_order_no",
        )])
        .err()
        .expect("refused");
        assert!(
            err.contains("deal_to_order.crm.hubspot.write_back_property")
                && err.contains("crm.hubspot.write_back_property"),
            "{err}"
        );
    }
}

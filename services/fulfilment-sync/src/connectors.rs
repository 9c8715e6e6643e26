//! Takes fulfilment-sync's ports from the configured CRM and ERP, failing fast
//! with the missing setting's or capability's name.

use std::sync::Arc;

use crmerp_connector::registry::{build_crm, build_erp};
use crmerp_connector::{
    ActivityTimeline, Capability, ConnectorError, DealFulfilment, FollowUpTasks, OrderStatusSource,
};

use crate::{FLOW, Settings};

/// The ports fulfilment-sync uses, shared by every in-flight message.
#[derive(Clone)]
pub struct Ports {
    /// The CRM's activity timeline (deal and account).
    pub timeline: Arc<dyn ActivityTimeline>,
    /// The CRM's tasks for the account owner.
    pub tasks: Arc<dyn FollowUpTasks>,
    /// The CRM deal's fulfilment fields.
    pub fulfilment: Arc<dyn DealFulfilment>,
    /// The ERP's order status, for events that carry ids only; `None` when the
    /// ERP cannot be read back (its events then must carry the status).
    pub status_source: Option<Arc<dyn OrderStatusSource>>,
    /// The ERP's name, e.g. `netsuite`.
    pub erp: &'static str,
}

impl Ports {
    /// The configured CRM's and ERP's ports; errors name a missing setting or capability.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let maps = settings.field_maps();
        let crm = build_crm(&settings.crm.kind, settings.crm.selected(), &maps)
            .map_err(|e| e.to_string())?;
        let erp = build_erp(&settings.erp.kind, settings.erp.selected(), &maps)
            .map_err(|e| e.to_string())?;
        let status_source = if erp.has(Capability::OrderStatusSource) {
            Some(erp.order_status_source(FLOW).map_err(|e| e.to_string())?)
        } else {
            tracing::warn!(
                erp = erp.system(),
                "The ERP has no order status source: events without a status are dead-lettered."
            );
            None
        };
        Ok(Self {
            timeline: crm.activity_timeline(FLOW).map_err(|e| e.to_string())?,
            tasks: crm.follow_up_tasks(FLOW).map_err(|e| e.to_string())?,
            fulfilment: crm.deal_fulfilment(FLOW).map_err(|e| e.to_string())?,
            status_source,
            erp: erp.system(),
        })
    }

    /// Probes the port of `system` (the breaker asks by system name).
    pub async fn probe(&self, system: &str) -> Result<(), ConnectorError> {
        if let Some(source) = self.status_source.as_ref().filter(|s| s.system() == system) {
            return source.probe().await;
        }
        self.timeline.probe().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fulfilment-sync's settings from `config/dev.toml` with `env` on top.
    fn settings(env: &[(&str, &str)]) -> Settings {
        let dev = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/dev.toml");
        crmerp_service_kit::settings::load_settings_from(
            include_str!("../defaults.toml"),
            dev.to_str(),
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .expect("settings load")
    }

    #[test]
    fn hubspot_with_every_dev_erp_builds_and_read_back_follows_the_erp() {
        for erp in ["netsuite", "businesscentral", "s4hana", "oraclefusion"] {
            let ports = Ports::from_settings(&settings(&[("CRMERP__ERP__KIND", erp)]));
            let ports = ports.unwrap_or_else(|e| panic!("hubspot x {erp}: {e}"));
            assert_eq!(ports.erp, erp);
        }
        let bc = Ports::from_settings(&settings(&[("CRMERP__ERP__KIND", "businesscentral")]))
            .expect("builds");
        assert!(bc.status_source.is_some(), "Business Central reads back");
    }

    #[test]
    fn a_bad_field_map_is_named_in_the_flows_section() {
        let err = Ports::from_settings(&settings(&[(
            "CRMERP__FULFILMENT_SYNC__CRM__HUBSPOT__TASK_PRIORITY",
            "URGENT",
        )]))
        .err()
        .expect("refused");
        assert!(
            err.contains("fulfilment_sync.crm.hubspot.task_priority"),
            "{err}"
        );
        let err = Ports::from_settings(&settings(&[(
            "CRMERP__FULFILMENT_SYNC__CRM__HUBSPOT__STATUS_PROPERTI",
            "x",
        )]))
        .err()
        .expect("refused");
        assert!(err.contains("fulfilment_sync.crm.hubspot"), "{err}");
    }
}

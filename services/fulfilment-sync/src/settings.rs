//! fulfilment-sync settings.

use std::collections::{BTreeMap, HashMap};

use crmerp_connector::FlowMaps;
use crmerp_connector::registry::{self, DEAL_TO_ORDER, FULFILMENT_SYNC};
use crmerp_flow::{FlowSettings, ServiceSettings};
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::telemetry::TelemetrySettings;
use serde::Deserialize;

use crate::templates::TaskTemplate;

const DEFAULTS: &str = include_str!("../defaults.toml");

/// Everything fulfilment-sync reads from configuration.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Settings {
    /// NATS connection and stream shape.
    pub nats: NatsSettings,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// Service-specific keys.
    pub fulfilment_sync: FulfilmentSyncSettings,
    /// Consumer and retry schedule.
    pub flow: FlowSettings,
    /// Which CRM, and its settings.
    #[schemars(schema_with = "registry::crm_selection_schema")]
    pub crm: ConnectorSelection,
    /// Which ERP, and its settings.
    #[schemars(schema_with = "registry::erp_selection_schema")]
    pub erp: ConnectorSelection,
    /// deal-to-order's field maps (`[deal_to_order]`), read only because some
    /// connectors need theirs to be built; fulfilment-sync uses none of them.
    #[serde(default)]
    #[schemars(skip)]
    pub deal_to_order: Option<serde_json::Value>,
}

/// Section `[fulfilment_sync]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct FulfilmentSyncSettings {
    /// Admin listener address.
    pub admin_addr: String,
    /// Follow-up task templates by kind of problem (`default`, `exception`,
    /// `cancelled`, `returned`, `failed_attempt`, `refused`,
    /// `returned_to_sender`, `carrier_exception`); `default` is required and
    /// covers the kinds without their own.
    pub tasks: BTreeMap<String, TaskTemplate>,
    /// Field maps per CRM (`[fulfilment_sync.crm.<kind>]`): which deal
    /// properties receive the status, carrier and tracking number.
    #[serde(default)]
    #[schemars(schema_with = "registry::fulfilment_sync_crm_schema")]
    pub crm: Option<serde_json::Value>,
    /// Settings per ERP (`[fulfilment_sync.erp.<kind>]`), e.g. status mappings.
    #[serde(default)]
    #[schemars(schema_with = "registry::fulfilment_sync_erp_schema")]
    pub erp: Option<serde_json::Value>,
}

/// Section `[crm]` or `[erp]`: `kind` picks the connector and the sub-section
/// of that name (e.g. `[crm.hubspot]`) configures it.
#[derive(Debug, Deserialize)]
pub struct ConnectorSelection {
    /// Connector name, e.g. `hubspot` or `netsuite`.
    pub kind: String,
    /// Every sub-section, by connector name; only the selected one is read.
    #[serde(flatten)]
    pub sections: HashMap<String, serde_json::Value>,
}

impl ConnectorSelection {
    /// The selected connector's section, if present.
    pub fn selected(&self) -> Option<serde_json::Value> {
        self.sections.get(&self.kind).cloned()
    }
}

impl Settings {
    /// The field maps the connectors are built with: this flow's, and
    /// deal-to-order's where a shared configuration file has them.
    pub fn field_maps(&self) -> FlowMaps {
        let own = &self.fulfilment_sync;
        let mut maps = FlowMaps::new().with(
            FULFILMENT_SYNC,
            Some(serde_json::json!({"crm": own.crm, "erp": own.erp})),
        );
        if let Some(deal_to_order) = &self.deal_to_order {
            maps = maps.with(DEAL_TO_ORDER, Some(deal_to_order.clone()));
        }
        maps
    }
}

impl ServiceSettings for Settings {
    const DEFAULTS: &'static str = DEFAULTS;

    fn nats(&self) -> &NatsSettings {
        &self.nats
    }

    fn telemetry(&self) -> &TelemetrySettings {
        &self.telemetry
    }

    fn admin_addr(&self) -> &str {
        &self.fulfilment_sync.admin_addr
    }

    fn flow(&self) -> Option<&FlowSettings> {
        Some(&self.flow)
    }

    fn validate(&self) -> Result<(), String> {
        crate::templates::TaskTemplates::compile(&self.fulfilment_sync.tasks)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

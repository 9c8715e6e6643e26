//! deal-to-order settings.

use std::collections::HashMap;

use crmerp_connector::FlowMaps;
use crmerp_connector::http_client::HttpTimeouts;
use crmerp_connector::registry::{self, DEAL_TO_ORDER, from_section};
use crmerp_flow::{FlowSettings, ServiceSettings};
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::telemetry::TelemetrySettings;
use rust_decimal::Decimal;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../defaults.toml");

/// Everything deal-to-order reads from configuration.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Settings {
    /// NATS connection and stream shape.
    pub nats: NatsSettings,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// Service-specific keys.
    pub deal_to_order: DealToOrderSettings,
    /// Consumer and retry schedule.
    pub flow: FlowSettings,
    /// Which CRM, and its settings.
    #[schemars(schema_with = "registry::crm_selection_schema")]
    pub crm: ConnectorSelection,
    /// Which ERP, and its settings.
    #[schemars(schema_with = "registry::erp_selection_schema")]
    pub erp: ConnectorSelection,
}

/// Section `[deal_to_order]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DealToOrderSettings {
    /// Admin listener address.
    pub admin_addr: String,
    /// Smallest order value accepted, as a decimal string.
    pub min_order_value: Decimal,
    /// Field maps per CRM (`[deal_to_order.crm.<kind>]`); the connector
    /// validates the selected one at start-up.
    #[serde(default)]
    #[schemars(schema_with = "registry::deal_to_order_crm_schema")]
    pub crm: Option<serde_json::Value>,
    /// Order and customer settings per ERP (`[deal_to_order.erp.<kind>]`).
    #[serde(default)]
    #[schemars(schema_with = "registry::deal_to_order_erp_schema")]
    pub erp: Option<serde_json::Value>,
}

impl DealToOrderSettings {
    /// The field maps this flow gives the connectors it builds.
    pub fn field_maps(&self) -> FlowMaps {
        FlowMaps::new().with(
            DEAL_TO_ORDER,
            Some(serde_json::json!({"crm": self.crm, "erp": self.erp})),
        )
    }
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
    /// The selected ERP's whole-request timeout, read with the connectors' own
    /// type and defaults (`erp.<kind>.timeouts`); a section the connector
    /// rejects has already failed start-up by the time this is asked.
    pub fn erp_request_timeout(&self) -> std::time::Duration {
        let timeouts = self
            .erp
            .selected()
            .and_then(|mut section| section.get_mut("timeouts").map(serde_json::Value::take))
            .and_then(|timeouts| from_section::<HttpTimeouts>("timeouts", &timeouts).ok())
            .unwrap_or_default();
        std::time::Duration::from_millis(timeouts.request_timeout_ms)
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
        &self.deal_to_order.admin_addr
    }

    fn flow(&self) -> Option<&FlowSettings> {
        Some(&self.flow)
    }

    fn validate(&self) -> Result<(), String> {
        self.flow.validate_claim_for(self.erp_request_timeout())
    }
}

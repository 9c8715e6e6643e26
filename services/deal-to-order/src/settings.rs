//! deal-to-order settings.

use std::collections::HashMap;

use crmerp_flow::FlowSettings;
use crmerp_service_kit::settings::NatsSettings;
use crmerp_service_kit::telemetry::TelemetrySettings;
use crmerp_service_kit::{ConfigError, load_settings};
use rust_decimal::Decimal;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../defaults.toml");

/// Everything deal-to-order reads from configuration.
#[derive(Debug, Deserialize)]
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
    pub crm: ConnectorSelection,
    /// Which ERP, and its settings.
    pub erp: ConnectorSelection,
}

/// Section `[deal_to_order]`.
#[derive(Debug, Deserialize)]
pub struct DealToOrderSettings {
    /// Admin listener address.
    pub admin_addr: String,
    /// Smallest order value accepted, as a decimal string.
    pub min_order_value: Decimal,
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

/// The connectors' request timeout when their section sets none.
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;

impl Settings {
    /// The selected ERP's whole-request timeout (`erp.<kind>.timeouts.request_timeout_ms`).
    pub fn erp_request_timeout(&self) -> std::time::Duration {
        let millis = self
            .erp
            .sections
            .get(&self.erp.kind)
            .and_then(|section| section.get("timeouts"))
            .and_then(|timeouts| timeouts.get("request_timeout_ms"))
            .and_then(|value| {
                // Environment overrides may arrive as strings.
                value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS);
        std::time::Duration::from_millis(millis)
    }

    /// Loads and validates settings from defaults, `CRMERP_CONFIG` and `CRMERP__*`.
    pub fn load() -> Result<Self, ConfigError> {
        let settings: Self = load_settings(DEFAULTS)?;
        settings.flow.validate().map_err(ConfigError::Invalid)?;
        Ok(settings)
    }
}

//! deal-to-order settings.

use crmerp_connector::hubspot::HubSpotConfig;
use crmerp_connector::netsuite::NetSuiteConfig;
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
    pub crm: CrmSelection,
    /// Which ERP, and its settings.
    pub erp: ErpSelection,
}

/// Section `[deal_to_order]`.
#[derive(Debug, Deserialize)]
pub struct DealToOrderSettings {
    /// Admin listener address.
    pub admin_addr: String,
    /// Smallest order value accepted, as a decimal string.
    pub min_order_value: Decimal,
}

/// Section `[crm]`: `kind` picks the connector, the sub-section configures it.
#[derive(Debug, Deserialize)]
pub struct CrmSelection {
    /// Connector name, e.g. `hubspot`.
    pub kind: String,
    /// `[crm.hubspot]`.
    pub hubspot: Option<HubSpotConfig>,
}

/// Section `[erp]`: `kind` picks the connector, the sub-section configures it.
#[derive(Debug, Deserialize)]
pub struct ErpSelection {
    /// Connector name, e.g. `netsuite`.
    pub kind: String,
    /// `[erp.netsuite]`.
    pub netsuite: Option<NetSuiteConfig>,
}

impl Settings {
    /// Loads and validates settings from defaults, `CRMERP_CONFIG` and `CRMERP__*`.
    pub fn load() -> Result<Self, ConfigError> {
        let settings: Self = load_settings(DEFAULTS)?;
        settings.flow.validate().map_err(ConfigError::Invalid)?;
        Ok(settings)
    }
}

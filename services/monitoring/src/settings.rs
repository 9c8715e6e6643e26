//! Monitoring settings: section `[monitoring]`, plus the shared `[nats]`,
//! `[telemetry]`, `[crm]` (to show and correct the deal of a dead letter) and
//! `[deal_to_order]` (its validation rules) sections.

use std::collections::HashMap;
use std::time::Duration;

use crmerp_connector::config::Secret;
use crmerp_connector::registry;
use crmerp_service_kit::settings::{HumanDuration, NatsSettings};
use crmerp_service_kit::telemetry::TelemetrySettings;
use crmerp_service_kit::{ConfigError, load_settings};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::Deserialize;

use crate::alerts::settings::AlertSettings;
use crate::auth::{Role, TokenEntry};

const DEFAULTS: &str = include_str!("../defaults.toml");

/// Everything the monitoring service reads from configuration.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Settings {
    /// NATS connection and stream shape.
    pub nats: NatsSettings,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// Service-specific keys.
    pub monitoring: MonitoringSettings,
    /// The CRM, used to read a dead-lettered deal for review.
    #[schemars(schema_with = "registry::crm_selection_schema")]
    pub crm: CrmSelection,
    /// The deal-to-order rules a corrected deal must pass before requeue.
    #[serde(default)]
    pub deal_to_order: DealRules,
}

/// Section `[monitoring]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct MonitoringSettings {
    /// Address of the ops API and console, e.g. `127.0.0.1:8081`.
    pub addr: String,
    /// Postgres URL of the event log.
    #[schemars(with = "Secret")]
    pub database_url: SecretString,
    /// Largest number of pooled database connections.
    pub db_max_connections: u32,
    /// How long a request waits for a database connection before it answers
    /// 503; also the bound of `/readyz`'s Postgres check. Short, so an outage
    /// answers quickly instead of holding clients.
    #[serde(with = "humantime_serde", default = "default_db_acquire_timeout")]
    #[schemars(with = "HumanDuration")]
    pub db_acquire_timeout: Duration,
    /// Messages stored per transaction.
    pub batch_size: usize,
    /// How long a batch waits to fill before it is written.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub batch_wait: Duration,
    /// CRM record link template with `{system}`, `{object_type}` and `{id}`; empty: no links.
    #[serde(default)]
    pub crm_record_url: String,
    /// API tokens by their SHA-256 hash.
    #[serde(default)]
    pub tokens: Vec<TokenSetting>,
    /// Alert rules and channels.
    #[serde(default)]
    pub alerts: AlertSettings,
}

fn default_db_acquire_timeout() -> Duration {
    Duration::from_secs(2)
}

/// One configured API token.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct TokenSetting {
    /// Who holds it (shown in the audit trail).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
}

/// Section `[crm]`: `kind` and the sub-section of that name.
#[derive(Debug, Deserialize)]
pub struct CrmSelection {
    /// Connector name, e.g. `hubspot`.
    pub kind: String,
    /// Every sub-section, by connector name; only the selected one is read.
    #[serde(flatten)]
    pub sections: HashMap<String, serde_json::Value>,
}

impl CrmSelection {
    /// The selected connector's section, if present.
    pub fn selected(&self) -> Option<serde_json::Value> {
        self.sections.get(&self.kind).cloned()
    }
}

/// The part of `[deal_to_order]` monitoring needs.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct DealRules {
    /// Smallest order value deal-to-order accepts.
    #[serde(default)]
    pub min_order_value: Decimal,
    /// Deal-to-order's CRM field maps (`[deal_to_order.crm.<kind>]`), to read
    /// a dead letter's deal as the flow does.
    #[serde(default)]
    #[schemars(schema_with = "registry::deal_to_order_crm_schema")]
    pub crm: Option<serde_json::Value>,
}

impl Settings {
    /// The compiled-in defaults (TOML), the lowest configuration layer.
    pub const DEFAULTS: &str = DEFAULTS;

    /// Loads and validates settings from defaults, `CRMERP_CONFIG` and `CRMERP__*`.
    pub fn load() -> Result<Self, ConfigError> {
        let settings: Self = load_settings(DEFAULTS)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.monitoring.batch_size == 0 {
            return invalid("monitoring.batch_size must be positive".into());
        }
        if self.monitoring.db_max_connections == 0 {
            return invalid("monitoring.db_max_connections must be positive".into());
        }
        if self.monitoring.db_acquire_timeout.is_zero() {
            return invalid("monitoring.db_acquire_timeout must be positive".into());
        }
        if let Err(why) = self.monitoring.alerts.business_hours.schedule() {
            return invalid(format!("monitoring.alerts.business_hours: {why}"));
        }
        for token in &self.monitoring.tokens {
            if TokenEntry::parse(token).is_none() {
                return invalid(format!(
                    "monitoring.tokens: the sha256 of token \"{}\" must be 64 hex characters",
                    token.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_tokens_come_from_one_environment_variable_holding_json() {
        let sha = "a".repeat(64);
        let tokens = format!(r#"[{{"name":"ops","role":"operator","sha256":"{sha}"}}]"#);
        let settings: Settings = crmerp_service_kit::settings::load_settings_from(
            DEFAULTS,
            None,
            [
                (
                    "CRMERP__NATS__URL".to_owned(),
                    "nats://127.0.0.1:4222".to_owned(),
                ),
                ("CRMERP__MONITORING__TOKENS".to_owned(), tokens),
            ],
        )
        .expect("loads");
        settings.validate().expect("valid");
        let [token] = settings.monitoring.tokens.as_slice() else {
            panic!("one token: {:?}", settings.monitoring.tokens);
        };
        assert_eq!(
            (token.name.as_str(), token.role, token.sha256.as_str()),
            ("ops", Role::Operator, sha.as_str())
        );
    }
}

//! Configuration of the Oracle Fusion simulator, with the committed development defaults.

use std::time::Duration;

use crate::config::EventConfig;

/// Integration user accepted with HTTP Basic.
pub const DEV_ORACLE_USER: &str = "crmerp.integration";
/// Its password.
pub const DEV_ORACLE_PASSWORD: &str = "dev-oracle-password";
/// OAuth client (IDCS confidential application).
pub const DEV_ORACLE_CLIENT_ID: &str = "dev-oracle-client";
/// Its secret.
pub const DEV_ORACLE_CLIENT_SECRET: &str = "dev-oracle-client-secret";
/// The selling business unit.
pub const DEV_ORACLE_BUSINESS_UNIT: &str = "Vision Operations";
/// The registered source transaction system.
pub const DEV_ORACLE_SOURCE_SYSTEM: &str = "CRMERP";

/// Configuration of the Oracle Fusion simulator.
#[derive(Debug, Clone)]
pub struct OracleFusionConfig {
    /// Integration user (Basic).
    pub user: String,
    /// Its password.
    pub password: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// Business units orders may be booked in.
    pub business_units: Vec<String>,
    /// Source systems registered for order import.
    pub source_systems: Vec<String>,
    /// Lifetime of issued tokens.
    pub token_ttl: Duration,
    /// Where business-event callbacks go (an event subscription's endpoint).
    pub events: EventConfig,
}

impl Default for OracleFusionConfig {
    fn default() -> Self {
        Self {
            user: DEV_ORACLE_USER.to_owned(),
            password: DEV_ORACLE_PASSWORD.to_owned(),
            client_id: DEV_ORACLE_CLIENT_ID.to_owned(),
            client_secret: DEV_ORACLE_CLIENT_SECRET.to_owned(),
            business_units: vec![DEV_ORACLE_BUSINESS_UNIT.to_owned()],
            source_systems: vec![DEV_ORACLE_SOURCE_SYSTEM.to_owned()],
            token_ttl: Duration::from_secs(3600),
            events: EventConfig::default(),
        }
    }
}

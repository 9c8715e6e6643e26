//! Configuration of the SAP S/4HANA simulator, with the committed development defaults.

use std::time::Duration;

use crate::config::EventConfig;

/// Communication user accepted with HTTP Basic.
pub const DEV_S4_USER: &str = "CRMERP_COMM";
/// Its password.
pub const DEV_S4_PASSWORD: &str = "dev-s4-password";
/// OAuth client accepted by `/sap/bc/sec/oauth2/token`.
pub const DEV_S4_CLIENT_ID: &str = "dev-s4-client";
/// Its secret.
pub const DEV_S4_CLIENT_SECRET: &str = "dev-s4-client-secret";

/// Configuration of the S/4HANA simulator.
#[derive(Debug, Clone)]
pub struct S4HanaConfig {
    /// Communication user (HTTP Basic).
    pub user: String,
    /// Its password.
    pub password: String,
    /// OAuth client id (client credentials).
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// System id and client, as in cookie names (`SAP_SESSIONID_S4H_100`).
    pub system_id: String,
    /// The logon client (`sap-client`).
    pub sap_client: String,
    /// How long a CSRF session lives.
    pub session_ttl: Duration,
    /// Lifetime of issued OAuth tokens.
    pub token_ttl: Duration,
    /// Item price conditions accepted as manual entries.
    pub manual_price_conditions: Vec<String>,
    /// Where Event Mesh delivers the business events (a webhook subscription).
    pub events: EventConfig,
    /// The CloudEvents HTTP binding mode of the deliveries.
    pub cloudevents_mode: CloudEventsMode,
}

/// How a CloudEvent travels over HTTP (CloudEvents HTTP protocol binding 1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloudEventsMode {
    /// The whole event as the body, `Content-Type: application/cloudevents+json`.
    #[default]
    Structured,
    /// The data as the body, the attributes as `ce-*` headers.
    Binary,
}

impl Default for S4HanaConfig {
    fn default() -> Self {
        Self {
            user: DEV_S4_USER.to_owned(),
            password: DEV_S4_PASSWORD.to_owned(),
            client_id: DEV_S4_CLIENT_ID.to_owned(),
            client_secret: DEV_S4_CLIENT_SECRET.to_owned(),
            system_id: "S4H".to_owned(),
            sap_client: "100".to_owned(),
            session_ttl: Duration::from_secs(30 * 60),
            token_ttl: Duration::from_secs(3600),
            manual_price_conditions: vec!["PPR0".to_owned(), "PR00".to_owned()],
            events: EventConfig::default(),
            cloudevents_mode: CloudEventsMode::default(),
        }
    }
}

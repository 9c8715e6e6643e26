//! Configuration of the Business Central simulator, with the committed
//! development defaults.

use std::time::Duration;

use crate::config::RetryPolicy;

/// Entra ID tenant of the sandbox environment.
pub const DEV_BC_TENANT_ID: &str = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";
/// Environment name.
pub const DEV_BC_ENVIRONMENT: &str = "sandbox";
/// App registration (client) id allowed to get tokens.
pub const DEV_BC_CLIENT_ID: &str = "dev-bc-client-id";
/// Its client secret.
pub const DEV_BC_CLIENT_SECRET: &str = "dev-bc-client-secret";
/// The one company (`CRONUS USA, Inc.`).
pub const DEV_BC_COMPANY_ID: &str = "7c5a8b1e-0000-4000-8000-000000000001";

/// Configuration of the Business Central simulator.
#[derive(Debug, Clone)]
pub struct BusinessCentralConfig {
    /// Entra ID tenant id in token and API paths.
    pub tenant_id: String,
    /// Environment name in API paths.
    pub environment: String,
    /// Client id accepted by the token endpoint.
    pub client_id: String,
    /// Client secret accepted by the token endpoint.
    pub client_secret: String,
    /// Id of the one company.
    pub company_id: String,
    /// Its name.
    pub company_name: String,
    /// Local currency reported on orders.
    pub currency_code: String,
    /// Lifetime of issued tokens.
    pub token_ttl: Duration,
    /// Server page size; longer collections carry `@odata.nextLink`.
    pub page_size: usize,
    /// How long changes are gathered before webhook notifications go out (BC
    /// waits about 30 s; the sandbox defaults to much less so flows run fast).
    pub notification_delay: Duration,
    /// More changes than this for one subscription within one delay send one
    /// `collection` notice instead (BC: 1,000).
    pub collection_threshold: usize,
    /// Retry schedule of notifications answered 408, 429, 5xx or not at all
    /// (BC retries for 36 hours).
    pub retry: RetryPolicy,
    /// Timeout of one notification POST.
    pub request_timeout: Duration,
}

impl Default for BusinessCentralConfig {
    fn default() -> Self {
        Self {
            tenant_id: DEV_BC_TENANT_ID.to_owned(),
            environment: DEV_BC_ENVIRONMENT.to_owned(),
            client_id: DEV_BC_CLIENT_ID.to_owned(),
            client_secret: DEV_BC_CLIENT_SECRET.to_owned(),
            company_id: DEV_BC_COMPANY_ID.to_owned(),
            company_name: "CRONUS USA, Inc.".to_owned(),
            currency_code: "USD".to_owned(),
            token_ttl: Duration::from_secs(3599),
            page_size: 20_000,
            notification_delay: Duration::from_millis(500),
            collection_threshold: 1000,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(5),
        }
    }
}

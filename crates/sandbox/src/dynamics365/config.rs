//! Configuration of the Dataverse simulator, with the committed development defaults.

use std::time::Duration;

use crate::config::RetryPolicy;

/// Entra ID tenant of the sandbox environment.
pub const DEV_DYNAMICS_TENANT_ID: &str = "8a6c2f1e-0000-4000-8000-00000000d365";
/// The application (client) id registered as an application user.
pub const DEV_DYNAMICS_CLIENT_ID: &str = "0d365c1e-0000-4000-8000-000000000001";
/// Its client secret.
pub const DEV_DYNAMICS_CLIENT_SECRET: &str = "dev-dynamics-client-secret";
/// The organization id reported in webhooks.
pub const DEV_DYNAMICS_ORG_ID: &str = "0d365000-0000-4000-8000-00000000c0de";
/// The service endpoint's `HttpHeader` key name.
pub const DEV_DYNAMICS_WEBHOOK_HEADER: &str = "x-crmerp-key";
/// The service endpoint's `HttpHeader` key value.
pub const DEV_DYNAMICS_WEBHOOK_SECRET: &str = "dev-dynamics-webhook-key";

/// Configuration of the Dataverse simulator.
#[derive(Debug, Clone)]
pub struct Dynamics365Config {
    /// Tenant in the token path.
    pub tenant_id: String,
    /// Accepted client id.
    pub client_id: String,
    /// Accepted client secret.
    pub client_secret: String,
    /// Organization id.
    pub organization_id: String,
    /// Header name the service endpoint sends.
    pub webhook_header: String,
    /// Header value the service endpoint sends.
    pub webhook_secret: String,
    /// Webhook target; `None` sends nothing.
    pub webhook_url: Option<String>,
    /// Retry schedule of webhook deliveries.
    pub retry: RetryPolicy,
    /// Timeout of one delivery attempt.
    pub request_timeout: Duration,
}

impl Default for Dynamics365Config {
    fn default() -> Self {
        Self {
            tenant_id: DEV_DYNAMICS_TENANT_ID.into(),
            client_id: DEV_DYNAMICS_CLIENT_ID.into(),
            client_secret: DEV_DYNAMICS_CLIENT_SECRET.into(),
            organization_id: DEV_DYNAMICS_ORG_ID.into(),
            webhook_header: DEV_DYNAMICS_WEBHOOK_HEADER.into(),
            webhook_secret: DEV_DYNAMICS_WEBHOOK_SECRET.into(),
            webhook_url: None,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(5),
        }
    }
}

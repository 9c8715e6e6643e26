//! Configuration of the Salesforce simulator, with the committed development defaults.

use std::time::Duration;

use crate::config::RetryPolicy;

/// Connected-app consumer key (`client_id`, the JWT `iss`) accepted by default.
pub const DEV_SALESFORCE_CLIENT_ID: &str = "3MVG9dev.crmerp.sandbox.consumer.key";
/// Connected-app consumer secret accepted by default (client credentials).
pub const DEV_SALESFORCE_CLIENT_SECRET: &str = "dev-sf-consumer-secret";
/// Username the JWT bearer flow may be issued for.
pub const DEV_SALESFORCE_USERNAME: &str = "integration@crmerp.dev";
/// Organization id of the sandbox org.
pub const DEV_SALESFORCE_ORG_ID: &str = "00D5g000000Dev1EAA";
/// Standard Webhooks secret of the simulated Flow callout.
pub const DEV_SALESFORCE_CALLOUT_SECRET: &str =
    "whsec_ZGV2LXNhbGVzZm9yY2UtY2FsbG91dC1zZWNyZXQhISE=";
/// Public key of the development JWT key pair (`config/dev-keys/`), the connected
/// app's "digital certificate".
pub const DEV_SALESFORCE_JWT_PUBLIC_KEY: &str =
    include_str!("../../../../config/dev-keys/salesforce-jwt-dev-public.pem");

/// How won opportunities are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyFormat {
    /// A workflow Outbound Message (SOAP), retried until acknowledged.
    #[default]
    OutboundMessage,
    /// A JSON callout from a record-triggered Flow, signed with Standard Webhooks.
    Callout,
}

/// Configuration of the Salesforce simulator.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// Consumer key of the connected app.
    pub client_id: String,
    /// Consumer secret of the connected app.
    pub client_secret: String,
    /// The pre-authorised user of the JWT bearer flow.
    pub username: String,
    /// PEM public key verifying JWT assertions.
    pub jwt_public_key: String,
    /// The org id (in tokens and Outbound Messages).
    pub organization_id: String,
    /// The callout signing secret.
    pub callout_secret: String,
    /// Lifetime of an issued session.
    pub session_lifetime: Duration,
    /// API requests allowed in the (simulated) 24 hours before 403 `REQUEST_LIMIT_EXCEEDED`.
    pub daily_api_limit: u64,
    /// Records per page of relationship reads before `nextRecordsUrl`.
    pub page_size: usize,
    /// Where won opportunities are announced; `None` announces nothing.
    pub notify_url: Option<String>,
    /// The announcement format.
    pub notify_format: NotifyFormat,
    /// Retry schedule of announcements.
    pub retry: RetryPolicy,
    /// Timeout of one announcement attempt.
    pub request_timeout: Duration,
    /// Host names (the `Host` header without port) this simulator answers as
    /// the generic login endpoints: they grant JWT bearer but refuse client
    /// credentials. Any other host is the org's My Domain. Default
    /// `login.salesforce.com`, `test.salesforce.com` and `localhost`, so a test
    /// reaches the generic mode at `http://localhost:<port>` and My Domain at
    /// `http://127.0.0.1:<port>`.
    pub login_hosts: Vec<String>,
    /// Experience Cloud site URLs accepted as JWT audiences besides the login hosts.
    pub experience_sites: Vec<String>,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        Self {
            client_id: DEV_SALESFORCE_CLIENT_ID.to_owned(),
            client_secret: DEV_SALESFORCE_CLIENT_SECRET.to_owned(),
            username: DEV_SALESFORCE_USERNAME.to_owned(),
            jwt_public_key: DEV_SALESFORCE_JWT_PUBLIC_KEY.to_owned(),
            organization_id: DEV_SALESFORCE_ORG_ID.to_owned(),
            callout_secret: DEV_SALESFORCE_CALLOUT_SECRET.to_owned(),
            session_lifetime: Duration::from_secs(7200),
            daily_api_limit: 1_000_000_000,
            page_size: 200,
            notify_url: None,
            notify_format: NotifyFormat::default(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(5),
            login_hosts: ["login.salesforce.com", "test.salesforce.com", "localhost"]
                .map(str::to_owned)
                .to_vec(),
            experience_sites: Vec::new(),
        }
    }
}

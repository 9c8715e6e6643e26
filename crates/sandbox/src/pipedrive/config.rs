//! Configuration of the Pipedrive simulator, with the committed development defaults.

use std::time::Duration;

use crate::config::RetryPolicy;

/// Personal API token accepted by default.
pub const DEV_PIPEDRIVE_API_TOKEN: &str = "dev-pipedrive-api-token";
/// OAuth app client id.
pub const DEV_PIPEDRIVE_CLIENT_ID: &str = "dev-pipedrive-client-id";
/// OAuth app client secret.
pub const DEV_PIPEDRIVE_CLIENT_SECRET: &str = "dev-pipedrive-client-secret";
/// The installation's refresh token.
pub const DEV_PIPEDRIVE_REFRESH_TOKEN: &str = "dev-pipedrive-refresh-token";
/// Basic-auth user of the webhook.
pub const DEV_PIPEDRIVE_WEBHOOK_USER: &str = "crmerp";
/// Basic-auth password of the webhook.
pub const DEV_PIPEDRIVE_WEBHOOK_PASSWORD: &str = "dev-pipedrive-webhook-password";
/// Deal custom field "ERP order number" (Pipedrive keys custom fields by a 40-character hash).
pub const DEV_PIPEDRIVE_ORDER_FIELD: &str = "5d3c0e2a9f1b4c7d8e6a0b1c2d3e4f5a6b7c8d9e";
/// Deal custom field "ERP sync status".
pub const DEV_PIPEDRIVE_STATUS_FIELD: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";

/// Deal custom field "Fulfilment status".
pub const DEV_PIPEDRIVE_FULFILMENT_STATUS_FIELD: &str = "1f3e5d7c9b0a2f4e6d8c0b1a3f5e7d9c1b3a5f70";
/// Deal custom field "Carrier".
pub const DEV_PIPEDRIVE_CARRIER_FIELD: &str = "2e4d6c8b0a1f3e5d7c9b1a2f4e6d8c0b2a4f6e81";
/// Deal custom field "Tracking number".
pub const DEV_PIPEDRIVE_TRACKING_NUMBER_FIELD: &str = "3d5c7b9a1f2e4d6c8b0a2f3e5d7c9b1a3f5e7d92";
/// Deal custom field "Tracking URL".
pub const DEV_PIPEDRIVE_TRACKING_URL_FIELD: &str = "4c6b8a0f2e3d5c7b9a1f3e4d6c8b0a2f4e6d8ca3";
/// Deal custom field "Delivered on" (a date field).
pub const DEV_PIPEDRIVE_DELIVERED_AT_FIELD: &str = "5b7a9f1e3d4c6b8a0f2e4d5c7b9a1f3e5d7c9eb4";

/// Configuration of the Pipedrive simulator.
#[derive(Debug, Clone)]
pub struct PipedriveConfig {
    /// API token requests may carry (`x-api-token` or `?api_token=`).
    pub api_token: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// The refresh token the OAuth grant accepts.
    pub refresh_token: String,
    /// Company id reported in webhooks.
    pub company_id: u64,
    /// Deal custom-field keys that exist.
    pub deal_custom_fields: Vec<String>,
    /// Requests per 2-second burst window before 429.
    pub burst_limit: u32,
    /// Webhook target; `None` sends nothing.
    pub webhook_url: Option<String>,
    /// Webhook Basic-auth user.
    pub webhook_user: String,
    /// Webhook Basic-auth password.
    pub webhook_password: String,
    /// Retry schedule of webhook deliveries.
    pub retry: RetryPolicy,
    /// Timeout of one delivery attempt.
    pub request_timeout: Duration,
}

impl Default for PipedriveConfig {
    fn default() -> Self {
        Self {
            api_token: DEV_PIPEDRIVE_API_TOKEN.into(),
            client_id: DEV_PIPEDRIVE_CLIENT_ID.into(),
            client_secret: DEV_PIPEDRIVE_CLIENT_SECRET.into(),
            refresh_token: DEV_PIPEDRIVE_REFRESH_TOKEN.into(),
            company_id: 7734,
            deal_custom_fields: vec![
                DEV_PIPEDRIVE_ORDER_FIELD.into(),
                DEV_PIPEDRIVE_STATUS_FIELD.into(),
                DEV_PIPEDRIVE_FULFILMENT_STATUS_FIELD.into(),
                DEV_PIPEDRIVE_CARRIER_FIELD.into(),
                DEV_PIPEDRIVE_TRACKING_NUMBER_FIELD.into(),
                DEV_PIPEDRIVE_TRACKING_URL_FIELD.into(),
                DEV_PIPEDRIVE_DELIVERED_AT_FIELD.into(),
            ],
            burst_limit: 1_000_000,
            webhook_url: None,
            webhook_user: DEV_PIPEDRIVE_WEBHOOK_USER.into(),
            webhook_password: DEV_PIPEDRIVE_WEBHOOK_PASSWORD.into(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(5),
        }
    }
}

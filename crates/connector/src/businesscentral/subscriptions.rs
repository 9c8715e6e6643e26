//! Business Central webhook subscriptions (`/api/v2.0/subscriptions`), laid
//! down for the fulfilment and invoice flows.
//!
//! Creating or renewing a subscription makes BC call the notification URL with
//! `?validationToken=…` and wait for the token echoed back (see
//! [`super::webhook::handshake_response`]); only then does the call succeed.
//! Subscriptions expire after three days, so a keeper calls
//! [`BusinessCentralErp::renew_if_due`] periodically.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::request::Page;
use super::{BusinessCentralErp, SYSTEM};
use crate::endpoint;
use crate::http_client::encode_segment;
use crate::http_kit::Endpoint;
use crate::mapping::invalid;
use crate::{CallLog, ConnectorError};

const ENDPOINT_CREATE: Endpoint = endpoint!(POST "/subscriptions");
const ENDPOINT_LIST: Endpoint = endpoint!(GET "/subscriptions");
const ENDPOINT_RENEW: Endpoint = endpoint!(PATCH "/subscriptions({id})");
const ENDPOINT_DELETE: Endpoint = endpoint!(DELETE "/subscriptions({id})");
/// BC caps `clientState` at 2048 characters.
const MAX_CLIENT_STATE: usize = 2048;
/// Renew this long before expiry by default: a day of slack on a three-day life.
pub const DEFAULT_RENEWAL_MARGIN: Duration = Duration::from_secs(24 * 3600);

/// A webhook subscription as BC returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// BC's id of the subscription.
    pub subscription_id: String,
    /// Where notifications go.
    pub notification_url: String,
    /// The watched resource, e.g. `/api/v2.0/companies(…)/salesOrders`.
    pub resource: String,
    /// When BC drops the subscription unless renewed.
    pub expiration_date_time: DateTime<Utc>,
    /// The entity tag a renewal must send as `If-Match`.
    #[serde(rename = "@odata.etag", default)]
    pub etag: Option<String>,
}

impl Subscription {
    /// True when the subscription expires within `margin` of `now`.
    pub fn needs_renewal(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::MAX);
        self.expiration_date_time - now <= margin
    }
}

impl BusinessCentralErp {
    /// The subscription `resource` of an entity set of the configured company,
    /// e.g. `salesOrders` -> `/api/v2.0/companies(…)/salesOrders`.
    pub fn company_resource(&self, entity_set: &str) -> String {
        format!(
            "/api/v2.0/companies({})/{entity_set}",
            self.config.company_id
        )
    }

    fn subscriptions_url(&self) -> String {
        format!("{}/subscriptions", self.api_root)
    }

    /// Subscribes `notification_url` to changes of `resource`. BC performs the
    /// validation handshake before answering, so the receiver must already be up.
    pub async fn subscribe(
        &self,
        notification_url: &str,
        resource: &str,
        client_state: &SecretString,
        calls: &CallLog,
    ) -> Result<Subscription, ConnectorError> {
        if client_state.expose_secret().chars().count() > MAX_CLIENT_STATE {
            return Err(invalid(
                SYSTEM,
                &ENDPOINT_CREATE,
                format!("clientState is longer than {MAX_CLIENT_STATE} characters"),
            ));
        }
        let body = json!({
            "notificationUrl": notification_url,
            "resource": resource,
            "clientState": client_state.expose_secret(),
        });
        self.call(
            calls,
            &ENDPOINT_CREATE,
            &self.subscriptions_url(),
            Some(&body),
            None,
        )
        .await?
        .json(SYSTEM, &ENDPOINT_CREATE)
    }

    /// Every subscription of this app.
    pub async fn subscriptions(
        &self,
        calls: &CallLog,
    ) -> Result<Vec<Subscription>, ConnectorError> {
        let page: Page<Subscription> = self
            .call(calls, &ENDPOINT_LIST, &self.subscriptions_url(), None, None)
            .await?
            .json(SYSTEM, &ENDPOINT_LIST)?;
        Ok(page.value)
    }

    /// Renews (PATCH with `If-Match`), which repeats the handshake and moves the
    /// expiry three days ahead.
    pub async fn renew(
        &self,
        subscription: &Subscription,
        client_state: &SecretString,
        calls: &CallLog,
    ) -> Result<Subscription, ConnectorError> {
        let body = json!({
            "notificationUrl": subscription.notification_url,
            "resource": subscription.resource,
            "clientState": client_state.expose_secret(),
        });
        self.call(
            calls,
            &ENDPOINT_RENEW,
            &self.subscription_url(subscription),
            Some(&body),
            Some(subscription.etag.as_deref().unwrap_or("*")),
        )
        .await?
        .json(SYSTEM, &ENDPOINT_RENEW)
    }

    /// Renews when the subscription is within `margin` of expiring; returns the
    /// current subscription either way.
    pub async fn renew_if_due(
        &self,
        subscription: Subscription,
        client_state: &SecretString,
        margin: Duration,
        calls: &CallLog,
    ) -> Result<Subscription, ConnectorError> {
        if subscription.needs_renewal(Utc::now(), margin) {
            self.renew(&subscription, client_state, calls).await
        } else {
            Ok(subscription)
        }
    }

    /// Deletes a subscription.
    pub async fn unsubscribe(
        &self,
        subscription: &Subscription,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        self.call(
            calls,
            &ENDPOINT_DELETE,
            &self.subscription_url(subscription),
            None,
            Some(subscription.etag.as_deref().unwrap_or("*")),
        )
        .await
        .map(drop)
    }

    fn subscription_url(&self, subscription: &Subscription) -> String {
        format!(
            "{}('{}')",
            self.subscriptions_url(),
            encode_segment(&subscription.subscription_id)
        )
    }
}

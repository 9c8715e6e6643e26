//! Microsoft Dynamics 365 Business Central API v2.0 with Entra ID client
//! credentials, as an ERP providing [`CustomerMaster`] and [`OrderSink`].
//!
//! Customers are keyed by a customer number derived from the CRM account
//! reference; orders carry the CRM deal reference in `externalDocumentNumber`
//! and are created with their lines in one deep insert (or, with
//! `lines = "follow_up"`, header first and then one POST per line). The webhook
//! subscription mechanism for later flows lives in [`subscriptions`] and
//! [`webhook`].

mod config;
mod errors;
mod payload;
mod request;
mod status;
pub mod subscriptions;
pub mod webhook;

use async_trait::async_trait;
use chrono::Utc;
use crmerp_proto::{Account, RecordRef, SalesOrder};
use serde::Deserialize;
use serde_json::Value;

pub use config::{BusinessCentralConfig, DEFAULT_SCOPE, LinesMode, OAuthSettings};

use self::request::query;
use crate::config::ConfigError;
use crate::endpoint;
use crate::http_kit::{Endpoint, HeaderAuth, VendorClient};
use crate::mapping::{account_name, account_ref, missing, odata_string};
use crate::oauth2::TokenCache;
use crate::ports::{Capabilities, CustomerMaster, OrderRequest, OrderSink, Role, System};
use crate::{CallLog, ConnectorError, ErrorCategory};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "businesscentral";

const ENDPOINT_FIND_CUSTOMER: Endpoint = endpoint!(GET "/companies({id})/customers?$filter=number");
const ENDPOINT_CREATE_CUSTOMER: Endpoint = endpoint!(POST "/companies({id})/customers");
const ENDPOINT_FIND_ORDER: Endpoint =
    endpoint!(GET "/companies({id})/salesOrders?$filter=externalDocumentNumber");
const ENDPOINT_FIND_INVOICE: Endpoint =
    endpoint!(GET "/companies({id})/salesInvoices?$filter=externalDocumentNumber");
const ENDPOINT_CREATE_ORDER: Endpoint = endpoint!(POST "/companies({id})/salesOrders");
const ENDPOINT_CREATE_LINE: Endpoint =
    endpoint!(POST "/companies({id})/salesOrders({id})/salesOrderLines");
const ENDPOINT_DELETE_ORDER: Endpoint = endpoint!(DELETE "/companies({id})/salesOrders({id})");
const ENDPOINT_PROBE: Endpoint = endpoint!(GET "/companies({id})");

/// The Business Central connector. Share one value behind an `Arc`: it holds the token cache.
#[derive(Debug)]
pub struct BusinessCentralErp {
    config: BusinessCentralConfig,
    api_root: String,
    http: VendorClient<HeaderAuth>,
}

#[derive(Debug, Deserialize)]
struct Customer {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    id: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(rename = "@odata.etag", default)]
    etag: Option<String>,
}

/// A posted invoice made from an order that BC has shipped and invoiced in full
/// (the order itself is then deleted).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invoice {
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    customer_id: Option<String>,
}

impl BusinessCentralErp {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(
        config: BusinessCentralConfig,
        client: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            api_root: config.api_root(),
            http: VendorClient::new(
                SYSTEM,
                client.clone(),
                HeaderAuth::Bearer(TokenCache::client_credentials(
                    SYSTEM,
                    config.oauth_config(),
                    client,
                )),
                errors::classify,
            ),
            config,
        })
    }

    /// The validated settings.
    pub fn config(&self) -> &BusinessCentralConfig {
        &self.config
    }

    fn order(
        &self,
        external_ref: &str,
        id: &str,
        number: String,
        customer: Option<String>,
    ) -> SalesOrder {
        SalesOrder {
            r#ref: Some(record_ref("salesOrder", id)),
            order_number: number,
            external_ref: external_ref.to_owned(),
            customer: customer.map(|c| record_ref("customer", &c)),
            created: false,
            ..SalesOrder::default()
        }
    }

    /// Creates the lines one by one; on failure the header is deleted so the retry
    /// does not find a half-filled order and take it for done.
    async fn add_lines(
        &self,
        order: &Order,
        lines: Vec<Value>,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        let url = self.company_url(&format!("/salesOrders({})/salesOrderLines", order.id));
        for line in &lines {
            if let Err(err) = self
                .call(calls, &ENDPOINT_CREATE_LINE, &url, Some(line), None)
                .await
            {
                let url = self.company_url(&format!("/salesOrders({})", order.id));
                let etag = order.etag.as_deref().unwrap_or("*");
                if let Err(cleanup) = self
                    .call(calls, &ENDPOINT_DELETE_ORDER, &url, None, Some(etag))
                    .await
                {
                    tracing::warn!(order = %order.number, error = %cleanup, "Failed to delete a half-created order.");
                }
                return Err(err);
            }
        }
        Ok(())
    }
}

fn record_ref(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    }
}

impl BusinessCentralErp {
    /// The ports this ERP provides, for the registry.
    pub fn capabilities(self: std::sync::Arc<Self>) -> Capabilities {
        Capabilities::new(Role::Erp, self.clone())
            .with_customer_master(self.clone())
            .with_order_sink(self.clone())
            .with_order_status_source(self)
    }
}

#[async_trait]
impl System for BusinessCentralErp {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        let url = self.company_url("?$select=id");
        self.call(&CallLog::new(), &ENDPOINT_PROBE, &url, None, None)
            .await
            .map(drop)
    }
}

#[async_trait]
impl CustomerMaster for BusinessCentralErp {
    async fn find_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<Option<RecordRef>, ConnectorError> {
        let crm = account_ref(SYSTEM, account, &ENDPOINT_FIND_CUSTOMER)?;
        let number = payload::customer_number(&self.config.customer_number_prefix, crm);
        let url = self.company_url(&format!(
            "/customers{}",
            query(&[
                ("$filter", &format!("number eq {}", odata_string(&number))),
                ("$select", "id,number"),
            ])
        ));
        let found: Option<Customer> = self.first(calls, &ENDPOINT_FIND_CUSTOMER, &url).await?;
        Ok(found.map(|c| record_ref("customer", &c.id)))
    }

    async fn create_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        let crm = account_ref(SYSTEM, account, &ENDPOINT_CREATE_CUSTOMER)?;
        let name = account_name(SYSTEM, account, &ENDPOINT_CREATE_CUSTOMER)?;
        let number = payload::customer_number(&self.config.customer_number_prefix, crm);
        let body = payload::customer_body(account, &number, name);
        let url = self.company_url("/customers");
        match self
            .call(calls, &ENDPOINT_CREATE_CUSTOMER, &url, Some(&body), None)
            .await
        {
            Ok(response) => {
                let customer: Customer = response.json(SYSTEM, &ENDPOINT_CREATE_CUSTOMER)?;
                Ok(record_ref("customer", &customer.id))
            }
            // A concurrent create won the race: use its record.
            Err(err) if err.category == ErrorCategory::Duplicate => {
                self.find_customer(account, calls).await?.ok_or(err)
            }
            Err(err) => Err(err),
        }
    }
}

#[async_trait]
impl OrderSink for BusinessCentralErp {
    async fn find_order(
        &self,
        external_ref: &str,
        calls: &CallLog,
    ) -> Result<Option<SalesOrder>, ConnectorError> {
        let number = payload::external_document_number(external_ref, &ENDPOINT_FIND_ORDER)?;
        let filter = format!("externalDocumentNumber eq {}", odata_string(&number));
        let url = self.company_url(&format!(
            "/salesOrders{}",
            query(&[("$filter", &filter), ("$select", "id,number,customerId")])
        ));
        if let Some(order) = self
            .first::<Order>(calls, &ENDPOINT_FIND_ORDER, &url)
            .await?
        {
            return Ok(Some(self.order(
                external_ref,
                &order.id,
                order.number,
                order.customer_id,
            )));
        }
        // A fully shipped and invoiced order no longer exists as an order; its
        // posted invoice keeps the reference, so a late redelivery still finds it.
        let url = self.company_url(&format!(
            "/salesInvoices{}",
            query(&[
                ("$filter", &filter),
                ("$select", "id,orderId,orderNumber,customerId")
            ])
        ));
        let invoice: Option<Invoice> = self.first(calls, &ENDPOINT_FIND_INVOICE, &url).await?;
        Ok(invoice.filter(|i| !i.order_number.is_empty()).map(|i| {
            let id = i.order_id.unwrap_or_default();
            self.order(external_ref, &id, i.order_number, i.customer_id)
        }))
    }

    async fn create_order(
        &self,
        request: &OrderRequest<'_>,
        calls: &CallLog,
    ) -> Result<SalesOrder, ConnectorError> {
        let endpoint = &ENDPOINT_CREATE_ORDER;
        let number = payload::external_document_number(request.external_ref, endpoint)?;
        let customer_id = config::uuid_like(&request.customer.id).ok_or_else(|| {
            crate::mapping::invalid(
                SYSTEM,
                endpoint,
                format!(
                    "invalid Business Central customer id {:?}",
                    request.customer.id
                ),
            )
            .with_resolution("fix_erp_reference")
        })?;
        let deal = request.deal;
        if deal.line_items.is_empty() {
            return Err(missing(
                SYSTEM,
                endpoint,
                "line_items",
                "the deal has no line items",
            ));
        }
        let lines = payload::order_lines(deal, endpoint)?;
        let today = Utc::now().date_naive();
        let (body, follow_up) = match self.config.lines {
            LinesMode::DeepInsert => (
                payload::order_body(deal, customer_id, &number, today, Some(lines)),
                None,
            ),
            LinesMode::FollowUp => (
                payload::order_body(deal, customer_id, &number, today, None),
                Some(lines),
            ),
        };
        let url = self.company_url("/salesOrders");
        let created: Order = match self.call(calls, endpoint, &url, Some(&body), None).await {
            Ok(response) => response.json(SYSTEM, endpoint)?,
            Err(err) if err.category == ErrorCategory::Duplicate => {
                return self
                    .find_order(request.external_ref, calls)
                    .await?
                    .ok_or(err);
            }
            Err(err) => return Err(err),
        };
        if let Some(lines) = follow_up {
            self.add_lines(&created, lines, calls).await?;
        }
        Ok(SalesOrder {
            r#ref: Some(record_ref("salesOrder", &created.id)),
            order_number: created.number,
            external_ref: request.external_ref.to_owned(),
            customer: Some(request.customer.clone()),
            lines: deal.line_items.clone(),
            ship_to: deal.shipping_address.clone(),
            created: true,
        })
    }
}

#[cfg(test)]
mod tests;

//! SAP S/4HANA over OData V2 (`API_SALES_ORDER_SRV`, `API_BUSINESS_PARTNER`) as
//! an ERP providing [`CustomerMaster`] and [`OrderSink`].
//!
//! Customers are business partners keyed by `BusinessPartnerIDByExtSystem`
//! (the CRM account key); orders are one `A_SalesOrder` deep insert with
//! `to_Item` (each item's negotiated price as a manual price condition in
//! `to_PricingElement`) and `to_Partner` (the ship-to, partner function `WE`,
//! with the deal's shipping address), carrying the CRM deal reference in
//! `PurchaseOrderByCustomer` (or the configured field). Modifying calls follow
//! SAP's CSRF protocol.
//!
//! Why OData and not the BAPI over RFC: `BAPI_SALESORDER_CREATEFROMDAT2` is
//! reachable only through SAP's proprietary RFC SDK (NW RFC SDK), which cannot
//! be redistributed or built on a clean machine, and needs an explicit
//! `BAPI_TRANSACTION_COMMIT` in the same session. `API_SALES_ORDER_SRV` is SAP's
//! released, documented HTTP interface over the same sales document logic
//! (pricing, availability, partner determination and checks run as they do
//! for the BAPI and VA01), commits per request, and works on S/4HANA Cloud,
//! where RFC is not offered to integrations at all.

mod config;
mod errors;
mod fulfilment;
mod payload;
mod request;
mod status;

use async_trait::async_trait;
use crmerp_proto::{Account, RecordRef, SalesOrder};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub(crate) use config::MOVED;
pub use config::{DealToOrderFields, Pricing, REFERENCE_FIELDS, S4HanaConfig, ShipToAddress};
pub use fulfilment::FulfilmentFields;

use self::request::CsrfAuth;
use crate::config::ConfigError;
use crate::endpoint;
use crate::http_client::protocol_error;
use crate::http_kit::{Endpoint, VendorClient};
use crate::mapping::{account_name, account_ref, missing, odata_string, short_key};
use crate::ports::{Capabilities, CustomerMaster, OrderRequest, OrderSink, Role, System};
use crate::{CallLog, ConnectorError};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "s4hana";

/// The sales order service.
pub const SALES_ORDER_SERVICE: &str = "API_SALES_ORDER_SRV";
/// The business partner service.
pub const BUSINESS_PARTNER_SERVICE: &str = "API_BUSINESS_PARTNER";

const ENDPOINT_FIND_CUSTOMER: Endpoint =
    endpoint!(GET "API_BUSINESS_PARTNER/A_BusinessPartner?$filter=BusinessPartnerIDByExtSystem");
const ENDPOINT_CREATE_CUSTOMER: Endpoint = endpoint!(POST "API_BUSINESS_PARTNER/A_BusinessPartner");
const ENDPOINT_FIND_ORDER: Endpoint =
    endpoint!(GET "API_SALES_ORDER_SRV/A_SalesOrder?$filter={reference}");
const ENDPOINT_CREATE_ORDER: Endpoint = endpoint!(POST "API_SALES_ORDER_SRV/A_SalesOrder");
const ENDPOINT_PROBE: Endpoint = endpoint!(GET "API_SALES_ORDER_SRV/A_SalesOrder?$top=1");

/// The S/4HANA connector. Share one value behind an `Arc`: it holds the token and CSRF caches.
#[derive(Debug)]
pub struct S4HanaErp {
    config: S4HanaConfig,
    http: VendorClient<CsrfAuth>,
}

/// V2 JSON: `{"d": …}`.
#[derive(Debug, Deserialize)]
struct D<T> {
    d: T,
}

/// V2 collection: `{"d": {"results": […]}}`.
#[derive(Debug, Deserialize)]
struct Results<T> {
    results: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BusinessPartner {
    business_partner: String,
    #[serde(default)]
    customer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Order {
    sales_order: String,
    #[serde(default)]
    sold_to_party: Option<String>,
}

impl S4HanaErp {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(config: S4HanaConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            http: VendorClient::new(
                SYSTEM,
                client.clone(),
                CsrfAuth::new(
                    config.auth.authenticator(SYSTEM, client.clone())?,
                    config.clone(),
                    client,
                ),
                errors::classify,
            ),
            config,
        })
    }

    /// The validated settings.
    pub fn config(&self) -> &S4HanaConfig {
        &self.config
    }

    async fn get<T: DeserializeOwned>(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        url: &str,
    ) -> Result<T, ConnectorError> {
        let D { d } = self
            .call(calls, endpoint, url, None)
            .await?
            .json::<D<T>>(SYSTEM, endpoint)?;
        Ok(d)
    }

    fn customer_key(&self, account: &Account, endpoint: &str) -> Result<String, ConnectorError> {
        let crm = account_ref(SYSTEM, account, endpoint)?;
        Ok(short_key(
            &self.config.customer_key_prefix,
            crm,
            payload::MAX_BP_KEY,
        ))
    }
}

fn record_ref(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    }
}

/// The sold-to party: the customer number, which equals the partner number
/// unless the customer number range differs.
fn sold_to(bp: BusinessPartner) -> RecordRef {
    let id = bp
        .customer
        .filter(|c| !c.is_empty())
        .unwrap_or(bp.business_partner);
    record_ref("customer", &id)
}

impl S4HanaErp {
    /// The ports this ERP provides, for the registry.
    pub fn capabilities(self: std::sync::Arc<Self>) -> Capabilities {
        Capabilities::new(Role::Erp, self.clone())
            .with_customer_master(self.clone())
            .with_order_sink(self.clone())
            .with_order_status_source(self)
    }
}

#[async_trait]
impl System for S4HanaErp {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        let url = self.url(
            SALES_ORDER_SERVICE,
            "/A_SalesOrder",
            &[("$top", "1"), ("$select", "SalesOrder")],
        );
        self.call(&CallLog::new(), &ENDPOINT_PROBE, &url, None)
            .await
            .map(drop)
    }
}

#[async_trait]
impl CustomerMaster for S4HanaErp {
    async fn find_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<Option<RecordRef>, ConnectorError> {
        let key = self.customer_key(account, &ENDPOINT_FIND_CUSTOMER)?;
        let filter = format!("BusinessPartnerIDByExtSystem eq {}", odata_string(&key));
        let url = self.url(
            BUSINESS_PARTNER_SERVICE,
            "/A_BusinessPartner",
            &[
                ("$filter", &filter),
                ("$select", "BusinessPartner,Customer"),
                ("$top", "1"),
            ],
        );
        let found: Results<BusinessPartner> =
            self.get(calls, &ENDPOINT_FIND_CUSTOMER, &url).await?;
        Ok(found.results.into_iter().next().map(sold_to))
    }

    async fn create_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        let key = self.customer_key(account, &ENDPOINT_CREATE_CUSTOMER)?;
        let name = account_name(SYSTEM, account, &ENDPOINT_CREATE_CUSTOMER)?;
        let body = payload::business_partner_body(&self.config.deal_to_order, account, &key, name);
        let url = self.url(BUSINESS_PARTNER_SERVICE, "/A_BusinessPartner", &[]);
        let D { d } = self
            .call(calls, &ENDPOINT_CREATE_CUSTOMER, &url, Some(&body))
            .await?
            .json::<D<BusinessPartner>>(SYSTEM, &ENDPOINT_CREATE_CUSTOMER)?;
        Ok(sold_to(d))
    }
}

#[async_trait]
impl OrderSink for S4HanaErp {
    async fn find_order(
        &self,
        external_ref: &str,
        calls: &CallLog,
    ) -> Result<Option<SalesOrder>, ConnectorError> {
        let reference = payload::reference(
            &self.config.deal_to_order,
            external_ref,
            &ENDPOINT_FIND_ORDER,
        )?;
        let filter = format!(
            "{} eq {}",
            self.config.deal_to_order.reference_field,
            odata_string(&reference)
        );
        let url = self.url(
            SALES_ORDER_SERVICE,
            "/A_SalesOrder",
            &[
                ("$filter", &filter),
                ("$select", "SalesOrder,SoldToParty"),
                ("$top", "1"),
            ],
        );
        let found: Results<Order> = self.get(calls, &ENDPOINT_FIND_ORDER, &url).await?;
        Ok(found.results.into_iter().next().map(|order| SalesOrder {
            r#ref: Some(record_ref("salesOrder", &order.sales_order)),
            order_number: order.sales_order,
            external_ref: external_ref.to_owned(),
            customer: order
                .sold_to_party
                .filter(|c| !c.is_empty())
                .map(|c| record_ref("customer", &c)),
            created: false,
            ..SalesOrder::default()
        }))
    }

    async fn create_order(
        &self,
        request: &OrderRequest<'_>,
        calls: &CallLog,
    ) -> Result<SalesOrder, ConnectorError> {
        let endpoint = &ENDPOINT_CREATE_ORDER;
        let reference =
            payload::reference(&self.config.deal_to_order, request.external_ref, endpoint)?;
        let deal = request.deal;
        if deal.line_items.is_empty() {
            return Err(missing(
                SYSTEM,
                endpoint,
                "line_items",
                "the deal has no line items",
            ));
        }
        let sold_to = request.customer.id.trim();
        if sold_to.is_empty() || sold_to.len() > 10 {
            return Err(protocol_error(
                SYSTEM,
                endpoint,
                format!("invalid SAP customer number {sold_to:?}"),
            )
            .with_resolution("fix_erp_reference"));
        }
        let body = payload::sales_order_body(
            &self.config.deal_to_order,
            deal,
            sold_to,
            &reference,
            endpoint,
        )?;
        let url = self.url(SALES_ORDER_SERVICE, "/A_SalesOrder", &[]);
        let D { d } = self
            .call(calls, endpoint, &url, Some(&body))
            .await?
            .json::<D<Order>>(SYSTEM, endpoint)?;
        Ok(SalesOrder {
            r#ref: Some(record_ref("salesOrder", &d.sales_order)),
            order_number: d.sales_order,
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

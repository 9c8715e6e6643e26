//! Tryton (the open-source ERP, 8.x) over JSON-RPC with a real session, as an
//! an ERP providing [`CustomerMaster`], [`OrderSink`] and, read by polling
//! (Tryton has no webhooks), [`OrderStatusSource`](crate::ports::OrderStatusSource)
//! ([`status`]).
//!
//! Customers are `party.party` records keyed by the CRM account reference (in
//! the party `code` or an identifier); orders are `sale.sale` records whose
//! `reference` is the deal's external reference; a SKU is a `product.product`
//! code. New sales are quoted and confirmed as configured.

mod config;
mod fulfilment;
mod lookup;
mod payload;
mod rpc;
pub mod status;
pub mod wire;

use async_trait::async_trait;
use crmerp_proto::{Account, RecordRef, SalesOrder};
use serde_json::{Value, json};

pub(crate) use config::MOVED;
pub use config::{CustomerKey, DealToOrderFields, TrytonConfig, Workflow};
pub use fulfilment::FulfilmentFields;

use self::lookup::{CodeCache, first_id, record_id};
use self::payload::SaleHeader;
use self::rpc::{RpcClient, endpoint};
use crate::config::ConfigError;
use crate::mapping::{self, account_key, account_name, account_ref};
use crate::ports::{Capabilities, CustomerMaster, OrderRequest, OrderSink, Role, System};
use crate::{CallLog, ConnectorError, ErrorCategory};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "tryton";

const PARTY: &str = "party.party";
const SALE: &str = "sale.sale";
const ORDER_FIELDS: &[&str] = &["number", "state", "party", "reference"];

/// The Tryton connector. Share one value behind an `Arc`: it holds the session.
#[derive(Debug)]
pub struct TrytonErp {
    config: TrytonConfig,
    rpc: RpcClient,
    codes: CodeCache,
}

impl TrytonErp {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(config: TrytonConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            rpc: RpcClient::new(
                config.rpc_url(),
                config.username.clone(),
                config.password.clone(),
                config.language.clone(),
                client,
            ),
            codes: CodeCache::default(),
            config,
        })
    }

    /// The validated settings.
    pub fn config(&self) -> &TrytonConfig {
        &self.config
    }

    /// Runs the workflow button `button` (`quote`, `confirm`) on a sale.
    async fn button(&self, calls: &CallLog, button: &str, id: i64) -> Result<(), ConnectorError> {
        let method = format!("model.{SALE}.{button}");
        self.rpc.call(calls, &method, vec![json!([id])]).await?;
        Ok(())
    }

    /// Takes a sale as far as the configured workflow: a retry after a failed
    /// quote or confirm finishes the job instead of leaving a draft behind.
    async fn advance(&self, calls: &CallLog, sale: &Value) -> Result<bool, ConnectorError> {
        let id = record_id(sale, "model.sale.sale.search_read")?;
        let state = sale.get("state").and_then(Value::as_str).unwrap_or("");
        let mut moved = false;
        if state == "draft" && self.config.deal_to_order.workflow >= Workflow::Quote {
            self.button(calls, "quote", id).await?;
            moved = true;
        }
        if matches!(state, "draft" | "quotation")
            && self.config.deal_to_order.workflow >= Workflow::Confirm
        {
            self.button(calls, "confirm", id).await?;
            moved = true;
        }
        Ok(moved)
    }

    /// Every sale carrying `external_ref`, oldest first.
    async fn sales_by_reference(
        &self,
        calls: &CallLog,
        external_ref: &str,
    ) -> Result<Vec<Value>, ConnectorError> {
        self.search_read(
            calls,
            SALE,
            json!([["reference", "=", external_ref]]),
            Some(10),
            ORDER_FIELDS,
        )
        .await
    }

    async fn read_sale(&self, calls: &CallLog, id: i64) -> Result<Value, ConnectorError> {
        self.search_read(calls, SALE, json!([["id", "=", id]]), Some(1), ORDER_FIELDS)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                ConnectorError::new(
                    crate::ErrorKind::Transient,
                    ErrorCategory::NotFound,
                    SYSTEM,
                    endpoint("model.sale.sale.search_read"),
                    format!("sale {id} vanished right after it was written"),
                )
            })
    }
}

fn record_ref(object_type: &str, id: i64) -> RecordRef {
    RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_string(),
    }
}

/// A sale as a canonical order. A draft has no number yet: its id stands in.
fn sales_order(
    sale: &Value,
    external_ref: &str,
    created: bool,
) -> Result<SalesOrder, ConnectorError> {
    let id = record_id(sale, "model.sale.sale.search_read")?;
    let number = sale
        .get("number")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map_or_else(|| id.to_string(), str::to_owned);
    Ok(SalesOrder {
        r#ref: Some(record_ref(SALE, id)),
        order_number: number,
        external_ref: external_ref.to_owned(),
        customer: sale
            .get("party")
            .and_then(Value::as_i64)
            .map(|party| record_ref(PARTY, party)),
        created,
        ..SalesOrder::default()
    })
}

/// A customer reference from the flow: our own `party.party` id.
fn party_id(customer: &RecordRef, endpoint: &str) -> Result<i64, ConnectorError> {
    customer.id.parse::<i64>().map_err(|_| {
        mapping::invalid(
            SYSTEM,
            endpoint,
            format!("invalid Tryton party id {:?}", customer.id),
        )
        .with_resolution("fix_erp_reference")
    })
}

impl TrytonErp {
    /// The ports this ERP provides, for the registry.
    pub fn capabilities(self: std::sync::Arc<Self>) -> Capabilities {
        Capabilities::new(Role::Erp, self.clone())
            .with_customer_master(self.clone())
            .with_order_sink(self.clone())
            .with_order_status_source(self)
    }
}

#[async_trait]
impl System for TrytonErp {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        self.rpc
            .call(
                &CallLog::new(),
                "model.party.party.search",
                vec![json!([]), json!(0), json!(1), Value::Null],
            )
            .await
            .map(drop)
    }
}

#[async_trait]
impl CustomerMaster for TrytonErp {
    async fn find_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<Option<RecordRef>, ConnectorError> {
        let key = account_key(account_ref(
            SYSTEM,
            account,
            &endpoint("model.party.party.search_read"),
        )?);
        let domain = payload::party_domain(self.config.customer_key, &key);
        let found = self
            .search_read(calls, PARTY, domain, Some(1), &["id"])
            .await?;
        found
            .first()
            .map(|party| {
                record_id(party, "model.party.party.search_read").map(|id| record_ref(PARTY, id))
            })
            .transpose()
    }

    async fn create_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        const METHOD: &str = "model.party.party.create";
        let label = endpoint(METHOD);
        let key = account_key(account_ref(SYSTEM, account, &label)?);
        let name = account_name(SYSTEM, account, &label)?;
        let source = [
            account.billing_address.as_ref(),
            account.shipping_address.as_ref(),
        ]
        .into_iter()
        .find(|a| payload::has_address(*a))
        .flatten();
        let address = match source {
            Some(address) => {
                let country = match address.country_code.trim() {
                    "" => None,
                    code => self.id_by_code(calls, "country.country", code).await?,
                };
                Some(payload::address_values(address, country))
            }
            None => None,
        };
        let values = payload::party_values(account, name, self.config.customer_key, &key, address);
        match self.rpc.call(calls, METHOD, vec![json!([values])]).await {
            Ok(ids) => Ok(record_ref(PARTY, first_id(&ids, METHOD)?)),
            // A concurrent create won the race on the unique party code: use its record.
            Err(err) if err.category == ErrorCategory::Duplicate => {
                self.find_customer(account, calls).await?.ok_or(err)
            }
            Err(err) => Err(err),
        }
    }
}

#[async_trait]
impl OrderSink for TrytonErp {
    async fn find_order(
        &self,
        external_ref: &str,
        calls: &CallLog,
    ) -> Result<Option<SalesOrder>, ConnectorError> {
        let Some(sale) = self
            .sales_by_reference(calls, external_ref)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let sale = if self.advance(calls, &sale).await? {
            self.read_sale(calls, record_id(&sale, "model.sale.sale.search_read")?)
                .await?
        } else {
            sale
        };
        sales_order(&sale, external_ref, false).map(Some)
    }

    async fn create_order(
        &self,
        request: &OrderRequest<'_>,
        calls: &CallLog,
    ) -> Result<SalesOrder, ConnectorError> {
        const METHOD: &str = "model.sale.sale.create";
        let label = endpoint(METHOD);
        let deal = request.deal;
        let party = party_id(request.customer, &label)?;
        if deal.line_items.is_empty() {
            return Err(mapping::missing(
                SYSTEM,
                &label,
                "line_items",
                "the deal has no line items",
            ));
        }
        let lines = self.sale_lines(deal, calls, &label).await?;
        let currency_code = deal
            .line_items
            .iter()
            .filter_map(|l| l.unit_price.as_ref())
            .chain(deal.amount.as_ref())
            .map(|m| m.currency_code.trim())
            .find(|c| !c.is_empty());
        let currency = match currency_code {
            Some(code) => Some(
                self.id_by_code(calls, "currency.currency", code)
                    .await?
                    .ok_or_else(|| {
                        mapping::invalid(SYSTEM, &label, format!("Tryton has no currency {code}"))
                            .with_resolution(format!("add_currency_in_erp:{code}"))
                    })?,
            ),
            None => None,
        };
        // RPC create runs no on_change: both addresses must be given explicitly.
        let existing = self.addresses(calls, party).await?;
        let shipping = deal
            .shipping_address
            .as_ref()
            .filter(|a| payload::has_address(Some(*a)));
        let shipment_address = match shipping {
            Some(address) => Some(
                self.ensure_address(calls, party, &existing, address)
                    .await?,
            ),
            None => None,
        };
        let invoice_address = match (existing.first(), shipment_address) {
            (Some(first), _) => record_id(first, "model.party.address.search_read")?,
            (None, Some(shipment)) => shipment,
            (None, None) => {
                return Err(mapping::missing(
                    SYSTEM,
                    &label,
                    "shipping_address",
                    "neither the deal nor the customer has an address",
                ));
            }
        };
        let header = SaleHeader {
            party,
            invoice_address,
            shipment_address: shipment_address.unwrap_or(invoice_address),
            currency,
            external_ref: request.external_ref,
            sale_date: deal
                .closed_at
                .as_ref()
                .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
                .map(|t| t.date_naive()),
        };
        let values = payload::sale_values(deal, &header, &lines, &label)?;
        let id = first_id(
            &self.rpc.call(calls, METHOD, vec![json!([values])]).await?,
            METHOD,
        )?;
        // `reference` is not unique in Tryton: if a concurrent attempt also
        // created one, the oldest wins and ours (still a draft) is deleted.
        let same = self.sales_by_reference(calls, request.external_ref).await?;
        if let Some(oldest) = same.first()
            && record_id(oldest, "model.sale.sale.search_read")? != id
        {
            tracing::warn!(
                external_ref = request.external_ref,
                "Concurrent sale for one deal; keeping the oldest."
            );
            self.rpc
                .call(calls, "model.sale.sale.delete", vec![json!([id])])
                .await?;
            return self
                .find_order(request.external_ref, calls)
                .await?
                .ok_or_else(|| {
                    mapping::invalid(SYSTEM, &label, "the winning concurrent sale disappeared")
                });
        }
        let draft = json!({ "id": id, "state": "draft" });
        self.advance(calls, &draft).await?;
        let sale = self.read_sale(calls, id).await?;
        let mut order = sales_order(&sale, request.external_ref, true)?;
        order.customer = Some(request.customer.clone());
        order.lines = deal.line_items.clone();
        order.ship_to = deal.shipping_address.clone();
        Ok(order)
    }
}

#[cfg(test)]
mod tests;

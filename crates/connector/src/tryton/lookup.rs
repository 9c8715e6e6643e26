//! Look-ups of Tryton records an order refers to: products by code (the SKU),
//! currencies and countries by ISO code, and the party's addresses.

use std::collections::HashMap;
use std::sync::Mutex;

use crmerp_proto::Address;
use serde_json::{Value, json};

use super::payload::{self, SaleLine};
use super::rpc::endpoint;
use super::{SYSTEM, TrytonErp};
use crate::mapping::{self, invalid};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// ISO code -> record id, for currencies and countries (they rarely change).
#[derive(Debug, Default)]
pub(crate) struct CodeCache {
    ids: Mutex<HashMap<(&'static str, String), i64>>,
}

impl CodeCache {
    fn get(&self, model: &'static str, code: &str) -> Option<i64> {
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.get(&(model, code.to_owned())).copied()
    }

    fn insert(&self, model: &'static str, code: &str, id: i64) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.insert((model, code.to_owned()), id);
    }
}

/// The `id` of a record read by `search_read`.
pub(crate) fn record_id(record: &Value, method: &str) -> Result<i64, ConnectorError> {
    record.get("id").and_then(Value::as_i64).ok_or_else(|| {
        crate::http_client::protocol_error(SYSTEM, &endpoint(method), "a record without an id")
    })
}

/// The id of a Many2One value read as a plain field.
fn many2one(record: &Value, field: &str) -> Option<i64> {
    record.get(field).and_then(Value::as_i64)
}

impl TrytonErp {
    /// `search_read` with the given domain, ordered by id.
    pub(crate) async fn search_read(
        &self,
        calls: &CallLog,
        model: &str,
        domain: Value,
        limit: Option<u32>,
        fields: &[&str],
    ) -> Result<Vec<Value>, ConnectorError> {
        let method = format!("model.{model}.search_read");
        let result = self
            .rpc
            .call(
                calls,
                &method,
                vec![
                    domain,
                    json!(0),
                    json!(limit),
                    json!([["id", "ASC"]]),
                    json!(fields),
                ],
            )
            .await?;
        match result {
            Value::Array(records) => Ok(records),
            _ => Err(crate::http_client::protocol_error(
                SYSTEM,
                &endpoint(&method),
                "search_read did not answer a list",
            )),
        }
    }

    /// The sale lines of `deal`: each SKU is a `product.product` code. One
    /// search for all SKUs; an unknown SKU is a permanent, actionable error.
    pub(crate) async fn sale_lines(
        &self,
        deal: &crmerp_proto::Deal,
        calls: &CallLog,
        endpoint_label: &str,
    ) -> Result<Vec<SaleLine>, ConnectorError> {
        let mut skus = Vec::with_capacity(deal.line_items.len());
        for line in &deal.line_items {
            skus.push(mapping::line_sku(SYSTEM, line, endpoint_label)?.to_owned());
        }
        let products = self
            .search_read(
                calls,
                "product.product",
                json!([["code", "in", skus]]),
                None,
                &["code", "sale_uom", "default_uom"],
            )
            .await?;
        let mut lines = Vec::with_capacity(deal.line_items.len());
        for (line, sku) in deal.line_items.iter().zip(&skus) {
            let matches: Vec<&Value> = products
                .iter()
                .filter(|p| p.get("code").and_then(Value::as_str) == Some(sku.as_str()))
                .collect();
            let product = match matches.as_slice() {
                [] => {
                    return Err(ConnectorError::new(
                        ErrorKind::Permanent,
                        ErrorCategory::UnknownItem,
                        SYSTEM,
                        endpoint("model.product.product.search_read"),
                        format!("no Tryton product has code {sku:?}"),
                    )
                    .with_resolution(format!("create_item_in_erp:{sku}")));
                }
                [product] => *product,
                _ => {
                    return Err(invalid(
                        SYSTEM,
                        &endpoint("model.product.product.search_read"),
                        format!("SKU {sku:?} matches several Tryton products"),
                    )
                    .with_resolution(format!("deduplicate_item_in_erp:{sku}")));
                }
            };
            let unit = many2one(product, "sale_uom")
                .or_else(|| many2one(product, "default_uom"))
                .ok_or_else(|| {
                    invalid(
                        SYSTEM,
                        &endpoint("model.product.product.search_read"),
                        format!("product {sku:?} has no sale unit"),
                    )
                    .with_resolution(format!("fix_item_in_erp:{sku}"))
                })?;
            let (quantity, unit_price) = payload::line_numbers(line, endpoint_label)?;
            lines.push(SaleLine {
                product: record_id(product, "model.product.product.search_read")?,
                unit,
                quantity,
                unit_price,
                description: line.name.clone(),
            });
        }
        Ok(lines)
    }

    /// The id of the record of `model` whose `code` is `code`, cached.
    pub(crate) async fn id_by_code(
        &self,
        calls: &CallLog,
        model: &'static str,
        code: &str,
    ) -> Result<Option<i64>, ConnectorError> {
        let code = code.trim().to_ascii_uppercase();
        if let Some(id) = self.codes.get(model, &code) {
            return Ok(Some(id));
        }
        let found = self
            .search_read(calls, model, json!([["code", "=", code]]), Some(1), &["id"])
            .await?;
        let Some(record) = found.first() else {
            return Ok(None);
        };
        let id = record_id(record, model)?;
        self.codes.insert(model, &code, id);
        Ok(Some(id))
    }

    /// The party's addresses, oldest first, with the fields [`payload::same_address`] compares.
    pub(crate) async fn addresses(
        &self,
        calls: &CallLog,
        party: i64,
    ) -> Result<Vec<Value>, ConnectorError> {
        self.search_read(
            calls,
            "party.address",
            json!([["party", "=", party]]),
            None,
            &["street", "postal_code", "city", "country.code"],
        )
        .await
    }

    /// The id of the party address equal to `address`, created when absent.
    pub(crate) async fn ensure_address(
        &self,
        calls: &CallLog,
        party: i64,
        existing: &[Value],
        address: &Address,
    ) -> Result<i64, ConnectorError> {
        if let Some(found) = existing.iter().find(|a| payload::same_address(a, address)) {
            return record_id(found, "model.party.address.search_read");
        }
        let country = match address.country_code.trim() {
            "" => None,
            // Countries are optional in Tryton (a database may have none loaded).
            code => self.id_by_code(calls, "country.country", code).await?,
        };
        let mut values = payload::address_values(address, country);
        values.insert("party".into(), json!(party));
        const METHOD: &str = "model.party.address.create";
        let ids = self.rpc.call(calls, METHOD, vec![json!([values])]).await?;
        first_id(&ids, METHOD)
    }
}

/// The first id of a `create` answer (`[id, …]`).
pub(crate) fn first_id(ids: &Value, method: &str) -> Result<i64, ConnectorError> {
    ids.as_array()
        .and_then(|ids| ids.first())
        .and_then(Value::as_i64)
        .ok_or_else(|| {
            crate::http_client::protocol_error(SYSTEM, &endpoint(method), "create answered no id")
        })
}

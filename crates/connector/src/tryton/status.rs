//! Tryton as an [`OrderStatusSource`], and the change feed a poller reads
//! (Tryton has no webhooks).
//!
//! An order's status comes from its `sale.sale` record and its customer
//! shipments (`stock.shipment.out`), mapped through
//! [`FulfilmentFields`](super::FulfilmentFields):
//!
//! 1. the sale `state` (e.g. `cancelled`), when it maps to a final status;
//! 2. the sale `shipment_state` (e.g. `exception`), when it maps to one;
//! 3. else the least advanced shipment that is not cancelled (an order is
//!    only dispatched when every shipment is `done`);
//! 4. else the sale `state`.
//!
//! Base Tryton records no delivery: `done` (shipped) is as far as it goes.
//!
//! The change feed pages through `sale.sale` and `stock.shipment.out` by
//! (`write_date`, `id`), a cursor that never skips a record written in the
//! same instant. Tryton sets `write_date` on every write, including the
//! workflow buttons; a shipment gets it when the sale process creates it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use crmerp_proto::{OrderStatus, OrderStatusChanged, RecordRef, Shipment, timestamp_from};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fulfilment::{SALE_SHIPMENT_STATES, SALE_STATES, SHIPMENT_STATES};
use super::lookup::record_id;
use super::rpc::endpoint;
use super::wire::parse_date;
use super::{SALE, SYSTEM, TrytonErp};
use crate::mapping;
use crate::ports::OrderStatusSource;
use crate::status_map::{FulfilmentStatus, progress, resolve};
use crate::{CallLog, ConnectorError};

/// The customer shipment model.
pub const SHIPMENT: &str = "stock.shipment.out";

/// A model whose changes the poller follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchedModel {
    /// `sale.sale`: confirmation, cancellation, shipment state.
    Sale,
    /// `stock.shipment.out`: assign, pick, pack, done.
    Shipment,
}

impl WatchedModel {
    /// Both, in the order a poller reads them.
    pub const ALL: [Self; 2] = [Self::Sale, Self::Shipment];

    /// The Tryton model name.
    pub fn model(self) -> &'static str {
        match self {
            Self::Sale => SALE,
            Self::Shipment => SHIPMENT,
        }
    }
}

/// A position in one model's change feed: after this `write_date`, and after
/// this `id` among records written at that same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChangeCursor {
    /// Tryton's `write_date` (UTC, microseconds).
    pub write_date: DateTime<Utc>,
    /// The record id.
    pub id: i64,
}

impl ChangeCursor {
    /// The start of a feed: every record written at or after `since`.
    pub fn since(since: DateTime<Utc>) -> Self {
        Self {
            write_date: since,
            id: 0,
        }
    }
}

/// One written record and the sales it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Which model.
    pub model: WatchedModel,
    /// The record id.
    pub id: i64,
    /// Its `write_date`; with `model` and `id`, it identifies the write.
    pub write_date: DateTime<Utc>,
    /// The `sale.sale` ids whose status the write may have changed.
    pub sales: Vec<i64>,
}

impl Change {
    /// The cursor just past this change.
    pub fn cursor(&self) -> ChangeCursor {
        ChangeCursor {
            write_date: self.write_date,
            id: self.id,
        }
    }
}

/// A Tryton `datetime` object (`{"__class__": "datetime", …}`, UTC) as a time.
pub fn parse_datetime(value: &Value) -> Option<DateTime<Utc>> {
    let map = value.as_object()?;
    if map.get("__class__").and_then(Value::as_str) != Some("datetime") {
        return None;
    }
    let part = |key: &str| {
        map.get(key)
            .and_then(Value::as_i64)
            .and_then(|v| u32::try_from(v).ok())
    };
    let day = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(map.get("year")?.as_i64()?).ok()?,
        part("month")?,
        part("day")?,
    )?;
    let time = day.and_hms_micro_opt(
        part("hour")?,
        part("minute")?,
        part("second")?,
        part("microsecond").unwrap_or(0),
    )?;
    Some(time.and_utc())
}

/// A time as Tryton's `datetime` object (UTC).
pub fn datetime(at: DateTime<Utc>) -> Value {
    let naive: NaiveDateTime = at.naive_utc();
    json!({
        "__class__": "datetime",
        "year": chrono::Datelike::year(&naive),
        "month": chrono::Datelike::month(&naive),
        "day": chrono::Datelike::day(&naive),
        "hour": naive.hour(),
        "minute": naive.minute(),
        "second": naive.second(),
        "microsecond": naive.nanosecond() / 1000,
    })
}

/// The domain of records written after `after`.
fn after_domain(after: &ChangeCursor) -> Value {
    let at = datetime(after.write_date);
    json!([
        "OR",
        [["write_date", ">", at]],
        [["write_date", "=", at], ["id", ">", after.id]]
    ])
}

impl TrytonErp {
    /// Up to `limit` records of `model` written after `after`, oldest write
    /// first, each with the sales it concerns. Continue from the last
    /// change's [`Change::cursor`] until fewer than `limit` come back.
    pub async fn changes(
        &self,
        model: WatchedModel,
        after: &ChangeCursor,
        limit: u32,
        calls: &CallLog,
    ) -> Result<Vec<Change>, ConnectorError> {
        let method = format!("model.{}.search_read", model.model());
        let records = self
            .rpc
            .call(
                calls,
                &method,
                vec![
                    after_domain(after),
                    json!(0),
                    json!(limit.max(1)),
                    json!([["write_date", "ASC"], ["id", "ASC"]]),
                    json!(["id", "write_date"]),
                ],
            )
            .await?;
        let records = records.as_array().cloned().unwrap_or_default();
        let mut changes = Vec::with_capacity(records.len());
        for record in &records {
            let id = record_id(record, &method)?;
            let write_date = parse_datetime(&record["write_date"]).ok_or_else(|| {
                mapping::invalid(
                    SYSTEM,
                    &endpoint(&method),
                    format!("record {id} has no readable write_date"),
                )
            })?;
            changes.push(Change {
                model,
                id,
                write_date,
                sales: match model {
                    WatchedModel::Sale => vec![id],
                    WatchedModel::Shipment => Vec::new(),
                },
            });
        }
        if model == WatchedModel::Shipment && !changes.is_empty() {
            let ids: Vec<i64> = changes.iter().map(|c| c.id).collect();
            let sales = self
                .search_read(
                    calls,
                    SALE,
                    json!([["shipments", "in", ids]]),
                    None,
                    &["id", "shipments"],
                )
                .await?;
            let mut by_shipment: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for sale in &sales {
                let sale_id = record_id(sale, "model.sale.sale.search_read")?;
                for shipment in sale["shipments"].as_array().into_iter().flatten() {
                    if let Some(shipment) = shipment.as_i64() {
                        by_shipment.entry(shipment).or_default().push(sale_id);
                    }
                }
            }
            for change in &mut changes {
                change.sales = by_shipment.remove(&change.id).unwrap_or_default();
            }
        }
        Ok(changes)
    }

    async fn read_status(
        &self,
        sale_id: i64,
        calls: &CallLog,
    ) -> Result<Option<OrderStatusChanged>, ConnectorError> {
        let sales = self
            .search_read(
                calls,
                SALE,
                json!([["id", "=", sale_id]]),
                Some(1),
                &[
                    "number",
                    "reference",
                    "state",
                    "shipment_state",
                    "shipments",
                    "write_date",
                ],
            )
            .await?;
        let Some(sale) = sales.into_iter().next() else {
            return Ok(None);
        };
        let shipment_ids: Vec<i64> = sale["shipments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect();
        let shipments = if shipment_ids.is_empty() {
            Vec::new()
        } else {
            let fulfilment = &self.config.fulfilment;
            let mut fields = vec!["number", "state", "effective_date", "write_date"];
            let carrier = format!("{}.rec_name", fulfilment.carrier_field);
            if !fulfilment.carrier_field.is_empty() {
                fields.push(&carrier);
            }
            if !fulfilment.tracking_field.is_empty() {
                fields.push(&fulfilment.tracking_field);
            }
            self.search_read(
                calls,
                SHIPMENT,
                json!([["id", "in", shipment_ids]]),
                None,
                &fields,
            )
            .await?
        };
        Ok(Some(self.status_of(sale_id, &sale, &shipments)))
    }

    /// The status of a sale read with its shipments (see the module docs).
    fn status_of(&self, sale_id: i64, sale: &Value, shipments: &[Value]) -> OrderStatusChanged {
        let fields = &self.config.fulfilment;
        let text = |record: &Value, key: &str| {
            record
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let sale_state = resolve(&fields.sale_states, SALE_STATES, &text(sale, "state"));
        let shipment_state = resolve(
            &fields.sale_shipment_states,
            SALE_SHIPMENT_STATES,
            &text(sale, "shipment_state"),
        );
        let mut changed_at = parse_datetime(&sale["write_date"]);
        let mut least: Option<FulfilmentStatus> = None;
        let mut out = Vec::new();
        for shipment in shipments {
            let state = text(shipment, "state");
            let written = parse_datetime(&shipment["write_date"]);
            changed_at = changed_at.max(written);
            if state == "cancelled" {
                continue;
            }
            let Some(status) = resolve(&fields.shipment_states, SHIPMENT_STATES, &state) else {
                tracing::warn!(state, "Tryton shipment state without a mapping; ignored.");
                continue;
            };
            if least.is_none_or(|l| progress(status) < progress(l)) {
                least = Some(status);
            }
            let dispatched = status == FulfilmentStatus::Dispatched;
            let carrier = if fields.carrier_field.is_empty() {
                String::new()
            } else {
                shipment[format!("{}.", fields.carrier_field)]["rec_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            out.push(Shipment {
                r#ref: shipment
                    .get("id")
                    .and_then(Value::as_i64)
                    .map(|id| super::record_ref(SHIPMENT, id)),
                carrier,
                tracking_number: if fields.tracking_field.is_empty() {
                    String::new()
                } else {
                    text(shipment, &fields.tracking_field)
                },
                // Tryton records the shipping day, not the time: midnight UTC.
                dispatched_at: if dispatched {
                    parse_date(&shipment["effective_date"])
                        .and_then(|day| day.and_hms_opt(0, 0, 0))
                        .map(|at| timestamp_from(at.and_utc()))
                } else {
                    None
                },
                ..Shipment::default()
            });
        }
        let is_final = |s: &FulfilmentStatus| progress(*s) == 0;
        let status = sale_state
            .filter(is_final)
            .or(shipment_state.filter(is_final))
            .or(least)
            .or(sale_state)
            .map_or(OrderStatus::Received, OrderStatus::from);
        let reference = text(sale, "reference");
        let number = text(sale, "number");
        let mut changed = OrderStatusChanged {
            order: Some(super::record_ref(SALE, sale_id)),
            order_number: if number.is_empty() {
                sale_id.to_string()
            } else {
                number
            },
            external_ref: reference,
            changed_at: changed_at.map(timestamp_from),
            shipments: out,
            reason: if status == OrderStatus::Exception {
                format!("Tryton shipment state {}", text(sale, "shipment_state"))
            } else {
                String::new()
            },
            ..OrderStatusChanged::default()
        };
        changed.set_status(status);
        changed
    }
}

#[async_trait]
impl OrderStatusSource for TrytonErp {
    async fn order_status(
        &self,
        order: &RecordRef,
        calls: &CallLog,
    ) -> Result<Option<OrderStatusChanged>, ConnectorError> {
        let label = endpoint("model.sale.sale.search_read");
        let id = order.id.parse::<i64>().map_err(|_| {
            mapping::invalid(
                SYSTEM,
                &label,
                format!("\"{}\" is not a Tryton sale id", order.id),
            )
        })?;
        self.read_status(id, calls).await
    }
}

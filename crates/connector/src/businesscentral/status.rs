//! Business Central as an [`OrderStatusSource`]: a sales order's release,
//! shipping and delivery fields, read with its lines in one request.
//!
//! | the order | status |
//! |---|---|
//! | `deliveredDate` set | delivered |
//! | `fullyShipped` | dispatched, with `shippingAgentCode` and `packageTrackingNumber` |
//! | a line with a quantity to ship (`shipQuantity` > 0) | packed |
//! | `status` `Released` | picking |
//! | anything else | received |
//!
//! The standard API page has no shipping agent, tracking number or delivery
//! date; deployments expose them through a custom API page with these names
//! (`docs/simulators.md`). A posted (invoiced) order no longer exists as an
//! order, so it reads as `None`: the invoice flow takes over from there.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use crmerp_proto::{OrderStatus, OrderStatusChanged, RecordRef, Shipment, timestamp_from};
use serde::Deserialize;

use super::request::query;
use super::{BusinessCentralErp, SYSTEM};
use crate::endpoint;
use crate::http_kit::Endpoint;
use crate::mapping::is_guid;
use crate::ports::OrderStatusSource;
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

const ENDPOINT_ORDER_STATUS: Endpoint =
    endpoint!(GET "/companies({id})/salesOrders({id})?$expand=salesOrderLines");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderState {
    id: String,
    number: String,
    #[serde(default)]
    external_document_number: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    fully_shipped: bool,
    #[serde(default)]
    shipping_agent_code: String,
    #[serde(default)]
    package_tracking_number: String,
    #[serde(default)]
    delivered_date: Option<NaiveDate>,
    #[serde(default)]
    last_modified_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    sales_order_lines: Vec<LineState>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineState {
    #[serde(default)]
    ship_quantity: f64,
}

#[async_trait]
impl OrderStatusSource for BusinessCentralErp {
    async fn order_status(
        &self,
        order: &RecordRef,
        calls: &CallLog,
    ) -> Result<Option<OrderStatusChanged>, ConnectorError> {
        if !is_guid(&order.id) {
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                ErrorCategory::Validation,
                SYSTEM,
                ENDPOINT_ORDER_STATUS,
                format!("\"{}\" is not a Business Central id", order.id),
            ));
        }
        let url = self.company_url(&format!(
            "/salesOrders({}){}",
            order.id,
            query(&[("$expand", "salesOrderLines")])
        ));
        let response = match self
            .call(calls, &ENDPOINT_ORDER_STATUS, &url, None, None)
            .await
        {
            Ok(response) => response,
            Err(err) if err.category == ErrorCategory::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let state: OrderState = response.json(SYSTEM, &ENDPOINT_ORDER_STATUS)?;
        Ok(Some(status_of(state)))
    }
}

fn status_of(state: OrderState) -> OrderStatusChanged {
    let status = if state.delivered_date.is_some() {
        OrderStatus::Delivered
    } else if state.fully_shipped {
        OrderStatus::Dispatched
    } else if state
        .sales_order_lines
        .iter()
        .any(|l| l.ship_quantity > 0.0)
    {
        OrderStatus::Packed
    } else if state.status.eq_ignore_ascii_case("Released") {
        OrderStatus::Picking
    } else {
        OrderStatus::Received
    };
    let shipments = if state.fully_shipped {
        vec![Shipment {
            carrier: state.shipping_agent_code,
            tracking_number: state.package_tracking_number,
            // BC records a delivery date, not a time: midnight UTC of that day.
            delivered_at: state
                .delivered_date
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|at| timestamp_from(at.and_utc())),
            ..Shipment::default()
        }]
    } else {
        Vec::new()
    };
    let mut changed = OrderStatusChanged {
        order: Some(RecordRef {
            system: SYSTEM.to_owned(),
            object_type: "salesOrder".to_owned(),
            id: state.id,
        }),
        order_number: state.number,
        external_ref: state.external_document_number,
        changed_at: state.last_modified_date_time.map(timestamp_from),
        shipments,
        ..OrderStatusChanged::default()
    };
    changed.set_status(status);
    changed
}

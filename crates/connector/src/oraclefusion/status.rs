//! Oracle Fusion as an [`OrderStatusSource`]: the order header
//! (`salesOrdersForOrderHub`, found by `HeaderId`) and its fulfillment lines
//! (`salesOrdersForOrderHub/{OrderKey}/child/lines`), mapped through
//! [`FulfilmentFields`](super::FulfilmentFields): a cancelled or held header
//! wins; otherwise the order takes its lines' combined status (the least
//! advanced line). Shipped lines report their carrier and tracking number as
//! shipments, one per distinct tracking number. Order Management records no
//! proof of delivery.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crmerp_proto::{OrderStatus, OrderStatusChanged, RecordRef, Shipment, timestamp_from};
use serde::Deserialize;

use super::fulfilment::{FulfilmentFields, LINE_STATUSES, ORDER_STATUSES};
use super::{OracleFusionErp, Page, SYSTEM, record_ref};
use crate::endpoint;
use crate::http_client::encode_segment;
use crate::http_kit::Endpoint;
use crate::mapping;
use crate::ports::OrderStatusSource;
use crate::status_map::{FulfilmentStatus, combine, progress, resolve};
use crate::{CallLog, ConnectorError};

const ENDPOINT_ORDER_STATUS: Endpoint =
    endpoint!(GET "/fscmRestApi/resources/{v}/salesOrdersForOrderHub?q=HeaderId");
const ENDPOINT_ORDER_LINES: Endpoint =
    endpoint!(GET "/fscmRestApi/resources/{v}/salesOrdersForOrderHub/{OrderKey}/child/lines");

/// The header fields read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Header {
    pub(crate) header_id: i64,
    #[serde(default)]
    pub(crate) order_key: String,
    #[serde(default)]
    pub(crate) order_number: Option<String>,
    #[serde(default)]
    pub(crate) source_transaction_number: String,
    #[serde(default)]
    pub(crate) status_code: String,
    #[serde(default)]
    pub(crate) last_update_date: Option<DateTime<Utc>>,
}

/// The fulfillment line fields read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Line {
    #[serde(default)]
    pub(crate) status_code: String,
    #[serde(default)]
    pub(crate) shipping_carrier: Option<String>,
    #[serde(default)]
    pub(crate) tracking_number: Option<String>,
}

/// The canonical status of `header` and its `lines` (see the module docs).
pub(crate) fn status_of(
    fields: &FulfilmentFields,
    header: Header,
    lines: &[Line],
) -> OrderStatusChanged {
    let header_status = resolve(&fields.order_statuses, ORDER_STATUSES, &header.status_code);
    let mut shipments: Vec<Shipment> = Vec::new();
    let mut line_statuses = Vec::new();
    for line in lines {
        let Some(status) = resolve(&fields.line_statuses, LINE_STATUSES, &line.status_code) else {
            tracing::warn!(
                code = line.status_code,
                "Oracle line status without a mapping; ignored."
            );
            continue;
        };
        line_statuses.push(status);
        let tracking = line.tracking_number.clone().unwrap_or_default();
        if progress(status) >= progress(FulfilmentStatus::Dispatched)
            && !tracking.is_empty()
            && !shipments.iter().any(|s| s.tracking_number == tracking)
        {
            shipments.push(Shipment {
                carrier: line.shipping_carrier.clone().unwrap_or_default(),
                tracking_number: tracking,
                ..Shipment::default()
            });
        }
    }
    let status = header_status
        .filter(|s| progress(*s) == 0)
        .or_else(|| combine(line_statuses))
        .or(header_status)
        .map_or(OrderStatus::Received, OrderStatus::from);
    let mut changed = OrderStatusChanged {
        order: Some(record_ref("salesOrder", &header.header_id.to_string())),
        order_number: header.order_number.unwrap_or_default(),
        external_ref: header.source_transaction_number,
        changed_at: header.last_update_date.map(timestamp_from),
        shipments,
        reason: if status == OrderStatus::Exception {
            format!("Oracle order status {}", header.status_code)
        } else {
            String::new()
        },
        ..OrderStatusChanged::default()
    };
    changed.set_status(status);
    changed
}

#[async_trait]
impl OrderStatusSource for OracleFusionErp {
    async fn order_status(
        &self,
        order: &RecordRef,
        calls: &CallLog,
    ) -> Result<Option<OrderStatusChanged>, ConnectorError> {
        let header_id: i64 = order.id.parse().map_err(|_| {
            mapping::invalid(
                SYSTEM,
                &ENDPOINT_ORDER_STATUS,
                format!("\"{}\" is not an Oracle HeaderId", order.id),
            )
        })?;
        let collection = format!("{}/salesOrdersForOrderHub", self.config.fscm_root());
        let header: Option<Header> = self
            .first(
                calls,
                &ENDPOINT_ORDER_STATUS,
                &collection,
                &format!("HeaderId={header_id}"),
                "HeaderId,OrderKey,OrderNumber,SourceTransactionNumber,StatusCode,LastUpdateDate",
            )
            .await?;
        let Some(header) = header else {
            return Ok(None);
        };
        let key = if header.order_key.is_empty() {
            header.header_id.to_string()
        } else {
            header.order_key.clone()
        };
        let url = format!(
            "{collection}/{}/child/lines?fields=StatusCode,ShippingCarrier,TrackingNumber&onlyData=true&limit=500",
            encode_segment(&key)
        );
        let lines: Page<Line> = self
            .call(calls, &ENDPOINT_ORDER_LINES, &url, None)
            .await?
            .json(SYSTEM, &ENDPOINT_ORDER_LINES)?;
        Ok(Some(status_of(
            &self.config.fulfilment,
            header,
            &lines.items,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(status: &str) -> Header {
        Header {
            header_id: 300_100,
            order_key: "CRMERP:hubspot-deal-1".into(),
            order_number: Some("520001".into()),
            source_transaction_number: "hubspot-deal-1".into(),
            status_code: status.into(),
            last_update_date: None,
        }
    }

    fn line(status: &str, tracking: Option<&str>) -> Line {
        Line {
            status_code: status.into(),
            shipping_carrier: tracking.map(|_| "UPS".to_owned()),
            tracking_number: tracking.map(str::to_owned),
        }
    }

    #[test]
    fn lines_combine_and_a_cancelled_header_wins() {
        let fields = FulfilmentFields::default();
        let open = status_of(&fields, header("OPEN"), &[line("AWAIT_SHIP", None)]);
        assert_eq!(open.status(), OrderStatus::Picking);
        assert_eq!(open.order.map(|o| o.id), Some("300100".into()));
        assert_eq!(open.external_ref, "hubspot-deal-1");
        let partly = status_of(
            &fields,
            header("OPEN"),
            &[line("SHIPPED", Some("1Z1")), line("AWAIT_SHIP", None)],
        );
        assert_eq!(partly.status(), OrderStatus::Picking);
        let shipped = status_of(
            &fields,
            header("OPEN"),
            &[
                line("SHIPPED", Some("1Z1")),
                line("SHIPPED", Some("1Z1")),
                line("CANCELED", None),
            ],
        );
        assert_eq!(shipped.status(), OrderStatus::Dispatched);
        assert_eq!(shipped.shipments.len(), 1, "one parcel, two lines");
        assert_eq!(shipped.shipments[0].carrier, "UPS");
        assert_eq!(
            status_of(&fields, header("CANCELED"), &[line("SHIPPED", None)]).status(),
            OrderStatus::Cancelled
        );
        let held = status_of(&fields, header("OPEN"), &[line("BACKORDERED", None)]);
        assert_eq!(held.status(), OrderStatus::Exception);

        let mut custom = FulfilmentFields::default();
        custom
            .line_statuses
            .insert("AWAIT_SHIP".into(), FulfilmentStatus::Packed);
        assert_eq!(
            status_of(&custom, header("OPEN"), &[line("AWAIT_SHIP", None)]).status(),
            OrderStatus::Packed
        );
    }
}

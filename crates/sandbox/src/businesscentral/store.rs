//! The environment's state: one company's customers, items, sales orders with
//! their lines, posted sales invoices and webhook subscriptions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// An entity as stored and returned: its JSON properties.
pub(crate) type Entity = Map<String, Value>;

/// Properties of `Microsoft.NAV.customer` (API v2.0).
pub(crate) const CUSTOMER: &[&str] = &[
    "id",
    "number",
    "displayName",
    "type",
    "addressLine1",
    "addressLine2",
    "city",
    "state",
    "country",
    "postalCode",
    "phoneNumber",
    "email",
    "website",
    "salespersonCode",
    "balanceDue",
    "creditLimit",
    "taxLiable",
    "taxAreaId",
    "taxAreaDisplayName",
    "taxRegistrationNumber",
    "currencyId",
    "currencyCode",
    "paymentTermsId",
    "shipmentMethodId",
    "paymentMethodId",
    "blocked",
    "lastModifiedDateTime",
];
/// Properties of `Microsoft.NAV.item`.
pub(crate) const ITEM: &[&str] = &[
    "id",
    "number",
    "displayName",
    "displayName2",
    "type",
    "itemCategoryId",
    "itemCategoryCode",
    "blocked",
    "gtin",
    "inventory",
    "unitPrice",
    "priceIncludesTax",
    "unitCost",
    "taxGroupId",
    "taxGroupCode",
    "baseUnitOfMeasureId",
    "baseUnitOfMeasureCode",
    "lastModifiedDateTime",
];
/// Properties of `Microsoft.NAV.salesOrder`.
pub(crate) const SALES_ORDER: &[&str] = &[
    "id",
    "number",
    "externalDocumentNumber",
    "orderDate",
    "postingDate",
    "customerId",
    "customerNumber",
    "customerName",
    "billToName",
    "billToCustomerId",
    "billToCustomerNumber",
    "shipToName",
    "shipToContact",
    "sellToAddressLine1",
    "sellToAddressLine2",
    "sellToCity",
    "sellToCountry",
    "sellToState",
    "sellToPostCode",
    "billToAddressLine1",
    "billToAddressLine2",
    "billToCity",
    "billToCountry",
    "billToState",
    "billToPostCode",
    "shipToAddressLine1",
    "shipToAddressLine2",
    "shipToCity",
    "shipToCountry",
    "shipToState",
    "shipToPostCode",
    "currencyId",
    "currencyCode",
    "pricesIncludeTax",
    "paymentTermsId",
    "shipmentMethodId",
    "salesperson",
    "partialShipping",
    "requestedDeliveryDate",
    "discountAmount",
    "discountAppliedBeforeTax",
    "totalAmountExcludingTax",
    "totalTaxAmount",
    "totalAmountIncludingTax",
    "fullyShipped",
    "status",
    "lastModifiedDateTime",
    "phoneNumber",
    "email",
    // Sales Header fields the standard API page leaves out; the simulator shows
    // them once an order is dispatched or delivered (see docs/simulators.md).
    "shippingAgentCode",
    "packageTrackingNumber",
    "deliveredDate",
];
/// Properties of `Microsoft.NAV.salesOrderLine`.
pub(crate) const SALES_ORDER_LINE: &[&str] = &[
    "id",
    "documentId",
    "sequence",
    "itemId",
    "accountId",
    "lineType",
    "lineObjectNumber",
    "description",
    "description2",
    "unitOfMeasureId",
    "unitOfMeasureCode",
    "quantity",
    "unitPrice",
    "discountAmount",
    "discountPercent",
    "discountAppliedBeforeTax",
    "amountExcludingTax",
    "taxCode",
    "taxPercent",
    "totalTaxAmount",
    "amountIncludingTax",
    "netAmount",
    "netTaxAmount",
    "netAmountIncludingTax",
    "shipmentDate",
    "shippedQuantity",
    "invoicedQuantity",
    "invoiceQuantity",
    "shipQuantity",
    "itemVariantId",
    "locationId",
];
/// Properties of `Microsoft.NAV.salesInvoice` the simulator keeps.
pub(crate) const SALES_INVOICE: &[&str] = &[
    "id",
    "number",
    "externalDocumentNumber",
    "invoiceDate",
    "postingDate",
    "dueDate",
    "customerId",
    "customerNumber",
    "customerName",
    "orderId",
    "orderNumber",
    "totalAmountExcludingTax",
    "totalAmountIncludingTax",
    "remainingAmount",
    "status",
    "lastModifiedDateTime",
];
/// Properties of `Microsoft.NAV.subscription`.
pub(crate) const SUBSCRIPTION: &[&str] = &[
    "subscriptionId",
    "notificationUrl",
    "resource",
    "userId",
    "lastModifiedDateTime",
    "clientState",
    "expirationDateTime",
    "systemCreatedAt",
    "systemCreatedBy",
    "systemModifiedAt",
    "systemModifiedBy",
];

/// First customer, order and invoice numbers (as in a CRONUS demo company).
const FIRST_CUSTOMER: u64 = 70_000;
const FIRST_ORDER: u64 = 101_001;

/// The whole environment. Serialised as-is to `businesscentral.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BcData {
    pub(crate) customers: Vec<Entity>,
    pub(crate) items: Vec<Entity>,
    pub(crate) sales_orders: Vec<Entity>,
    pub(crate) sales_order_lines: Vec<Entity>,
    pub(crate) sales_invoices: Vec<Entity>,
    pub(crate) subscriptions: Vec<Entity>,
    next_customer: u64,
    next_order: u64,
    etag_seq: u64,
}

impl Default for BcData {
    fn default() -> Self {
        Self {
            customers: Vec::new(),
            items: Vec::new(),
            sales_orders: Vec::new(),
            sales_order_lines: Vec::new(),
            sales_invoices: Vec::new(),
            subscriptions: Vec::new(),
            next_customer: FIRST_CUSTOMER,
            next_order: FIRST_ORDER,
            etag_seq: 1,
        }
    }
}

/// Text of a property, when it is a string.
pub(crate) fn text<'a>(entity: &'a Entity, key: &str) -> Option<&'a str> {
    entity.get(key).and_then(Value::as_str)
}

impl BcData {
    /// A fresh weak entity tag, in BC's `W/"JzQ0O…"` form.
    pub(crate) fn etag(&mut self) -> String {
        use base64::Engine as _;
        self.etag_seq += 1;
        let inner = format!("'{};{};'", self.etag_seq, self.etag_seq * 7919);
        format!(
            "W/\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(inner)
        )
    }

    /// The next customer number from the number series.
    pub(crate) fn next_customer_number(&mut self) -> String {
        loop {
            let number = format!("C{}", self.next_customer);
            self.next_customer += 10;
            if !self
                .customers
                .iter()
                .any(|c| text(c, "number") == Some(&number))
            {
                return number;
            }
        }
    }

    /// The next sales order number (`S-ORD101001`, …).
    pub(crate) fn next_order_number(&mut self) -> String {
        let number = format!("S-ORD{}", self.next_order);
        self.next_order += 1;
        number
    }

    /// Stamps a new or changed entity with an etag and modification time.
    pub(crate) fn stamp(&mut self, entity: &mut Entity) {
        let etag = self.etag();
        entity.insert("@odata.etag".into(), json!(etag));
        entity.insert(
            "lastModifiedDateTime".into(),
            json!(crate::util::rfc3339_millis(chrono::Utc::now())),
        );
    }

    /// The item with this number (BC `Code` keys compare upper-cased).
    pub(crate) fn item_by_number(&self, number: &str) -> Option<&Entity> {
        self.items
            .iter()
            .find(|i| text(i, "number").is_some_and(|n| n.eq_ignore_ascii_case(number)))
    }

    /// The entity with `id` in `set`.
    pub(crate) fn by_id<'a>(set: &'a [Entity], key: &str, id: &str) -> Option<&'a Entity> {
        set.iter()
            .find(|e| text(e, key).is_some_and(|v| v.eq_ignore_ascii_case(id)))
    }

    /// The lines of one order, by sequence.
    pub(crate) fn lines_of(&self, order_id: &str) -> Vec<Entity> {
        let mut lines: Vec<Entity> = self
            .sales_order_lines
            .iter()
            .filter(|l| text(l, "documentId") == Some(order_id))
            .cloned()
            .collect();
        lines.sort_by_key(|l| l.get("sequence").and_then(Value::as_u64).unwrap_or(0));
        lines
    }

    /// Recomputes an order's totals from its lines (no tax in the simulator).
    pub(crate) fn total(&mut self, order_id: &str) {
        let total: f64 = self
            .lines_of(order_id)
            .iter()
            .filter_map(|l| l.get("amountExcludingTax").and_then(Value::as_f64))
            .sum();
        let total = (total * 100.0).round() / 100.0;
        if let Some(order) = self
            .sales_orders
            .iter_mut()
            .find(|o| text(o, "id") == Some(order_id))
        {
            order.insert("totalAmountExcludingTax".into(), json!(total));
            order.insert("totalTaxAmount".into(), json!(0));
            order.insert("totalAmountIncludingTax".into(), json!(total));
        }
    }
}

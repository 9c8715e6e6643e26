//! The system's state: business partners (with roles and customer sales
//! areas), products and sales orders with items, item price conditions,
//! partners and partner addresses, stored in OData V2 JSON form
//! (decimals as strings, dates as `/Date(ms)/`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// An entity as stored: its V2 JSON properties (no `__metadata`).
pub(crate) type Entity = Map<String, Value>;

const FIRST_PARTNER: u64 = 17_100_101;
const FIRST_ORDER: u64 = 10_001;

/// Everything the simulator keeps; serialised to `s4hana.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct S4Data {
    pub(crate) business_partners: Vec<Entity>,
    /// `(business partner, sales organisation, distribution channel, division)`.
    pub(crate) sales_areas: Vec<(String, String, String, String)>,
    pub(crate) products: Vec<Entity>,
    pub(crate) sales_orders: Vec<Entity>,
    pub(crate) items: Vec<Entity>,
    /// `A_SalesOrderHeaderPartner` of every order.
    #[serde(default)]
    pub(crate) partners: Vec<Entity>,
    /// `A_SalesOrderPartnerAddress`: document addresses of order partners.
    #[serde(default)]
    pub(crate) partner_addresses: Vec<Entity>,
    /// `A_SalesOrderItemPrElement` entered with the items.
    #[serde(default)]
    pub(crate) pricing_elements: Vec<Entity>,
    next_partner: u64,
    next_order: u64,
}

impl Default for S4Data {
    fn default() -> Self {
        Self {
            business_partners: Vec::new(),
            sales_areas: Vec::new(),
            products: Vec::new(),
            sales_orders: Vec::new(),
            items: Vec::new(),
            partners: Vec::new(),
            partner_addresses: Vec::new(),
            pricing_elements: Vec::new(),
            next_partner: FIRST_PARTNER,
            next_order: FIRST_ORDER,
        }
    }
}

/// Text of a property, when it is a string.
pub(crate) fn text<'a>(entity: &'a Entity, key: &str) -> Option<&'a str> {
    entity.get(key).and_then(Value::as_str)
}

/// `/Date(ms)/` for now (Edm.DateTime, whole days as SAP stores dates).
pub(crate) fn today() -> Value {
    let ms = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc().timestamp_millis())
        .unwrap_or_default();
    json!(format!("/Date({ms})/"))
}

/// `/Date(ms+0000)/` for now (Edm.DateTimeOffset).
pub(crate) fn now_offset() -> Value {
    json!(format!(
        "/Date({}+0000)/",
        chrono::Utc::now().timestamp_millis()
    ))
}

impl S4Data {
    /// The next business partner number.
    pub(crate) fn next_partner(&mut self) -> String {
        let n = self.next_partner;
        self.next_partner += 1;
        n.to_string()
    }

    /// The next sales order number.
    pub(crate) fn next_order(&mut self) -> String {
        let n = self.next_order;
        self.next_order += 1;
        n.to_string()
    }

    /// The entity whose `key` equals `value`.
    pub(crate) fn find<'a>(set: &'a [Entity], key: &str, value: &str) -> Option<&'a Entity> {
        set.iter().find(|e| text(e, key) == Some(value))
    }

    /// True when `customer` may order in the sales area.
    pub(crate) fn in_sales_area(
        &self,
        customer: &str,
        org: &str,
        channel: &str,
        division: &str,
    ) -> bool {
        self.sales_areas
            .iter()
            .any(|(c, o, ch, d)| c == customer && o == org && ch == channel && d == division)
    }

    /// The rows of `set` belonging to one order.
    pub(crate) fn of_order(set: &[Entity], order: &str) -> Vec<Entity> {
        set.iter()
            .filter(|e| text(e, "SalesOrder") == Some(order))
            .cloned()
            .collect()
    }

    /// The items of one order, by item number.
    pub(crate) fn items_of(&self, order: &str) -> Vec<Entity> {
        Self::of_order(&self.items, order)
    }
}

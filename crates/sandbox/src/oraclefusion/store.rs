//! The pod's state: customer accounts, items and sales orders.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An entity as stored and returned.
pub(crate) type Entity = Map<String, Value>;

/// Everything the simulator keeps; serialised to `oraclefusion.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OraData {
    pub(crate) accounts: Vec<Entity>,
    pub(crate) items: Vec<Entity>,
    pub(crate) orders: Vec<Entity>,
    next_id: i64,
    next_party: u64,
    next_order: u64,
}

impl Default for OraData {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            items: Vec::new(),
            orders: Vec::new(),
            next_id: 300_000_012_345_001,
            next_party: 1001,
            next_order: 520_001,
        }
    }
}

impl OraData {
    /// A fresh 15-digit surrogate id, as Fusion's are.
    pub(crate) fn next_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A new `PartyId` and `PartyNumber`.
    pub(crate) fn next_party(&mut self) -> (i64, String) {
        let number = format!("CDRM_{}", self.next_party);
        self.next_party += 1;
        (self.next_id(), number)
    }

    /// The next order number.
    pub(crate) fn next_order_number(&mut self) -> String {
        let number = self.next_order.to_string();
        self.next_order += 1;
        number
    }

    /// An order by `HeaderId` or `OrderKey` (`{system}:{id}`).
    pub(crate) fn order_by_key(&self, key: &str) -> Option<&Entity> {
        let decoded = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
        self.orders.iter().find(|o| {
            o.get("OrderKey").and_then(Value::as_str) == Some(&decoded)
                || o.get("HeaderId").map(Value::to_string).as_deref() == Some(&decoded)
        })
    }
}

//! Field maps owned by flows.
//!
//! A vendor's section (`[crm.hubspot]`, `[erp.s4hana]`) holds how to reach and
//! authenticate to the vendor. How a flow's records map onto the vendor's
//! objects (which deal property receives the order number, which SAP sales
//! organisation an order belongs to) is the flow's: it sits in the flow's own
//! section, `[<flow>.<role>.<vendor>]` (e.g. `[deal_to_order.crm.hubspot]`),
//! and errors name keys there.
//!
//! Migration: a key that moved out of a vendor section is still read from its
//! old place, with a warning naming the new one; the same key in both places
//! with different values stops start-up, because one of them would be ignored.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::ConfigError;
use crate::credentials::CredentialSlot;
use crate::ports::Role;

/// The flow sections a service gives the connectors it builds, by flow
/// section name (e.g. `deal_to_order`), each holding every vendor's maps
/// (`{"crm": {"hubspot": {...}}, "erp": {...}}`), and the service's
/// [`CredentialSlot`] for credentials a vendor rotates.
#[derive(Debug, Clone, Default)]
pub struct FlowMaps {
    flows: BTreeMap<String, Value>,
    credentials: CredentialSlot,
}

impl FlowMaps {
    /// No flow sections: every field map takes its defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the section of the flow named `flow` (its whole `[flow]` table, or
    /// only its `crm` / `erp` sub-tables); `None` leaves that flow's defaults.
    pub fn with(mut self, flow: &str, section: Option<Value>) -> Self {
        if let Some(section) = section {
            self.flows.insert(flow.to_owned(), section);
        }
        self
    }

    /// Gives the connectors `slot`, where the service attaches its durable
    /// credential store once it is reachable.
    #[must_use]
    pub fn with_credentials(mut self, slot: CredentialSlot) -> Self {
        self.credentials = slot;
        self
    }

    /// The credential slot the connectors share with the service.
    pub fn credentials(&self) -> CredentialSlot {
        self.credentials.clone()
    }

    /// Reads `flow`'s maps for one vendor into `T`, first taking any key of
    /// `moved` still found in the vendor `section` (its pre-split place) out of
    /// it and into the flow's maps, with a warning, so the vendor section parses
    /// as connection settings only. Errors name `<flow>.<role>.<vendor>`.
    pub(crate) fn read<T: DeserializeOwned>(
        &self,
        flow: &str,
        role: Role,
        vendor: &str,
        section: &mut Map<String, Value>,
        moved: &[&str],
    ) -> Result<T, ConfigError> {
        let key = format!("{flow}.{}.{vendor}", role.as_str());
        let mut maps = match self
            .flows
            .get(flow)
            .and_then(|f| f.get(role.as_str()))
            .and_then(|side| side.get(vendor))
        {
            Some(Value::Object(map)) => map.clone(),
            Some(Value::Null) | None => Map::new(),
            Some(_) => return Err(ConfigError::invalid(key, "must be a table")),
        };
        for name in moved {
            let Some(old) = section.remove(*name) else {
                continue;
            };
            let old_key = format!("{}.{vendor}.{name}", role.as_str());
            match maps.get(*name) {
                Some(new) if !same_setting(new, &old) => {
                    return Err(ConfigError::invalid(
                        format!("{key}.{name}"),
                        format!(
                            "also set at its old place `{old_key}` with another value; remove `{old_key}`"
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    maps.insert((*name).to_owned(), old);
                }
            }
            tracing::warn!(
                old = %old_key,
                new = %format!("{key}.{name}"),
                "setting read from its old place; move it to the flow's section"
            );
        }
        crate::registry::from_section(&key, &Value::Object(maps))
    }
}

/// Two values of one setting agree; environment overrides arrive as text, so
/// `"10"` and `10` are the same setting.
fn same_setting(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(s), other) | (other, Value::String(s)) if !other.is_string() => {
            serde_json::from_str::<Value>(s).is_ok_and(|parsed| parsed == *other)
        }
        _ => a == b,
    }
}

/// The top-level keys `T`'s defaults serialise to: the keys a vendor's field
/// map owns, checked against its `MOVED` list by the vendors' tests.
#[cfg(test)]
pub(crate) fn keys_of<T: Default + serde::Serialize>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(Value::Object(map)) => {
            let mut keys: Vec<String> = map.keys().cloned().collect();
            keys.sort();
            keys
        }
        other => panic!("a field map serialises to a table, got {other:?}"),
    }
}

/// Asserts that `moved` names exactly the keys of `T` (sorted comparison).
#[cfg(test)]
pub(crate) fn assert_moved_keys<T: Default + serde::Serialize>(moved: &[&str]) {
    let mut listed: Vec<String> = moved.iter().map(|k| (*k).to_owned()).collect();
    listed.sort();
    assert_eq!(listed, keys_of::<T>(), "MOVED lists every field-map key");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Fields {
        write_back: String,
        limit: u32,
    }

    fn section(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_flow_section_is_read_and_defaults_fill_the_rest() {
        let maps = FlowMaps::new().with(
            "deal_to_order",
            Some(json!({"crm": {"hubspot": {"write_back": "erp_no"}}})),
        );
        let fields: Fields = maps
            .read(
                "deal_to_order",
                Role::Crm,
                "hubspot",
                &mut Map::new(),
                &["write_back"],
            )
            .expect("reads");
        assert_eq!(fields.write_back, "erp_no");
        assert_eq!(fields.limit, 0);
        let none: Fields = FlowMaps::new()
            .read("deal_to_order", Role::Crm, "hubspot", &mut Map::new(), &[])
            .expect("defaults");
        assert_eq!(none, Fields::default());
    }

    #[test]
    fn a_key_at_its_old_place_is_still_read() {
        let mut old = section(json!({"base_url": "x", "write_back": "legacy", "limit": "7"}));
        let fields: Fields = FlowMaps::new()
            .read(
                "deal_to_order",
                Role::Crm,
                "hubspot",
                &mut old,
                &["write_back", "limit"],
            )
            .expect("reads");
        assert_eq!(
            fields,
            Fields {
                write_back: "legacy".into(),
                limit: 7
            }
        );
        assert_eq!(
            old,
            section(json!({"base_url": "x"})),
            "moved keys leave the vendor section"
        );
    }

    #[test]
    fn both_places_must_agree() {
        let maps = FlowMaps::new().with(
            "deal_to_order",
            Some(json!({"crm": {"hubspot": {"write_back": "new", "limit": 7}}})),
        );
        let mut same = section(json!({"limit": "7"}));
        let fields: Fields = maps
            .read("deal_to_order", Role::Crm, "hubspot", &mut same, &["limit"])
            .expect("same value in both places");
        assert_eq!(fields.limit, 7);
        let mut other = section(json!({"write_back": "old"}));
        let err = maps
            .read::<Fields>(
                "deal_to_order",
                Role::Crm,
                "hubspot",
                &mut other,
                &["write_back"],
            )
            .expect_err("conflict");
        let text = err.to_string();
        assert!(
            text.contains("deal_to_order.crm.hubspot.write_back"),
            "{text}"
        );
        assert!(text.contains("crm.hubspot.write_back"), "{text}");
    }

    #[test]
    fn errors_name_the_flow_section() {
        let maps = FlowMaps::new().with(
            "deal_to_order",
            Some(json!({"erp": {"s4hana": {"limit": "many"}}})),
        );
        let err = maps
            .read::<Fields>("deal_to_order", Role::Erp, "s4hana", &mut Map::new(), &[])
            .expect_err("bad type");
        assert!(
            err.to_string().contains("deal_to_order.erp.s4hana"),
            "{err}"
        );
        let maps = FlowMaps::new().with("deal_to_order", Some(json!({"erp": {"s4hana": "text"}})));
        assert!(
            maps.read::<Fields>("deal_to_order", Role::Erp, "s4hana", &mut Map::new(), &[])
                .is_err()
        );
    }
}

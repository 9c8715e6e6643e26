//! The simulated org: records by sObject type, their schema, ids and derived fields.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::SfError;
pub(crate) use super::schema::{OBJECTS, OWNED, ObjectSpec, spec};
use crate::util::rfc3339_millis;

/// One record's fields.
pub(crate) type Record = Map<String, Value>;

/// The org's records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct OrgData {
    /// Records by type, then by 18-character id.
    pub(crate) records: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    next_id: u64,
    /// API requests counted against the daily allowance.
    pub(crate) api_requests: u64,
    /// The integration's "Run As" user, who owns what the API creates
    /// without an `OwnerId`; created on first use.
    #[serde(default)]
    pub(crate) api_user: Option<String>,
}

/// `Task.Status` values that close a Task (the org's default closed status).
const CLOSED_TASK_STATUSES: &[&str] = &["Completed"];

/// The 18-character form of a 15-character id (Salesforce's case checksum).
pub(crate) fn id18(id15: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let mut out = id15.to_owned();
    for chunk in id15.as_bytes().chunks(5) {
        let bits = chunk.iter().enumerate().fold(0usize, |acc, (i, b)| {
            acc | (usize::from(b.is_ascii_uppercase()) << i)
        });
        out.push(char::from(ALPHABET[bits]));
    }
    out
}

/// A 15- or 18-character id in its 18-character form.
pub(crate) fn normalize_id(id: &str) -> Result<String, SfError> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(SfError::malformed_id(id));
    }
    match id.len() {
        15 => Ok(id18(id)),
        18 if id18(&id[..15]) == id => Ok(id.to_owned()),
        _ => Err(SfError::malformed_id(id)),
    }
}

impl OrgData {
    /// A record by type and id.
    pub(crate) fn get(&self, object: &str, id: &str) -> Option<&Map<String, Value>> {
        self.records.get(object)?.get(id)
    }

    /// The record with `id`, whatever its type (by key prefix).
    pub(crate) fn find(&self, id: &str) -> Option<(&'static str, &Map<String, Value>)> {
        let spec = OBJECTS.iter().find(|s| id.starts_with(s.prefix))?;
        Some((spec.name, self.get(spec.name, id)?))
    }

    /// Line items of an opportunity, in `SortOrder`, then creation order.
    pub(crate) fn lines_of(&self, opportunity: &str) -> Vec<Map<String, Value>> {
        let mut lines: Vec<Map<String, Value>> = self
            .records
            .get("OpportunityLineItem")
            .map(|all| {
                all.values()
                    .filter(|l| l.get("OpportunityId").and_then(Value::as_str) == Some(opportunity))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        lines.sort_by_key(|l| {
            l.get("SortOrder")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MAX)
        });
        lines
    }

    /// Creates a record; returns its id.
    pub(crate) fn create(
        &mut self,
        spec: &ObjectSpec,
        fields: Map<String, Value>,
    ) -> Result<String, SfError> {
        let missing: Vec<String> = spec
            .required
            .iter()
            .filter(|f| fields.get(**f).is_none_or(is_blank))
            .map(|f| (*f).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(SfError::new(
                StatusCode::BAD_REQUEST,
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
            )
            .with_fields(missing));
        }
        let mut fields = fields;
        if OWNED.contains(&spec.name) && fields.get("OwnerId").is_none_or(Value::is_null) {
            let user = self.api_user();
            fields.insert("OwnerId".into(), Value::String(user));
        }
        self.check(spec, &fields)?;
        self.next_id += 1;
        let id = id18(&format!("{}5g{:010}", spec.prefix, self.next_id));
        let now = rfc3339_millis(Utc::now());
        let mut record = fields;
        record.insert("Id".into(), Value::String(id.clone()));
        record.insert("CreatedDate".into(), Value::String(now.clone()));
        record.insert("LastModifiedDate".into(), Value::String(now));
        self.derive(spec.name, &mut record);
        self.records
            .entry(spec.name.to_owned())
            .or_default()
            .insert(id.clone(), record);
        self.roll_up(spec.name, &id);
        Ok(id)
    }

    /// The "Run As" user's id, creating the user on first use.
    pub(crate) fn api_user(&mut self) -> String {
        if let Some(id) = &self.api_user {
            return id.clone();
        }
        self.next_id += 1;
        let id = id18(&format!("0055g{:010}", self.next_id));
        let now = rfc3339_millis(Utc::now());
        let mut user = Map::new();
        for (field, value) in [
            ("Id", id.as_str()),
            ("Username", "integration@crmerp.sandbox"),
            ("LastName", "Integration"),
            ("Name", "Integration User"),
            ("Email", "integration@crmerp.sandbox"),
            ("CreatedDate", now.as_str()),
            ("LastModifiedDate", now.as_str()),
        ] {
            user.insert(field.into(), Value::String(value.to_owned()));
        }
        user.insert("IsActive".into(), Value::Bool(true));
        self.records
            .entry("User".to_owned())
            .or_default()
            .insert(id.clone(), user);
        self.api_user = Some(id.clone());
        id
    }

    /// Updates a record (null clears a field); returns the record before and after.
    pub(crate) fn update(
        &mut self,
        spec: &ObjectSpec,
        id: &str,
        fields: Map<String, Value>,
    ) -> Result<(Record, Record), SfError> {
        self.check(spec, &fields)?;
        let before = self
            .get(spec.name, id)
            .cloned()
            .ok_or_else(SfError::not_found)?;
        let mut after = before.clone();
        for (key, value) in fields {
            if value.is_null() {
                after.remove(&key);
            } else {
                after.insert(key, value);
            }
        }
        after.insert(
            "LastModifiedDate".into(),
            Value::String(rfc3339_millis(Utc::now())),
        );
        self.derive(spec.name, &mut after);
        self.records
            .entry(spec.name.to_owned())
            .or_default()
            .insert(id.to_owned(), after.clone());
        self.roll_up(spec.name, id);
        Ok((before, after))
    }

    /// Deletes a record.
    pub(crate) fn delete(&mut self, spec: &ObjectSpec, id: &str) -> Result<(), SfError> {
        let removed = self
            .records
            .get_mut(spec.name)
            .and_then(|all| all.remove(id))
            .ok_or_else(SfError::not_found)?;
        if let Some(opp) = removed.get("OpportunityId").and_then(Value::as_str) {
            self.recompute_amount(opp);
        }
        Ok(())
    }

    fn check(&self, spec: &ObjectSpec, fields: &Map<String, Value>) -> Result<(), SfError> {
        for (key, value) in fields {
            if !spec.readable(key) {
                return Err(SfError::invalid_field(spec.name, key));
            }
            if !spec.writable(key) {
                return Err(SfError::new(StatusCode::BAD_REQUEST, "INVALID_FIELD_FOR_INSERT_UPDATE", format!("Unable to create/update fields: {key}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.")).with_fields(vec![key.clone()]));
            }
            if key.ends_with("Id") && !value.is_null() {
                let target = value
                    .as_str()
                    .map(normalize_id)
                    .transpose()?
                    .and_then(|id| self.find(&id).map(|_| ()));
                if target.is_none() {
                    return Err(SfError::new(
                        StatusCode::BAD_REQUEST,
                        "FIELD_INTEGRITY_EXCEPTION",
                        format!("{key}: id value of incorrect type: {value}"),
                    )
                    .with_fields(vec![key.clone()]));
                }
            }
            if key == "OwnerId" {
                self.check_owner(spec, value)?;
            }
            if matches!(key.as_str(), "Amount" | "Quantity" | "UnitPrice")
                && !(value.is_number() || value.is_null())
            {
                return Err(SfError::json(format!(
                    "Cannot deserialize instance of double from VALUE_STRING value {value} for field {key}"
                )));
            }
        }
        Ok(())
    }

    /// An owner is an active user.
    fn check_owner(&self, spec: &ObjectSpec, value: &Value) -> Result<(), SfError> {
        let user = value
            .as_str()
            .and_then(|id| normalize_id(id).ok())
            .and_then(|id| self.get("User", &id).map(|u| (id, u)));
        let Some((id, user)) = user else {
            return Err(SfError::new(
                StatusCode::BAD_REQUEST,
                "FIELD_INTEGRITY_EXCEPTION",
                format!("Owner ID: id value of incorrect type: {value}"),
            )
            .with_fields(vec!["OwnerId".into()]));
        };
        if user.get("IsActive").and_then(Value::as_bool) == Some(false) {
            return Err(SfError::new(
                StatusCode::BAD_REQUEST,
                "INACTIVE_OWNER_OR_USER",
                format!(
                    "operation performed with inactive user [{id}] as owner of {}",
                    spec.name.to_ascii_lowercase()
                ),
            ));
        }
        Ok(())
    }

    /// System-computed fields, as Salesforce derives them.
    fn derive(&self, object: &str, record: &mut Map<String, Value>) {
        match object {
            "Opportunity" => {
                let stage = record
                    .get("StageName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                record.insert("IsWon".into(), Value::Bool(stage == "Closed Won"));
                record.insert("IsClosed".into(), Value::Bool(stage.starts_with("Closed")));
            }
            "Task" => {
                // A Task on an opportunity (or account) is on the account's
                // activity history too, through the derived AccountId.
                let account = record
                    .get("WhatId")
                    .and_then(Value::as_str)
                    .and_then(|id| normalize_id(id).ok())
                    .and_then(|id| match self.find(&id) {
                        Some(("Account", _)) => Some(Value::String(id)),
                        Some(("Opportunity", opp)) => opp.get("AccountId").cloned(),
                        _ => None,
                    });
                match account {
                    Some(account) => record.insert("AccountId".into(), account),
                    None => record.remove("AccountId"),
                };
                let status = record
                    .get("Status")
                    .and_then(Value::as_str)
                    .unwrap_or("Not Started")
                    .to_owned();
                record.insert("Status".into(), Value::String(status.clone()));
                let closed = CLOSED_TASK_STATUSES.contains(&status.as_str());
                record.insert("IsClosed".into(), Value::Bool(closed));
                if !closed {
                    record.remove("CompletedDateTime");
                } else if !record.contains_key("CompletedDateTime") {
                    record.insert(
                        "CompletedDateTime".into(),
                        Value::String(rfc3339_millis(Utc::now())),
                    );
                }
            }
            "User" => {
                let name = ["FirstName", "LastName"]
                    .iter()
                    .filter_map(|f| record.get(*f).and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" ");
                record.insert("Name".into(), Value::String(name));
                if !record.contains_key("IsActive") {
                    record.insert("IsActive".into(), Value::Bool(true));
                }
            }
            "OpportunityLineItem" => {
                let product = record
                    .get("Product2Id")
                    .and_then(Value::as_str)
                    .and_then(|id| self.get("Product2", id))
                    .cloned();
                if let Some(product) = product {
                    for (from, to) in [("ProductCode", "ProductCode"), ("Name", "Name")] {
                        if let Some(value) = product.get(from) {
                            record.insert(to.into(), value.clone());
                        }
                    }
                }
                let number = |f: &str| record.get(f).and_then(Value::as_f64).unwrap_or(0.0);
                let total = number("Quantity") * number("UnitPrice");
                if let Some(total) = serde_json::Number::from_f64(total) {
                    record.insert("TotalPrice".into(), Value::Number(total));
                }
            }
            _ => {}
        }
    }

    fn roll_up(&mut self, object: &str, id: &str) {
        if object == "OpportunityLineItem"
            && let Some(opp) = self
                .get(object, id)
                .and_then(|l| l.get("OpportunityId"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        {
            self.recompute_amount(&opp);
        }
    }

    /// An opportunity with products has the sum of their totals as its amount.
    fn recompute_amount(&mut self, opportunity: &str) {
        let lines = self.lines_of(opportunity);
        if lines.is_empty() {
            return;
        }
        let total: f64 = lines
            .iter()
            .filter_map(|l| l.get("TotalPrice").and_then(Value::as_f64))
            .sum();
        if let (Some(opp), Some(total)) = (
            self.records
                .get_mut("Opportunity")
                .and_then(|all| all.get_mut(opportunity)),
            serde_json::Number::from_f64(total),
        ) {
            opp.insert("Amount".into(), Value::Number(total));
        }
    }
}

fn is_blank(value: &Value) -> bool {
    value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty())
}

/// Only the `fields` (plus `attributes` and `Id`) of a record, as a GET with `?fields=` returns it.
pub(crate) fn project(
    spec: &ObjectSpec,
    record: &Map<String, Value>,
    fields: Option<&str>,
    version: &str,
) -> Result<Value, SfError> {
    let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    out.insert("attributes".into(), serde_json::json!({"type": spec.name, "url": format!("/services/data/{version}/sobjects/{}/{id}", spec.name)}));
    match fields {
        Some(list) => {
            for field in list.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                if !spec.readable(field) {
                    return Err(SfError::invalid_field(spec.name, field));
                }
                out.insert(
                    field.to_owned(),
                    record.get(field).cloned().unwrap_or(Value::Null),
                );
            }
        }
        None => out.extend(record.clone()),
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_case_checksum() {
        // Worked by hand: chunks 001A0 (bit 3 -> I), 00000 (A), 6Vm9r (bit 1 -> C).
        assert_eq!(id18("001A0000006Vm9r"), "001A0000006Vm9rIAC");
        assert_eq!(
            normalize_id("001A0000006Vm9r").ok().as_deref(),
            Some("001A0000006Vm9rIAC")
        );
        assert!(normalize_id("001A0000006Vm9rAAA").is_err());
        assert!(normalize_id("001'; DROP").is_err());
    }
}

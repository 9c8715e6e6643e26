//! The simulated company account: records by resource, and the v2 rules of
//! creating and changing them.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A rejected write: status and Pipedrive's error text.
pub(crate) type Rejection = (u16, String);

/// Resources and their required field.
pub(crate) const RESOURCES: &[(&str, &str)] = &[
    ("deals", "title"),
    ("organizations", "name"),
    ("persons", "name"),
    ("products", "name"),
    ("activities", "subject"),
    ("notes", "content"),
    ("deal_products", "product_id"),
];

/// Resources whose records have an owner (`owner_id`, the token's user by default).
const OWNED: &[&str] = &["deals", "organizations", "activities"];

/// The user the API token belongs to (webhooks name it as `user_id` 1).
pub(crate) const TOKEN_USER: u64 = 1;

/// The company's activity types (keys), Pipedrive's defaults.
const ACTIVITY_TYPES: &[&str] = &["call", "meeting", "task", "deadline", "email", "lunch"];

/// Every record, by resource then id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CompanyData {
    pub(crate) records: BTreeMap<String, BTreeMap<u64, Value>>,
    next_id: u64,
    /// Users have ids of their own; the token's user is [`TOKEN_USER`].
    #[serde(default)]
    next_user_id: u64,
}

fn now() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl CompanyData {
    pub(crate) fn get(&self, resource: &str, id: u64) -> Option<&Value> {
        self.records.get(resource)?.get(&id)
    }

    pub(crate) fn list(&self, resource: &str) -> Vec<Value> {
        self.records
            .get(resource)
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Creates a record after the resource's checks; returns it.
    pub(crate) fn create(
        &mut self,
        resource: &str,
        body: Map<String, Value>,
        custom_fields: &[String],
    ) -> Result<Value, Rejection> {
        let required = RESOURCES
            .iter()
            .find(|(r, _)| *r == resource)
            .map(|(_, f)| *f)
            .ok_or((404, "Unknown resource".to_owned()))?;
        if body
            .get(required)
            .is_none_or(|v| v.is_null() || v.as_str().is_some_and(str::is_empty))
        {
            return Err((400, format!("{required} is required")));
        }
        let mut body = body;
        if OWNED.contains(&resource) && body.get("owner_id").is_none_or(Value::is_null) {
            self.token_user();
            body.insert("owner_id".into(), json!(TOKEN_USER));
        }
        self.check(resource, &body, custom_fields)?;
        self.next_id += 1;
        let mut record = Value::Object(body);
        record["id"] = json!(self.next_id);
        record["add_time"] = json!(now());
        record["update_time"] = json!(now());
        if resource == "deals" {
            record["status"] = json!(record["status"].as_str().unwrap_or("open"));
            if record["status"] == "won" {
                record["won_time"] = json!(now());
            }
            if !record["custom_fields"].is_object() {
                record["custom_fields"] = json!({});
            }
            for key in custom_fields {
                if record["custom_fields"].get(key).is_none() {
                    record["custom_fields"][key] = Value::Null;
                }
            }
        }
        if resource == "activities" {
            record["done"] = json!(record["done"].as_bool().unwrap_or(false));
            if record["done"] == true {
                record["marked_as_done_time"] = json!(now());
            }
        }
        if resource == "deal_products" {
            price_deal_product(&mut record)?;
            if let Some(product) = record["product_id"]
                .as_u64()
                .and_then(|id| self.get("products", id))
            {
                record["name"] = product["name"].clone();
            }
        }
        self.records
            .entry(resource.to_owned())
            .or_default()
            .insert(self.next_id, record.clone());
        if resource == "deal_products" {
            self.recompute_value(record["deal_id"].as_u64().unwrap_or_default());
        }
        Ok(record)
    }

    /// Changes a record (v2 PATCH); returns `(previous values of changed fields, record)`.
    pub(crate) fn update(
        &mut self,
        resource: &str,
        id: u64,
        body: Map<String, Value>,
        custom_fields: &[String],
    ) -> Result<(Value, Value), Rejection> {
        self.check(resource, &body, custom_fields)?;
        let record = self
            .records
            .get_mut(resource)
            .and_then(|r| r.get_mut(&id))
            .ok_or((404, not_found(resource)))?;
        let mut previous = Map::new();
        for (key, value) in body {
            if key == "custom_fields" {
                let mut before = Map::new();
                for (field, v) in value.as_object().cloned().unwrap_or_default() {
                    before.insert(field.clone(), record["custom_fields"][&field].clone());
                    record["custom_fields"][&field] = v;
                }
                previous.insert(key, Value::Object(before));
            } else if record.get(&key) != Some(&value) {
                previous.insert(
                    key.clone(),
                    record.get(&key).cloned().unwrap_or(Value::Null),
                );
                record[&key] = value;
            }
        }
        if resource == "activities" && previous.contains_key("done") {
            record["marked_as_done_time"] = if record["done"] == true {
                json!(now())
            } else {
                Value::Null
            };
        }
        if previous.contains_key("status") && record["status"] == "won" {
            record["won_time"] = json!(now());
        }
        record["update_time"] = json!(now());
        Ok((Value::Object(previous), record.clone()))
    }

    fn check(
        &self,
        resource: &str,
        body: &Map<String, Value>,
        custom_fields: &[String],
    ) -> Result<(), Rejection> {
        if resource == "deals" {
            if let Some(status) = body.get("status")
                && !matches!(status.as_str(), Some("open" | "won" | "lost"))
            {
                return Err((400, "status must be one of open, won, lost".into()));
            }
            if let Some(fields) = body.get("custom_fields") {
                let Some(fields) = fields.as_object() else {
                    return Err((400, "custom_fields must be an object".into()));
                };
                if let Some(unknown) = fields.keys().find(|k| !custom_fields.contains(k)) {
                    return Err((400, format!("Custom field {unknown} does not exist")));
                }
            }
        }
        if resource == "activities" {
            if let Some(kind) = body.get("type")
                && !kind.as_str().is_some_and(|k| ACTIVITY_TYPES.contains(&k))
            {
                return Err((400, format!("Activity type {kind} does not exist")));
            }
            if let Some(done) = body.get("done")
                && !done.is_boolean()
            {
                return Err((400, "done must be a boolean".into()));
            }
            let text = |field: &str| body.get(field).filter(|v| !v.is_null()).map(|v| v.as_str());
            if let Some(date) = text("due_date")
                && date.is_none_or(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err())
            {
                return Err((400, "due_date must be a date in YYYY-MM-DD format".into()));
            }
            if let Some(time) = text("due_time")
                && time.is_none_or(|t| chrono::NaiveTime::parse_from_str(t, "%H:%M").is_err())
            {
                return Err((400, "due_time must be a time in HH:MM format".into()));
            }
        }
        for (field, resource) in [
            ("owner_id", "users"),
            ("org_id", "organizations"),
            ("person_id", "persons"),
            ("deal_id", "deals"),
            ("product_id", "products"),
        ] {
            if let Some(value) = body.get(field).filter(|v| !v.is_null())
                && value
                    .as_u64()
                    .and_then(|id| self.get(resource, id))
                    .is_none()
            {
                return Err((400, format!("{field} refers to a missing record")));
            }
        }
        Ok(())
    }

    /// The token's user, created on first use.
    pub(crate) fn token_user(&mut self) -> Value {
        let users = self.records.entry("users".to_owned()).or_default();
        users
            .entry(TOKEN_USER)
            .or_insert_with(|| {
                json!({ "id": TOKEN_USER, "name": "Sandbox Admin", "email": "admin@sandbox.pipedrive.com",
                        "active_flag": true, "is_admin": 1, "created": now(), "modified": now() })
            })
            .clone()
    }

    /// Adds a user (v1 `POST /users`: `name`, `email`, `active_flag`).
    pub(crate) fn create_user(&mut self, body: Map<String, Value>) -> Result<Value, Rejection> {
        self.token_user();
        let email = body.get("email").and_then(Value::as_str).unwrap_or("");
        if !email.contains('@') {
            return Err((400, "email is required".into()));
        }
        let active = match body.get("active_flag") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err((400, "active_flag must be a boolean".into())),
        };
        self.next_user_id = self.next_user_id.max(TOKEN_USER) + 1;
        let id = self.next_user_id;
        let name = body.get("name").and_then(Value::as_str).unwrap_or(email);
        let user = json!({ "id": id, "name": name, "email": email, "active_flag": active,
                           "is_admin": 0, "created": now(), "modified": now() });
        self.records
            .entry("users".to_owned())
            .or_default()
            .insert(id, user.clone());
        Ok(user)
    }

    /// Changes a user's `active_flag` (v1 `PUT /users/{id}`).
    pub(crate) fn update_user(
        &mut self,
        id: u64,
        body: &Map<String, Value>,
    ) -> Result<Value, Rejection> {
        let user = self
            .records
            .get_mut("users")
            .and_then(|u| u.get_mut(&id))
            .ok_or((404, "User not found".to_owned()))?;
        match body.get("active_flag") {
            Some(Value::Bool(active)) => user["active_flag"] = json!(active),
            _ => return Err((400, "active_flag must be a boolean".into())),
        }
        user["modified"] = json!(now());
        Ok(user.clone())
    }

    /// A deal with products is worth the sum of its enabled products' sums.
    fn recompute_value(&mut self, deal_id: u64) {
        let total: f64 = self
            .list("deal_products")
            .iter()
            .filter(|p| p["deal_id"].as_u64() == Some(deal_id))
            .filter(|p| p["is_enabled"] != false)
            .filter_map(|p| p["sum"].as_f64())
            .sum();
        if let Some(deal) = self
            .records
            .get_mut("deals")
            .and_then(|d| d.get_mut(&deal_id))
        {
            deal["value"] = json!(total);
        }
    }
}

/// Fills a deal product's defaults and its `sum` as Pipedrive's v2 API does:
/// `discount` is a percentage of the line or an amount off the line
/// (`discount_type`), `tax` a percentage added on top (`tax_method`
/// `exclusive`) or already in the price (`inclusive`, `none`). `is_enabled`
/// (v1: `enabled_flag`) false keeps the product out of the deal's value.
fn price_deal_product(record: &mut Value) -> Result<(), Rejection> {
    let number = |field: &str, default: f64| match &record[field] {
        Value::Null => Ok(default),
        v => v
            .as_f64()
            .filter(|n| *n >= 0.0)
            .ok_or((400, format!("{field} must be a non-negative number"))),
    };
    let quantity = number("quantity", 1.0)?;
    let price = number("item_price", 0.0)?;
    let discount = number("discount", 0.0)?;
    let tax = number("tax", 0.0)?;
    let discount_type = record["discount_type"]
        .as_str()
        .unwrap_or("percentage")
        .to_owned();
    let tax_method = record["tax_method"]
        .as_str()
        .unwrap_or("exclusive")
        .to_owned();
    let gross = quantity * price;
    let net = match discount_type.as_str() {
        "percentage" if discount <= 100.0 => gross * (1.0 - discount / 100.0),
        "amount" if discount <= gross => gross - discount,
        "percentage" | "amount" => {
            return Err((400, "discount exceeds the product's total".into()));
        }
        _ => {
            return Err((
                400,
                "discount_type must be one of percentage, amount".into(),
            ));
        }
    };
    let sum = match tax_method.as_str() {
        "exclusive" => net * (1.0 + tax / 100.0),
        "inclusive" | "none" => net,
        _ => {
            return Err((
                400,
                "tax_method must be one of inclusive, exclusive, none".into(),
            ));
        }
    };
    let enabled = match record
        .get("is_enabled")
        .or_else(|| record.get("enabled_flag"))
    {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err((400, "is_enabled must be a boolean".into())),
    };
    if let Some(object) = record.as_object_mut() {
        object.remove("enabled_flag");
    }
    record["quantity"] = json!(quantity);
    record["item_price"] = json!(price);
    record["discount"] = json!(discount);
    record["discount_type"] = json!(discount_type);
    record["tax"] = json!(tax);
    record["tax_method"] = json!(tax_method);
    record["is_enabled"] = json!(enabled);
    record["sum"] = json!(sum);
    Ok(())
}

/// Pipedrive's not-found text, e.g. "Deal not found".
pub(crate) fn not_found(resource: &str) -> String {
    let singular = match resource {
        "deals" => "Deal",
        "organizations" => "Organization",
        "persons" => "Person",
        "products" => "Product",
        "activities" => "Activity",
        _ => "Item",
    };
    format!("{singular} not found")
}

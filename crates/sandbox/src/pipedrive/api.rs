//! The Pipedrive API handlers: v2 resources, deal products and v1 notes.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::store::not_found;
use super::{AppState, error, ok};

fn body_object(body: &Bytes) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Box::new(error(400, "Invalid JSON body"))),
    }
}

fn known(resource: &str) -> Result<(), Box<Response>> {
    if matches!(
        resource,
        "deals" | "organizations" | "persons" | "products" | "activities"
    ) {
        Ok(())
    } else {
        Err(Box::new(error(404, "Unknown method .")))
    }
}

pub(super) async fn list(
    State(shared): State<AppState>,
    UrlPath(resource): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = known(&resource) {
        return *r;
    }
    let mut items = shared.data.read().list(&resource);
    if let Some(ids) = q.get("ids") {
        let wanted: Vec<&str> = ids.split(',').collect();
        items.retain(|i| wanted.contains(&i["id"].to_string().as_str()));
    }
    if let Some(deal) = q.get("deal_id") {
        let deal: Option<u64> = deal.parse().ok();
        items.retain(|i| i["deal_id"].as_u64() == deal);
    }
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 500);
    // The cursor is the offset of the next page, opaque to clients.
    let offset: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let next = (offset + limit < items.len()).then(|| (offset + limit).to_string());
    let items: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    ok(
        StatusCode::OK,
        Value::Array(items),
        json!({ "next_cursor": next }),
    )
}

pub(super) async fn read(
    State(shared): State<AppState>,
    UrlPath((resource, id)): UrlPath<(String, u64)>,
) -> Response {
    if let Err(r) = known(&resource) {
        return *r;
    }
    match shared.data.read().get(&resource, id) {
        Some(record) => ok(StatusCode::OK, record.clone(), Value::Null),
        None => error(404, &not_found(&resource)),
    }
}

pub(super) async fn create(
    State(shared): State<AppState>,
    UrlPath(resource): UrlPath<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = known(&resource) {
        return *r;
    }
    let body = match body_object(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = shared
        .data
        .write()
        .create(&resource, body, &shared.config.deal_custom_fields);
    match result {
        Ok(record) => {
            if resource == "deals" {
                shared.webhooks.deal_event("create", &record, Value::Null);
            }
            ok(StatusCode::CREATED, record, Value::Null)
        }
        Err((status, message)) => error(status, &message),
    }
}

pub(super) async fn update(
    State(shared): State<AppState>,
    UrlPath((resource, id)): UrlPath<(String, u64)>,
    body: Bytes,
) -> Response {
    if let Err(r) = known(&resource) {
        return *r;
    }
    let body = match body_object(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = shared
        .data
        .write()
        .update(&resource, id, body, &shared.config.deal_custom_fields);
    match result {
        Ok((previous, record)) => {
            if resource == "deals" {
                shared.webhooks.deal_event("change", &record, previous);
            }
            ok(StatusCode::OK, record, Value::Null)
        }
        Err((status, message)) => error(status, &message),
    }
}

/// Attached products, `cursor` being the offset of the next page.
pub(super) async fn deal_products(
    State(shared): State<AppState>,
    UrlPath(id): UrlPath<u64>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let data = shared.data.read();
    if data.get("deals", id).is_none() {
        return error(404, "Deal not found");
    }
    let all: Vec<Value> = data
        .list("deal_products")
        .into_iter()
        .filter(|p| p["deal_id"].as_u64() == Some(id))
        .collect();
    let offset: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 500);
    let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
    let next = (offset + limit < all.len()).then(|| (offset + limit).to_string());
    ok(
        StatusCode::OK,
        Value::Array(page),
        json!({ "next_cursor": next }),
    )
}

pub(super) async fn add_deal_product(
    State(shared): State<AppState>,
    UrlPath(id): UrlPath<u64>,
    body: Bytes,
) -> Response {
    let mut body = match body_object(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    body.insert("deal_id".into(), json!(id));
    let result = shared.data.write().create("deal_products", body, &[]);
    match result {
        Ok(record) => ok(StatusCode::CREATED, record, Value::Null),
        Err((status, message)) => error(status, &message),
    }
}

/// v1 users: the company's users, with `active_flag`.
pub(super) async fn list_users(State(shared): State<AppState>) -> Response {
    let users = {
        let mut data = shared.data.write();
        data.token_user();
        data.list("users")
    };
    ok(
        StatusCode::OK,
        Value::Array(users),
        json!({ "pagination": { "start": 0, "limit": 100, "more_items_in_collection": false } }),
    )
}

pub(super) async fn read_user(
    State(shared): State<AppState>,
    UrlPath(id): UrlPath<u64>,
) -> Response {
    let user = {
        let mut data = shared.data.write();
        data.token_user();
        data.get("users", id).cloned()
    };
    match user {
        Some(user) => ok(StatusCode::OK, user, Value::Null),
        None => error(404, "User not found"),
    }
}

pub(super) async fn create_user(State(shared): State<AppState>, body: Bytes) -> Response {
    let body = match body_object(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = shared.data.write().create_user(body);
    match result {
        Ok(user) => ok(StatusCode::CREATED, user, Value::Null),
        Err((status, message)) => error(status, &message),
    }
}

pub(super) async fn update_user(
    State(shared): State<AppState>,
    UrlPath(id): UrlPath<u64>,
    body: Bytes,
) -> Response {
    let body = match body_object(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = shared.data.write().update_user(id, &body);
    match result {
        Ok(user) => ok(StatusCode::OK, user, Value::Null),
        Err((status, message)) => error(status, &message),
    }
}

pub(super) async fn list_notes(
    State(shared): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut notes = shared.data.read().list("notes");
    if let Some(deal) = q.get("deal_id") {
        let deal: Option<u64> = deal.parse().ok();
        notes.retain(|n| n["deal_id"].as_u64() == deal);
    }
    ok(
        StatusCode::OK,
        Value::Array(notes),
        json!({ "pagination": { "start": 0, "limit": 100, "more_items_in_collection": false } }),
    )
}

pub(super) async fn create_note(State(shared): State<AppState>, body: Bytes) -> Response {
    let body = match body_object(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = shared.data.write().create("notes", body, &[]);
    match result {
        Ok(record) => ok(StatusCode::CREATED, record, Value::Null),
        Err((status, message)) => error(status, &message),
    }
}

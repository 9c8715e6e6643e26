//! The owners API (`/crm/v3/owners`): the portal's users that records can be
//! assigned to through `hubspot_owner_id`.
//!
//! The sandbox portal has a fixed set of owners (HubSpot creates owners from
//! the portal's users; there is no API to create them).

use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::error::HsError;
use crate::util::{parse_query, query_value};

/// One seeded owner: id, e-mail, first and last name, user id.
struct Owner {
    id: &'static str,
    email: &'static str,
    first_name: &'static str,
    last_name: &'static str,
    user_id: u64,
}

/// The sandbox portal's owners.
const OWNERS: [Owner; 3] = [
    Owner {
        id: "83000001",
        email: "casey.csm@example.com",
        first_name: "Casey",
        last_name: "Success",
        user_id: 9_100_001,
    },
    Owner {
        id: "83000002",
        email: "sam.sales@example.com",
        first_name: "Sam",
        last_name: "Seller",
        user_id: 9_100_002,
    },
    Owner {
        id: "83000003",
        email: "ops@example.com",
        first_name: "Olive",
        last_name: "Ops",
        user_id: 9_100_003,
    },
];

/// True when `id` names an owner of the portal.
pub(super) fn is_owner(id: &str) -> bool {
    OWNERS.iter().any(|owner| owner.id == id)
}

/// Every owner id, for the allowed-options error message.
pub(super) fn owner_ids() -> Vec<&'static str> {
    OWNERS.iter().map(|owner| owner.id).collect()
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/crm/v3/owners", get(list))
        .route("/crm/v3/owners/", get(list))
        .route("/crm/v3/owners/{owner_id}", get(read))
}

fn render(owner: &Owner) -> Value {
    json!({
        "id": owner.id,
        "email": owner.email,
        "type": "PERSON",
        "firstName": owner.first_name,
        "lastName": owner.last_name,
        "userId": owner.user_id,
        "userIdIncludingInactive": owner.user_id,
        "createdAt": "2026-01-05T09:00:00.000Z",
        "updatedAt": "2026-01-05T09:00:00.000Z",
        "archived": false,
        "teams": [],
    })
}

/// `GET /crm/v3/owners`: the owners, filtered by `email`; one page (the sandbox has few).
async fn list(RawQuery(query): RawQuery) -> Response {
    let pairs = parse_query(query.as_deref());
    let email = query_value(&pairs, "email");
    let results: Vec<Value> = OWNERS
        .iter()
        .filter(|owner| email.is_none_or(|email| owner.email.eq_ignore_ascii_case(email)))
        .map(render)
        .collect();
    Json(json!({ "results": results })).into_response()
}

/// `GET /crm/v3/owners/{ownerId}`.
async fn read(Path(owner_id): Path<String>) -> Response {
    match OWNERS.iter().find(|owner| owner.id == owner_id) {
        Some(owner) => Json(render(owner)).into_response(),
        None => HsError::object_not_found(&owner_id).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_known_by_id_only() {
        assert!(is_owner("83000001"));
        assert!(!is_owner("casey.csm@example.com"));
        assert_eq!(owner_ids().len(), OWNERS.len());
    }
}

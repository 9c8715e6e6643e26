//! `/api/v2.0/subscriptions`: webhook subscriptions with the validation
//! handshake BC performs before creating or renewing one.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::BcError;
use super::handlers::{Call, check_properties, created, not_allowed, page};
use super::notifications::subscribed_set;
use super::orders::check_if_match;
use super::store::{BcData, Entity, SUBSCRIPTION, text};
use crate::util::rfc3339_millis;

/// A subscription lives three days unless renewed.
const LIFETIME_DAYS: i64 = 3;
/// BC caps `clientState` at 2048 characters.
const MAX_CLIENT_STATE: usize = 2048;
/// Entity sets that support webhooks (`webhookSupportedResources`).
const SUPPORTED: &[&str] = &[
    "customers",
    "vendors",
    "items",
    "salesOrders",
    "salesInvoices",
    "salesQuotes",
    "salesCreditMemos",
    "purchaseInvoices",
    "customerPaymentJournals",
    "employees",
    "accounts",
];
/// How long the subscriber gets to answer the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Dispatches `subscriptions` and `subscriptions('{id}')`.
pub(super) async fn handle(call: &Call<'_>, key: Option<&str>) -> Result<Response, BcError> {
    match (key, &call.method) {
        (None, &Method::GET) => {
            let data = call.shared.data.read();
            let all: Vec<Entity> = data
                .subscriptions
                .iter()
                .map(|s| call.query.project(s))
                .collect();
            drop(data);
            Ok(page(call, "subscriptions", all))
        }
        (None, &Method::POST) => create(call).await,
        (Some(id), &Method::GET) => {
            let data = call.shared.data.read();
            let found = BcData::by_id(&data.subscriptions, "subscriptionId", id)
                .cloned()
                .ok_or_else(|| BcError::record_not_found("API Webhook Subscription"))?;
            Ok(axum::Json(Value::Object(found)).into_response())
        }
        (Some(id), &Method::PATCH) => renew(call, id).await,
        (Some(id), &Method::DELETE) => {
            let mut data = call.shared.data.write();
            let found = BcData::by_id(&data.subscriptions, "subscriptionId", id)
                .ok_or_else(|| BcError::record_not_found("API Webhook Subscription"))?;
            check_if_match(found, call.if_match())?;
            data.subscriptions
                .retain(|s| text(s, "subscriptionId") != Some(id));
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(not_allowed()),
    }
}

fn validate(call: &Call<'_>, body: &Map<String, Value>) -> Result<(String, String), BcError> {
    check_properties(body, SUBSCRIPTION, &[], "subscription")?;
    let url = text(body, "notificationUrl")
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .ok_or_else(|| BcError::bad_request("notificationUrl must be an absolute http(s) URL."))?;
    let resource = text(body, "resource").unwrap_or_default();
    let set = subscribed_set(resource, &call.shared.config.company_id)
        .filter(|set| SUPPORTED.contains(set))
        .ok_or_else(|| {
            BcError::bad_request(format!(
                "The resource '{resource}' is not supported for webhooks. Use /api/v2.0/companies({{id}})/<entity set> of webhookSupportedResources."
            ))
        })?;
    if text(body, "clientState").is_some_and(|c| c.chars().count() > MAX_CLIENT_STATE) {
        return Err(BcError::bad_request(
            "clientState must be at most 2048 characters.",
        ));
    }
    debug_assert!(!set.is_empty());
    Ok((url.to_owned(), resource.to_owned()))
}

/// POSTs `notificationUrl?validationToken=…` and wants the token back as the body.
async fn handshake(call: &Call<'_>, url: &str) -> Result<(), BcError> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let separator = if url.contains('?') { '&' } else { '?' };
    let target = format!("{url}{separator}validationToken={token}");
    let failed = |why: String| {
        BcError::bad_request(format!(
            "The subscription handshake with the notification URL '{url}' failed: {why}"
        ))
    };
    let response = call
        .shared
        .http
        .post(&target)
        .timeout(HANDSHAKE_TIMEOUT)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| failed(e.to_string()))?;
    if status.as_u16() != 200 {
        return Err(failed(format!("the subscriber answered {status}")));
    }
    if body.trim().trim_matches('"') != token {
        return Err(failed(
            "the response body is not the validationToken".to_owned(),
        ));
    }
    Ok(())
}

async fn create(call: &Call<'_>) -> Result<Response, BcError> {
    let body = call.object()?;
    let (url, resource) = validate(call, &body)?;
    handshake(call, &url).await?;
    let now = chrono::Utc::now();
    let mut entity = Map::new();
    entity.insert(
        "subscriptionId".into(),
        json!(uuid::Uuid::new_v4().simple().to_string()),
    );
    entity.insert("notificationUrl".into(), json!(url));
    entity.insert("resource".into(), json!(resource));
    entity.insert("userId".into(), json!(call.shared.config.client_id));
    entity.insert(
        "clientState".into(),
        body.get("clientState").cloned().unwrap_or(json!("")),
    );
    entity.insert(
        "expirationDateTime".into(),
        json!(rfc3339_millis(now + chrono::Duration::days(LIFETIME_DAYS))),
    );
    entity.insert("systemCreatedAt".into(), json!(rfc3339_millis(now)));
    let mut data = call.shared.data.write();
    data.stamp(&mut entity);
    data.subscriptions.push(entity.clone());
    drop(data);
    created(call, "subscriptions", entity)
}

async fn renew(call: &Call<'_>, id: &str) -> Result<Response, BcError> {
    let mut body = call.object()?;
    let current = {
        let data = call.shared.data.read();
        let found = BcData::by_id(&data.subscriptions, "subscriptionId", id)
            .cloned()
            .ok_or_else(|| BcError::record_not_found("API Webhook Subscription"))?;
        check_if_match(&found, call.if_match())?;
        found
    };
    for key in ["notificationUrl", "resource"] {
        if !body.contains_key(key) {
            body.insert(key.into(), current[key].clone());
        }
    }
    let (url, resource) = validate(call, &body)?;
    handshake(call, &url).await?;
    let mut updated = current;
    updated.insert("notificationUrl".into(), json!(url));
    updated.insert("resource".into(), json!(resource));
    if let Some(state) = body.get("clientState") {
        updated.insert("clientState".into(), state.clone());
    }
    let now = chrono::Utc::now();
    updated.insert(
        "expirationDateTime".into(),
        json!(rfc3339_millis(now + chrono::Duration::days(LIFETIME_DAYS))),
    );
    updated.insert("systemModifiedAt".into(), json!(rfc3339_millis(now)));
    let mut data = call.shared.data.write();
    data.stamp(&mut updated);
    if let Some(slot) = data
        .subscriptions
        .iter_mut()
        .find(|s| text(s, "subscriptionId") == Some(id))
    {
        *slot = updated.clone();
    }
    Ok(axum::Json(Value::Object(updated)).into_response())
}

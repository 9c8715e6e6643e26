//! `POST /webhooks/dynamics365`: a Dataverse service-endpoint webhook (the
//! `RemoteExecutionContext` of a `Win` or `Update` step on opportunity).
//! Dataverse signs nothing; the endpoint's registration carries a key, sent as
//! a configured header (`HttpHeader`) or as `?code=` (`WebhookKey`).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_connector::dynamics365::webhook::{self, WebhookSettings};
use secrecy::ExposeSecret;

use super::{Shared, SourceState, secret_matches};
use crate::Settings;
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::deal_won::{self, WonDeal};
use crate::events::unroutable::{self, UnroutableNotice};

pub(crate) const SYSTEM: &str = "dynamics365";

/// The Dataverse route, with the `[crm.dynamics365]` endpoint key.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/dynamics365", post(receive))
        .with_state(SourceState::new(shared, settings.crm.dynamics365.clone()))
}

/// True when the request carries the configured header key or `code`.
fn authorised(
    settings: &WebhookSettings,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> bool {
    let header_ok = !settings.webhook_header_name.is_empty()
        && headers
            .get(settings.webhook_header_name.as_str())
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| secret_matches(v, settings.webhook_header_value.expose_secret()));
    let key_ok = query
        .get("code")
        .is_some_and(|code| secret_matches(code, settings.webhook_key.expose_secret()));
    header_ok || key_ok
}

async fn receive(
    State(state): State<SourceState<WebhookSettings>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    if !settings.is_configured() {
        return Err(IngressError::SourceNotConfigured);
    }
    if !authorised(settings, &headers, &query) {
        return Err(IngressError::InvalidCredentials);
    }
    super::guards::require_json(&headers)?;
    let body = super::body(body)?;
    let context = webhook::parse(&body).map_err(|e| IngressError::Malformed(e.to_string()))?;
    let won: Vec<WonDeal> = webhook::deal_won(&context)
        .map(|n| WonDeal {
            dedup_key: format!(
                "dynamics365:{}:opportunity:{}:{}",
                n.organization_id, n.opportunity_id, n.operation_id
            ),
            occurred_at: n
                .occurred_at
                .as_deref()
                .and_then(parse_time)
                .unwrap_or_else(Utc::now),
            deal_id: n.opportunity_id,
            stage: "won".to_owned(),
            tenant: n.organization_id,
        })
        .into_iter()
        .collect();
    let ignored = usize::from(won.is_empty());
    let mut accepted = deal_won::publish(&state.shared.publisher, SYSTEM, &won, ignored).await?;
    let others = if webhook::is_opportunity(&context) {
        Vec::new()
    } else {
        vec![UnroutableNotice::whole_body(
            format!("{}.{}", context.primary_entity_name, context.message_name),
            format!(
                "{}:{}",
                context.organization_id.to_ascii_lowercase(),
                webhook::operation_id(&context)
            ),
            &body,
        )]
    };
    accepted.unroutable = unroutable::publish(
        &state.shared.publisher,
        &state.shared.warned_types,
        SYSTEM,
        &others,
    )
    .await?;
    Ok((StatusCode::OK, Json(accepted)))
}

/// ISO 8601, or the WCF `/Date(ms)/` form the execution context uses.
fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Some(ms) = raw
        .strip_prefix("/Date(")
        .and_then(|r| r.strip_suffix(")/"))
    {
        let digits: String = ms
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        return DateTime::from_timestamp_millis(digits.parse().ok()?);
    }
    DateTime::parse_from_rfc3339(raw).ok().map(|t| t.to_utc())
}

//! Carrier tracking webhooks, one route per aggregator:
//!
//! - `POST /webhooks/aftership`: AfterShip Tracking. `aftership-hmac-sha256`
//!   is the Base64 HMAC-SHA256 of the raw body under the webhook secret.
//!   `tracking_update` events map `msg.tag` / `msg.subtag` through
//!   `ingress.aftership.tags`; `event_id` de-duplicates re-sends.
//! - `POST /webhooks/easypost`: EasyPost. `X-Hmac-Signature` is
//!   `hmac-sha256-hex=` and the lowercase hex HMAC-SHA256 of the raw body,
//!   keyed with the NFKD form of the webhook secret, as EasyPost's client
//!   libraries compute it. `tracker.*` events map `result.status` through
//!   `ingress.easypost.statuses`; the event `id` de-duplicates re-sends.
//!
//! Neither scheme signs a timestamp, so neither has a replay window; a replay
//! within JetStream's duplicate window is absorbed by the event id, and the
//! flow ignores a scan that does not move the parcel forward. A status mapped
//! to `ignore` is acknowledged and counted as ignored; one the map does not
//! know is stored as unroutable, so no scan vanishes unseen.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_proto::{CarrierScan, timestamp_from};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization as _;

use super::auth::{bytes_match, header, hmac_sha256};
use super::{Shared, SourceState};
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::fulfilment::{self, Kind, Notice};
use crate::events::unroutable::UnroutableNotice;
use crate::{AfterShipIngress, EasyPostIngress, Settings};

pub(crate) const AFTERSHIP: &str = "aftership";
pub(crate) const EASYPOST: &str = "easypost";
/// AfterShip Tracking's signature header.
pub(crate) const AFTERSHIP_SIGNATURE: &str = "aftership-hmac-sha256";
/// EasyPost's signature header.
pub(crate) const EASYPOST_SIGNATURE: &str = "x-hmac-signature";

/// The AfterShip route, with `[ingress.aftership]`.
pub(crate) fn aftership_routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/aftership", post(aftership))
        .with_state(SourceState::new(shared, settings.ingress.aftership.clone()))
}

/// The EasyPost route, with `[ingress.easypost]`.
pub(crate) fn easypost_routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/easypost", post(easypost))
        .with_state(SourceState::new(shared, settings.ingress.easypost.clone()))
}

/// Checks AfterShip's Base64 HMAC-SHA256 of `body`.
pub(crate) fn verify_aftership(
    secret: &str,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), IngressError> {
    let signature = signature.ok_or(IngressError::MissingSignature)?;
    let expected = BASE64.encode(hmac_sha256(secret.as_bytes(), &[body]));
    if bytes_match(signature.trim().as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(IngressError::InvalidSignature)
    }
}

/// Checks EasyPost's `hmac-sha256-hex=<hex>` of `body`, keyed with NFKD(secret).
pub(crate) fn verify_easypost(
    secret: &str,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), IngressError> {
    let signature = signature.ok_or(IngressError::MissingSignature)?;
    let key: String = secret.nfkd().collect();
    let expected = format!(
        "hmac-sha256-hex={}",
        hex::encode(hmac_sha256(key.as_bytes(), &[body]))
    );
    let presented = signature.trim().to_ascii_lowercase();
    if bytes_match(presented.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(IngressError::InvalidSignature)
    }
}

/// A mapped scan, or what to do instead.
enum Outcome {
    Scan(Box<Notice>),
    Ignored,
    Unroutable(UnroutableNotice),
}

/// Publishes what one delivery came to and answers.
async fn finish(
    shared: &Shared,
    source: &'static str,
    outcome: Outcome,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let publisher = &shared.publisher;
    let accepted = match outcome {
        Outcome::Scan(notice) => fulfilment::publish(publisher, source, &[*notice], 0).await?,
        Outcome::Ignored => fulfilment::publish(publisher, source, &[], 1).await?,
        Outcome::Unroutable(notice) => {
            fulfilment::publish_with_unroutable(
                publisher,
                &shared.warned_types,
                source,
                &[],
                &[notice],
            )
            .await?
        }
    };
    Ok((StatusCode::OK, Json(accepted)))
}

fn scan_notice(
    source: &str,
    tenant: &str,
    event_id: &str,
    occurred_at: DateTime<Utc>,
    scan: CarrierScan,
) -> Notice {
    Notice {
        tenant: tenant.to_owned(),
        dedup_key: format!("{source}:{event_id}"),
        about: format!("shipment/{}", scan.tracking_number),
        occurred_at,
        kind: Kind::CarrierScan(scan),
    }
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw).ok().map(|t| t.to_utc())
}

// ---------------------------------------------------------------- AfterShip

#[derive(Debug, Deserialize)]
struct AfterShipEvent {
    event: String,
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    ts: Option<i64>,
    msg: AfterShipTracking,
}

#[derive(Debug, Deserialize)]
struct AfterShipTracking {
    #[serde(default)]
    id: String,
    tracking_number: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    subtag: String,
    #[serde(default)]
    subtag_message: String,
    #[serde(default)]
    courier_tracking_link: Option<String>,
    #[serde(default)]
    checkpoints: Vec<AfterShipCheckpoint>,
}

#[derive(Debug, Deserialize)]
struct AfterShipCheckpoint {
    #[serde(default)]
    checkpoint_time: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    location: Option<String>,
}

async fn aftership(
    State(state): State<SourceState<AfterShipIngress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    let body = super::body(body)?;
    verify_aftership(
        settings.secret.expose_secret(),
        header(&headers, AFTERSHIP_SIGNATURE),
        &body,
    )?;
    super::guards::require_json(&headers)?;
    let event: AfterShipEvent =
        serde_json::from_slice(&body).map_err(|e| IngressError::Malformed(e.to_string()))?;
    let outcome = aftership_outcome(settings, &event, &body)?;
    finish(&state.shared, AFTERSHIP, outcome).await
}

fn aftership_outcome(
    settings: &AfterShipIngress,
    event: &AfterShipEvent,
    body: &[u8],
) -> Result<Outcome, IngressError> {
    let tracking = &event.msg;
    let event_id = if event.event_id.is_empty() {
        format!(
            "{}:{}:{}:{}",
            tracking.id,
            tracking.tag,
            tracking.subtag,
            event.ts.unwrap_or_default()
        )
    } else {
        event.event_id.clone()
    };
    let unroutable = |event_type: String| {
        Outcome::Unroutable(UnroutableNotice::whole_body(
            event_type,
            event_id.clone(),
            body,
        ))
    };
    if event.event != "tracking_update" {
        return Ok(unroutable(event.event.clone()));
    }
    if tracking.tracking_number.trim().is_empty() {
        return Err(IngressError::Malformed(
            "msg.tracking_number is empty".into(),
        ));
    }
    let Some(name) = settings.status(&tracking.tag, &tracking.subtag) else {
        return Ok(unroutable(format!("tracking_update.{}", tracking.tag)));
    };
    let Some(status) = name.to_proto() else {
        return Ok(Outcome::Ignored);
    };
    let latest = tracking.checkpoints.last();
    let occurred_at = latest
        .and_then(|c| c.checkpoint_time.as_deref())
        .and_then(parse_time)
        .or_else(|| event.ts.and_then(|ts| DateTime::from_timestamp(ts, 0)))
        .unwrap_or_else(Utc::now);
    let detail = if tracking.subtag_message.is_empty() {
        latest.map(|c| c.message.clone()).unwrap_or_default()
    } else {
        tracking.subtag_message.clone()
    };
    let mut scan = CarrierScan {
        source: AFTERSHIP.to_owned(),
        carrier: tracking.slug.clone(),
        tracking_number: tracking.tracking_number.trim().to_owned(),
        occurred_at: Some(timestamp_from(occurred_at)),
        detail,
        location: latest.and_then(|c| c.location.clone()).unwrap_or_default(),
        tracking_url: tracking.courier_tracking_link.clone().unwrap_or_default(),
        source_event_id: event_id.clone(),
        ..CarrierScan::default()
    };
    scan.set_status(status);
    Ok(Outcome::Scan(Box::new(scan_notice(
        AFTERSHIP,
        &tracking.slug,
        &event_id,
        occurred_at,
        scan,
    ))))
}

// ----------------------------------------------------------------- EasyPost

#[derive(Debug, Deserialize)]
struct EasyPostEvent {
    id: String,
    description: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    result: Value,
}

#[derive(Debug, Deserialize)]
struct Tracker {
    tracking_code: String,
    status: String,
    #[serde(default)]
    status_detail: Option<String>,
    #[serde(default)]
    carrier: Option<String>,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    tracking_details: Vec<TrackingDetail>,
}

#[derive(Debug, Deserialize)]
struct TrackingDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    datetime: Option<String>,
    #[serde(default)]
    tracking_location: Option<TrackingLocation>,
}

#[derive(Debug, Deserialize)]
struct TrackingLocation {
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    country: Option<String>,
}

async fn easypost(
    State(state): State<SourceState<EasyPostIngress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    let body = super::body(body)?;
    verify_easypost(
        settings.secret.expose_secret(),
        header(&headers, EASYPOST_SIGNATURE),
        &body,
    )?;
    super::guards::require_json(&headers)?;
    let event: EasyPostEvent =
        serde_json::from_slice(&body).map_err(|e| IngressError::Malformed(e.to_string()))?;
    let outcome = easypost_outcome(settings, &event, &body)?;
    finish(&state.shared, EASYPOST, outcome).await
}

fn easypost_outcome(
    settings: &EasyPostIngress,
    event: &EasyPostEvent,
    body: &[u8],
) -> Result<Outcome, IngressError> {
    if event.id.trim().is_empty() {
        return Err(IngressError::Malformed("the event id is empty".into()));
    }
    if !event.description.starts_with("tracker.") {
        return Ok(Outcome::Unroutable(UnroutableNotice::whole_body(
            event.description.clone(),
            event.id.clone(),
            body,
        )));
    }
    let tracker: Tracker = serde_json::from_value(event.result.clone())
        .map_err(|e| IngressError::Malformed(format!("result is not a Tracker: {e}")))?;
    let Some(name) = settings.status(&tracker.status) else {
        return Ok(Outcome::Unroutable(UnroutableNotice::whole_body(
            format!("{}.{}", event.description, tracker.status),
            event.id.clone(),
            body,
        )));
    };
    let Some(status) = name.to_proto() else {
        return Ok(Outcome::Ignored);
    };
    let latest = tracker.tracking_details.last();
    let occurred_at = latest
        .and_then(|d| d.datetime.as_deref())
        .or(tracker.updated_at.as_deref())
        .and_then(parse_time)
        .unwrap_or_else(Utc::now);
    let location = latest
        .and_then(|d| d.tracking_location.as_ref())
        .map(|l| {
            [&l.city, &l.state, &l.country]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let detail = latest
        .and_then(|d| d.message.clone())
        .or(tracker.status_detail.clone())
        .unwrap_or_default();
    let mut scan = CarrierScan {
        source: EASYPOST.to_owned(),
        carrier: tracker.carrier.clone().unwrap_or_default(),
        tracking_number: tracker.tracking_code.trim().to_owned(),
        occurred_at: Some(timestamp_from(occurred_at)),
        detail,
        location,
        tracking_url: tracker.public_url.clone().unwrap_or_default(),
        source_event_id: event.id.clone(),
        ..CarrierScan::default()
    };
    scan.set_status(status);
    if scan.tracking_number.is_empty() {
        return Err(IngressError::Malformed(
            "result.tracking_code is empty".into(),
        ));
    }
    let tenant = if event.mode.is_empty() {
        "production"
    } else {
        event.mode.as_str()
    };
    Ok(Outcome::Scan(Box::new(scan_notice(
        EASYPOST,
        tenant,
        &event.id,
        occurred_at,
        scan,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmerp_proto::CarrierScanStatus;

    #[test]
    fn easypost_keys_with_the_nfkd_secret() {
        // "sécret" composed (U+00E9) and decomposed (e + U+0301) sign alike.
        let body = br#"{"id":"evt_1"}"#;
        let decomposed = "se\u{301}cret";
        let signature = format!(
            "hmac-sha256-hex={}",
            hex::encode(hmac_sha256(decomposed.as_bytes(), &[body]))
        );
        assert!(verify_easypost("s\u{e9}cret", Some(&signature), body).is_ok());
        assert!(matches!(
            verify_easypost("secret", Some(&signature), body),
            Err(IngressError::InvalidSignature)
        ));
        assert!(matches!(
            verify_easypost("s\u{e9}cret", None, body),
            Err(IngressError::MissingSignature)
        ));
    }

    #[test]
    fn aftership_is_base64_of_the_raw_body() {
        let body = br#"{"event":"tracking_update"}"#;
        let signature = BASE64.encode(hmac_sha256(b"as-secret", &[body]));
        assert!(verify_aftership("as-secret", Some(&signature), body).is_ok());
        // The hex form of the same MAC is not AfterShip's encoding.
        let hex_form = hex::encode(hmac_sha256(b"as-secret", &[body]));
        assert!(verify_aftership("as-secret", Some(&hex_form), body).is_err());
    }

    #[test]
    fn subtags_refine_tags_and_unknown_tags_are_unroutable() {
        let settings: AfterShipIngress =
            serde_json::from_value(serde_json::json!({ "secret": "s" })).expect("parses");
        let event = |tag: &str, subtag: &str| -> AfterShipEvent {
            serde_json::from_value(serde_json::json!({
                "event": "tracking_update", "event_id": "e-1", "ts": 1_764_921_600,
                "msg": { "id": "t-1", "tracking_number": "1Z1", "slug": "ups", "tag": tag, "subtag": subtag,
                         "subtag_message": "Returned to sender",
                         "checkpoints": [{ "checkpoint_time": "2026-12-05T09:00:00+01:00", "message": "m", "location": "Leeds" }] }
            }))
            .expect("parses")
        };
        let Outcome::Scan(notice) =
            aftership_outcome(&settings, &event("Exception", "Exception_011"), b"{}").expect("ok")
        else {
            panic!("a scan")
        };
        let Kind::CarrierScan(scan) = notice.kind else {
            panic!("a scan")
        };
        assert_eq!(scan.status(), CarrierScanStatus::ReturnedToSender);
        assert_eq!(scan.location, "Leeds");
        assert_eq!(
            notice.occurred_at,
            parse_time("2026-12-05T08:00:00Z").expect("time")
        );
        assert!(matches!(
            aftership_outcome(&settings, &event("Pending", ""), b"{}"),
            Ok(Outcome::Ignored)
        ));
        assert!(matches!(
            aftership_outcome(&settings, &event("Teleported", ""), b"{}"),
            Ok(Outcome::Unroutable(_))
        ));
    }
}

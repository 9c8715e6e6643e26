//! The fulfilment routes of ingress over real processes (ingress + NATS):
//! every ERP, carrier and messaging route accepts its vendor's authenticated
//! request and puts the canonical event on the right subject once (a re-sent
//! request is a duplicate); every rejection gets its status and a
//! problem+json body and publishes nothing. Signatures here are computed
//! independently of ingress, from the vendors' documented schemes.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use crmerp_proto::event_envelope::Data;
use crmerp_proto::{
    CarrierScanStatus, EventEnvelope, Message as _, MessageDeliveryState, OrderStatus,
};
use crmerp_testkit::{Stack, StackOptions};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{Value, json};

const NETSUITE_SECRET: &str = "ns-shared-secret";
const BC_CLIENT_STATE: &str = "bc-client-state-7f3a";
const S4_USER: &str = "eventmesh";
const S4_PASSWORD: &str = "em-password";
const ORACLE_TOKEN: &str = "oracle-callback-token";
const AFTERSHIP_SECRET: &str = "as-webhook-secret";
/// Not ASCII, so the NFKD step of EasyPost's key matters.
const EASYPOST_SECRET: &str = "s\u{e9}cret-ep";
const TWILIO_TOKEN: &str = "twilio-auth-token";
const BC_COMPANY: &str = "b18aed47-c385-49d2-b954-dbdf8ad71780";
const BC_ORDER: &str = "26814998-936a-401c-81c1-0e848a64971d";

async fn stack() -> anyhow::Result<Stack> {
    let env = [
        ("CRMERP__INGRESS__NETSUITE__SECRET", NETSUITE_SECRET),
        ("CRMERP__INGRESS__NETSUITE__ACCOUNT", "1234567"),
        (
            "CRMERP__INGRESS__BUSINESSCENTRAL__CLIENT_STATE",
            BC_CLIENT_STATE,
        ),
        ("CRMERP__INGRESS__S4HANA__USER", S4_USER),
        ("CRMERP__INGRESS__S4HANA__PASSWORD", S4_PASSWORD),
        ("CRMERP__INGRESS__ORACLEFUSION__BEARER_TOKEN", ORACLE_TOKEN),
        ("CRMERP__INGRESS__AFTERSHIP__SECRET", AFTERSHIP_SECRET),
        ("CRMERP__INGRESS__EASYPOST__SECRET", EASYPOST_SECRET),
        ("CRMERP__INGRESS__TWILIO__AUTH_TOKEN", TWILIO_TOKEN),
    ];
    Stack::start(StackOptions {
        with_worker: false,
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..StackOptions::default()
    })
    .await
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A request as one vendor sends it.
struct Delivery {
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Delivery {
    async fn send(&self, base: &str) -> anyhow::Result<(u16, String, Value)> {
        let mut request = reqwest::Client::new()
            .post(format!("{base}{}", self.path))
            .body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, content_type, body))
    }

    fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
        self
    }

    fn with_body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }
}

fn netsuite_body() -> String {
    json!({
        "account": "1234567", "eventId": "itemfulfillment:77:1764921600000", "eventType": "edit",
        "recordType": "itemfulfillment", "changedAt": "2026-12-05T08:00:00Z",
        "salesOrder": { "id": "42", "tranId": "SO42", "externalId": "hubspot:deal:9001", "status": "E" },
        "fulfillment": { "id": "77", "tranId": "IF77", "shipStatus": "C", "carrier": "UPS",
                         "trackingNumbers": ["1Z999AA10123456784"] }
    })
    .to_string()
}

/// A NetSuite post of `body`, signed at `timestamp` with `secret`.
fn netsuite_signed(body: &str, secret: &str, timestamp: i64) -> Delivery {
    let signature = hex::encode(hmac_sha256(
        secret.as_bytes(),
        format!("{timestamp}.{body}").as_bytes(),
    ));
    Delivery {
        path: "/webhooks/netsuite",
        headers: vec![
            ("content-type", "application/json".into()),
            ("x-crmerp-timestamp", timestamp.to_string()),
            ("x-crmerp-signature", signature),
        ],
        body: body.to_owned(),
    }
}

fn netsuite(body: &str) -> Delivery {
    netsuite_signed(body, NETSUITE_SECRET, Utc::now().timestamp())
}

fn bc_body(client_state: &str) -> String {
    json!({ "value": [{
        "subscriptionId": "sub-1", "clientState": client_state,
        "expirationDateTime": "2026-12-08T08:00:00Z",
        "resource": format!("api/v2.0/companies({BC_COMPANY})/salesOrders({BC_ORDER})"),
        "changeType": "updated", "lastModifiedDateTime": "2026-12-05T08:00:00Z"
    }]})
    .to_string()
}

fn businesscentral(body: &str) -> Delivery {
    Delivery {
        path: "/webhooks/businesscentral",
        headers: vec![("content-type", "application/json".into())],
        body: body.to_owned(),
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

/// A binary-mode CloudEvent of a changed sales order.
fn s4hana(body: &str) -> Delivery {
    Delivery {
        path: "/webhooks/s4hana",
        headers: vec![
            ("content-type", "application/json".into()),
            ("authorization", basic(S4_USER, S4_PASSWORD)),
            ("ce-specversion", "1.0".into()),
            ("ce-id", "b7e2a9f0-0001".into()),
            ("ce-source", "/default/sap.s4.beh/244000000".into()),
            (
                "ce-type",
                "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1".into(),
            ),
            ("ce-time", "2026-12-05T08:00:00Z".into()),
        ],
        body: body.to_owned(),
    }
}

/// A structured-mode CloudEvent of a changed outbound delivery.
fn s4hana_delivery() -> Delivery {
    Delivery {
        path: "/webhooks/s4hana",
        headers: vec![
            ("content-type", "application/cloudevents+json".into()),
            ("authorization", basic(S4_USER, S4_PASSWORD)),
        ],
        body: json!({
            "specversion": "1.0", "id": "b7e2a9f0-0002", "source": "/default/sap.s4.beh/244000000",
            "type": "sap.s4.beh.outbounddelivery.v1.OutboundDelivery.Changed.v1",
            "time": "2026-12-05T08:05:00Z", "datacontenttype": "application/json",
            "data": { "OutboundDelivery": "80000123" }
        })
        .to_string(),
    }
}

fn oracle(body: &str) -> Delivery {
    Delivery {
        path: "/webhooks/oraclefusion",
        headers: vec![
            ("content-type", "application/json".into()),
            ("authorization", format!("Bearer {ORACLE_TOKEN}")),
        ],
        body: body.to_owned(),
    }
}

fn oracle_body() -> String {
    json!({
        "eventId": "om-evt-1", "HeaderId": 300_000_123_456_789_i64, "OrderNumber": "520001",
        "SourceTransactionNumber": "hubspot:deal:9002", "StatusCode": "BACKORDERED",
        "LastUpdateDate": "2026-12-05T08:00:00Z"
    })
    .to_string()
}

fn aftership_signed(body: &str, secret: &str) -> Delivery {
    Delivery {
        path: "/webhooks/aftership",
        headers: vec![
            ("content-type", "application/json".into()),
            (
                "aftership-hmac-sha256",
                BASE64.encode(hmac_sha256(secret.as_bytes(), body.as_bytes())),
            ),
        ],
        body: body.to_owned(),
    }
}

fn aftership_body() -> String {
    json!({
        "event": "tracking_update", "event_id": "as-evt-1", "is_tracking_first_tag": false, "ts": 1_796_457_600,
        "msg": { "id": "trk-as-1", "tracking_number": "1Z999AA10123456784", "slug": "ups",
                 "tag": "Delivered", "subtag": "Delivered_001", "subtag_message": "Delivered",
                 "courier_tracking_link": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
                 "checkpoints": [{ "checkpoint_time": "2026-12-05T09:30:00+01:00", "message": "Delivered",
                                   "location": "Leeds, GB", "tag": "Delivered" }] }
    })
    .to_string()
}

/// EasyPost's key is the NFKD form of the secret: `é` decomposed.
fn easypost_signed(body: &str, secret: &str) -> Delivery {
    let key = secret.replace('\u{e9}', "e\u{301}");
    Delivery {
        path: "/webhooks/easypost",
        headers: vec![
            ("content-type", "application/json".into()),
            (
                "x-hmac-signature",
                format!(
                    "hmac-sha256-hex={}",
                    hex::encode(hmac_sha256(key.as_bytes(), body.as_bytes()))
                ),
            ),
        ],
        body: body.to_owned(),
    }
}

fn easypost_body() -> String {
    json!({
        "object": "Event", "id": "evt_failed_1", "mode": "production", "description": "tracker.updated",
        "result": { "id": "trk_1", "object": "Tracker", "tracking_code": "9400100000000000000001",
                    "status": "return_to_sender", "status_detail": "return", "carrier": "USPS",
                    "public_url": "https://track.easypost.com/1",
                    "tracking_details": [{ "message": "Returned to sender", "status": "return_to_sender",
                        "datetime": "2026-12-05T10:00:00Z",
                        "tracking_location": { "city": "ORLANDO", "state": "FL", "country": "US" } }] }
    })
    .to_string()
}

fn twilio_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
        ("To", "+15558675310"),
        ("From", "+15017122661"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("ApiVersion", "2010-04-01"),
    ]
}

/// Twilio's scheme: the URL, then each parameter name and value, sorted by name.
fn twilio_signed(base: &str, params: &[(&str, &str)], token: &str) -> Delivery {
    let url = format!("{base}/webhooks/twilio");
    let mut sorted = params.to_vec();
    sorted.sort();
    let signed: String = sorted.iter().fold(url, |acc, (k, v)| acc + k + v);
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(signed.as_bytes());
    let body = params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B")))
        .collect::<Vec<_>>()
        .join("&");
    Delivery {
        path: "/webhooks/twilio",
        headers: vec![
            ("content-type", "application/x-www-form-urlencoded".into()),
            (
                "x-twilio-signature",
                BASE64.encode(mac.finalize().into_bytes()),
            ),
        ],
        body,
    }
}

/// One valid delivery per route (NetSuite signed now), each one event.
fn valid_deliveries(base: &str) -> Vec<Delivery> {
    vec![
        netsuite(&netsuite_body()),
        businesscentral(&bc_body(BC_CLIENT_STATE)),
        s4hana(r#"{"SalesOrder":"4711"}"#),
        s4hana_delivery(),
        oracle(&oracle_body()),
        aftership_signed(&aftership_body(), AFTERSHIP_SECRET),
        easypost_signed(&easypost_body(), EASYPOST_SECRET),
        twilio_signed(base, &twilio_params(), TWILIO_TOKEN),
    ]
}

/// The last event on `subject`, with its `Nats-Msg-Id`.
async fn last_on(stack: &Stack, subject: &str) -> anyhow::Result<(String, EventEnvelope)> {
    let js = stack.jetstream().await?;
    let stream = js.get_stream("INBOUND").await?;
    let message = stream.get_last_raw_message_by_subject(subject).await?;
    let id = message
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    Ok((id, EventEnvelope::decode(message.payload)?))
}

#[tokio::test]
async fn every_fulfilment_route_publishes_its_canonical_event_once() -> anyhow::Result<()> {
    let stack = stack().await?;
    let base = stack.ingress_url()?;

    for delivery in &valid_deliveries(&base) {
        let (status, _, answer) = delivery.send(&base).await?;
        assert_eq!(status, 200, "{}: {answer}", delivery.path);
        assert_eq!(answer["accepted"], 1, "{}: {answer}", delivery.path);
    }
    assert_eq!(stack.stream_messages("INBOUND").await?, 8);

    // NetSuite: a shipped item fulfilment is the order dispatched, with tracking.
    let (id, event) = last_on(&stack, "inbound.erp.order.status.netsuite").await?;
    assert_eq!(id, "netsuite:1234567:itemfulfillment:77:1764921600000");
    assert_eq!(event.r#type, "erp.order.status_changed");
    let Some(Data::OrderStatusChanged(changed)) = event.data else {
        anyhow::bail!("not an order status: {event:?}")
    };
    assert_eq!(changed.status(), OrderStatus::Dispatched);
    let order = changed.order.clone().unwrap_or_default();
    assert_eq!(
        (
            order.system.as_str(),
            order.object_type.as_str(),
            order.id.as_str()
        ),
        ("netsuite", "salesOrder", "42")
    );
    assert_eq!(changed.order_number, "SO42");
    assert_eq!(changed.external_ref, "hubspot:deal:9001");
    assert_eq!(changed.shipments.len(), 1);
    assert_eq!(changed.shipments[0].carrier, "UPS");
    assert_eq!(changed.shipments[0].tracking_number, "1Z999AA10123456784");

    // Business Central: ids only, so the status is left for the flow to read back.
    let (_, event) = last_on(&stack, "inbound.erp.order.status.businesscentral").await?;
    let Some(Data::OrderStatusChanged(changed)) = event.data else {
        anyhow::bail!("not an order status: {event:?}")
    };
    assert_eq!(changed.status(), OrderStatus::Unspecified);
    assert_eq!(changed.order.unwrap_or_default().id, BC_ORDER);

    // S/4HANA: the delivery (structured mode) came last; both carried ids only.
    let (id, event) = last_on(&stack, "inbound.erp.order.status.s4hana").await?;
    assert_eq!(id, "s4hana:/default/sap.s4.beh/244000000:b7e2a9f0-0002");
    let Some(Data::OrderStatusChanged(changed)) = event.data else {
        anyhow::bail!("not an order status: {event:?}")
    };
    assert_eq!(changed.status(), OrderStatus::Unspecified);
    assert_eq!(
        changed.shipments[0].r#ref.clone().unwrap_or_default().id,
        "80000123"
    );

    // Oracle Fusion: BACKORDERED is an exception by default.
    let (_, event) = last_on(&stack, "inbound.erp.order.status.oraclefusion").await?;
    let Some(Data::OrderStatusChanged(changed)) = event.data else {
        anyhow::bail!("not an order status: {event:?}")
    };
    assert_eq!(changed.status(), OrderStatus::Exception);
    assert_eq!(changed.order.unwrap_or_default().id, "300000123456789");

    // Carriers.
    let (id, event) = last_on(&stack, "inbound.carrier.shipment.aftership").await?;
    assert_eq!(id, "aftership:as-evt-1");
    let Some(Data::CarrierScan(scan)) = event.data else {
        anyhow::bail!("not a carrier scan: {event:?}")
    };
    assert_eq!(scan.status(), CarrierScanStatus::Delivered);
    assert_eq!(scan.tracking_number, "1Z999AA10123456784");
    assert_eq!(scan.carrier, "ups");
    assert_eq!(scan.location, "Leeds, GB");
    assert_eq!(
        scan.occurred_at.map(|t| t.seconds),
        Some(chrono::DateTime::parse_from_rfc3339("2026-12-05T08:30:00Z")?.timestamp())
    );
    let (id, event) = last_on(&stack, "inbound.carrier.shipment.easypost").await?;
    assert_eq!(id, "easypost:evt_failed_1");
    let Some(Data::CarrierScan(scan)) = event.data else {
        anyhow::bail!("not a carrier scan: {event:?}")
    };
    assert_eq!(scan.status(), CarrierScanStatus::ReturnedToSender);
    assert_eq!(scan.detail, "Returned to sender");
    assert_eq!(scan.tracking_url, "https://track.easypost.com/1");

    // Twilio.
    let (id, event) = last_on(&stack, "inbound.notification.message.twilio").await?;
    assert_eq!(id, "twilio:SM0123456789abcdef0123456789abcdef:undelivered");
    let Some(Data::MessageStatusChanged(status)) = event.data else {
        anyhow::bail!("not a message status: {event:?}")
    };
    assert_eq!(status.state(), MessageDeliveryState::Undelivered);
    assert_eq!(status.error_code, "30003");
    assert_eq!(status.recipient, "+15558675310");

    // Every vendor re-sends (NetSuite with a fresh timestamp and signature):
    // each is a duplicate and nothing new is stored.
    for delivery in &valid_deliveries(&base) {
        let (status, _, answer) = delivery.send(&base).await?;
        assert_eq!(status, 200, "{}: {answer}", delivery.path);
        assert_eq!(
            (answer["accepted"].as_u64(), answer["duplicates"].as_u64()),
            (Some(0), Some(1)),
            "{}: {answer}",
            delivery.path
        );
    }
    assert_eq!(stack.stream_messages("INBOUND").await?, 8);
    Ok(())
}

#[tokio::test]
async fn business_central_validation_handshake_echoes_the_token() -> anyhow::Result<()> {
    let stack = stack().await?;
    let base = stack.ingress_url()?;
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .post(format!(
            "{base}/webhooks/businesscentral?validationToken=a%2Bb%3D-7f3a"
        ))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(response.text().await?, "a+b=-7f3a");
    assert_eq!(stack.stream_messages("INBOUND").await?, 0);
    Ok(())
}

#[tokio::test]
async fn rejected_fulfilment_requests_get_their_status_and_publish_nothing() -> anyhow::Result<()> {
    let stack = stack().await?;
    let base = stack.ingress_url()?;
    let oversized = format!("{{\"padding\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let now = Utc::now().timestamp();
    let ns = netsuite_body();
    let cases: Vec<(&str, Delivery, u16, &str)> = vec![
        // NetSuite: wrong secret, stale and future timestamps, not JSON, malformed, oversized.
        (
            "netsuite bad signature",
            netsuite_signed(&ns, "wrong", now),
            401,
            "invalid_signature",
        ),
        (
            "netsuite stale",
            netsuite_signed(&ns, NETSUITE_SECRET, now - 600),
            401,
            "stale_timestamp",
        ),
        (
            "netsuite future",
            netsuite_signed(&ns, NETSUITE_SECRET, now + 600),
            401,
            "stale_timestamp",
        ),
        (
            "netsuite unsigned",
            netsuite(&ns).with_header("x-crmerp-signature", ""),
            401,
            "invalid_signature",
        ),
        (
            "netsuite content type",
            netsuite(&ns).with_header("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        (
            "netsuite malformed",
            netsuite("{\"account\": "),
            400,
            "malformed_body",
        ),
        (
            "netsuite oversized",
            netsuite(&oversized),
            413,
            "body_too_large",
        ),
        // Business Central: clientState mismatch, malformed, not JSON, oversized.
        (
            "bc client state",
            businesscentral(&bc_body("not-the-state")),
            401,
            "invalid_credentials",
        ),
        (
            "bc no client state",
            businesscentral(&bc_body("")),
            401,
            "invalid_credentials",
        ),
        (
            "bc malformed",
            businesscentral("{\"value\": ["),
            400,
            "malformed_body",
        ),
        (
            "bc content type",
            businesscentral(&bc_body(BC_CLIENT_STATE)).with_header("content-type", "text/xml"),
            415,
            "unsupported_media_type",
        ),
        (
            "bc oversized",
            businesscentral(&oversized),
            413,
            "body_too_large",
        ),
        // S/4HANA: wrong Basic password, malformed, not JSON, a CloudEvent without an id.
        (
            "s4 credentials",
            s4hana(r#"{"SalesOrder":"4711"}"#)
                .with_header("authorization", &basic(S4_USER, "wrong")),
            401,
            "invalid_credentials",
        ),
        (
            "s4 malformed",
            s4hana("{\"SalesOrder\":"),
            400,
            "malformed_body",
        ),
        (
            "s4 content type",
            s4hana(r#"{"SalesOrder":"4711"}"#).with_header("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        ("s4 oversized", s4hana(&oversized), 413, "body_too_large"),
        (
            "s4 no ce-id",
            s4hana(r#"{"SalesOrder":"4711"}"#).with_header("ce-id", ""),
            400,
            "malformed_body",
        ),
        ("s4 oversized", s4hana(&oversized), 413, "body_too_large"),
        // Oracle Fusion: no or wrong bearer, malformed, not JSON.
        (
            "oracle token",
            oracle(&oracle_body()).with_header("authorization", "Bearer nope"),
            401,
            "invalid_credentials",
        ),
        (
            "oracle malformed",
            oracle("{\"HeaderId\": 1"),
            400,
            "malformed_body",
        ),
        (
            "oracle missing status",
            oracle("{\"HeaderId\": 1}"),
            400,
            "malformed_body",
        ),
        (
            "oracle content type",
            oracle(&oracle_body()).with_header("content-type", "text/csv"),
            415,
            "unsupported_media_type",
        ),
        (
            "oracle oversized",
            oracle(&oversized),
            413,
            "body_too_large",
        ),
        // AfterShip: wrong secret, hex instead of Base64, malformed, not JSON, oversized.
        (
            "aftership bad signature",
            aftership_signed(&aftership_body(), "wrong"),
            401,
            "invalid_signature",
        ),
        (
            "aftership missing signature",
            aftership_signed(&aftership_body(), AFTERSHIP_SECRET)
                .with_header("aftership-hmac-sha256", ""),
            401,
            "invalid_signature",
        ),
        (
            "aftership malformed",
            aftership_signed("{\"event\":", AFTERSHIP_SECRET),
            400,
            "malformed_body",
        ),
        (
            "aftership content type",
            aftership_signed(&aftership_body(), AFTERSHIP_SECRET)
                .with_header("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        (
            "aftership oversized",
            aftership_signed(&oversized, AFTERSHIP_SECRET),
            413,
            "body_too_large",
        ),
        // EasyPost: the secret without NFKD, a tampered body, malformed, not JSON.
        (
            "easypost composed key",
            {
                let body = easypost_body();
                let signature = format!(
                    "hmac-sha256-hex={}",
                    hex::encode(hmac_sha256(EASYPOST_SECRET.as_bytes(), body.as_bytes()))
                );
                easypost_signed(&body, EASYPOST_SECRET).with_header("x-hmac-signature", &signature)
            },
            401,
            "invalid_signature",
        ),
        (
            "easypost tampered",
            easypost_signed(&easypost_body(), EASYPOST_SECRET)
                .with_body(&easypost_body().replace("return_to_sender", "delivered")),
            401,
            "invalid_signature",
        ),
        (
            "easypost malformed",
            easypost_signed("[1,", EASYPOST_SECRET),
            400,
            "malformed_body",
        ),
        (
            "easypost content type",
            easypost_signed(&easypost_body(), EASYPOST_SECRET)
                .with_header("content-type", "text/html"),
            415,
            "unsupported_media_type",
        ),
        (
            "easypost oversized",
            easypost_signed(&oversized, EASYPOST_SECRET),
            413,
            "body_too_large",
        ),
        // Twilio: wrong token, tampered parameter, JSON instead of a form, oversized.
        (
            "twilio bad signature",
            twilio_signed(&base, &twilio_params(), "wrong"),
            401,
            "invalid_signature",
        ),
        (
            "twilio tampered",
            {
                let signed = twilio_signed(&base, &twilio_params(), TWILIO_TOKEN);
                let body = signed.body.replace("undelivered", "delivered");
                signed.with_body(&body)
            },
            401,
            "invalid_signature",
        ),
        (
            "twilio content type",
            twilio_signed(&base, &twilio_params(), TWILIO_TOKEN)
                .with_header("content-type", "application/json"),
            415,
            "unsupported_media_type",
        ),
        (
            "twilio missing fields",
            twilio_signed(&base, &[("AccountSid", "AC1")], TWILIO_TOKEN),
            400,
            "malformed_body",
        ),
        (
            "twilio oversized",
            twilio_signed(&base, &twilio_params(), TWILIO_TOKEN).with_body(&oversized),
            413,
            "body_too_large",
        ),
    ];
    for (name, delivery, status, code) in cases {
        let (got, content_type, problem) = delivery.send(&base).await?;
        assert_eq!(got, status, "{name}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{name}");
        assert_eq!(problem["code"], code, "{name}: {problem}");
        assert_eq!(problem["status"], status, "{name}: {problem}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        0,
        "no rejected request was published"
    );
    assert_eq!(stack.stream_messages("UNROUTABLE").await?, 0);
    Ok(())
}

/// Runs the shipped SuiteScript (`deploy/netsuite/crmerp_fulfilment_ue.js`)
/// under Node.js with N/ modules stubbed (`tests/support/suitescript_harness.js`)
/// for `context`, and returns the requests it would post.
fn run_suitescript(context: &Value) -> anyhow::Result<Vec<Value>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir()?;
    let context_path = dir.path().join("context.json");
    std::fs::write(&context_path, context.to_string())?;
    // The project's own Node.js (`make venv`), so a fresh machine needs none.
    let output = std::process::Command::new(crmerp_testkit::paths::venv_bin("node")?)
        .arg(root.join("tests/support/suitescript_harness.js"))
        .arg(root.join("../../deploy/netsuite/crmerp_fulfilment_ue.js"))
        .arg(NETSUITE_SECRET)
        .arg(&context_path)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run .venv/bin/node (`make venv` installs it): {e}"))?;
    anyhow::ensure!(
        output.status.success(),
        "the script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)?
        .lines()
        .map(|line| Ok(serde_json::from_str(line)?))
        .collect()
}

#[tokio::test]
async fn the_shipped_suitescript_posts_what_ingress_accepts() -> anyhow::Result<()> {
    let stack = stack().await?;
    let url = format!("{}/webhooks/netsuite", stack.ingress_url()?);
    let fulfilment = |ship_status: &str, tracking: &[&str]| {
        json!({
            "type": "itemfulfillment", "id": "77",
            "fields": { "shipstatus": ship_status, "createdfrom": "42", "tranid": "IF77",
                        "lastmodifieddate": "2026-12-05T08:00:00Z" },
            "texts": { "shipmethod": "UPS Ground" },
            "sublists": { "packageups": tracking.iter().map(|n| json!({ "packagetrackingnumberups": n })).collect::<Vec<_>>() },
        })
    };
    let context = |old: Value, new: Value| {
        json!({
            "type": "ship", "accountId": "1234567",
            "params": { "custscript_crmerp_ingress_url": url, "custscript_crmerp_secret_id": "custsecret_crmerp_ingress" },
            "lookups": { "salesorder:42": { "tranid": "SO42", "externalid": [{ "value": "hubspot:deal:9001", "text": "hubspot:deal:9001" }] } },
            "oldRecord": old, "newRecord": new,
        })
    };

    // Packed -> shipped with a tracking number: one signed post.
    let requests = run_suitescript(&context(
        fulfilment("B", &[]),
        fulfilment("C", &["1Z999AA10123456784"]),
    ))?;
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request["url"], url.as_str());
    let mut post = reqwest::Client::new()
        .post(request["url"].as_str().unwrap_or_default())
        .body(request["body"].as_str().unwrap_or_default().to_owned());
    for (name, value) in request["headers"].as_object().into_iter().flatten() {
        post = post.header(name.as_str(), value.as_str().unwrap_or_default());
    }
    let response = post.send().await?;
    assert_eq!(
        response.status().as_u16(),
        200,
        "{}",
        response.text().await?
    );
    let (_, event) = last_on(&stack, "inbound.erp.order.status.netsuite").await?;
    let Some(Data::OrderStatusChanged(changed)) = event.data else {
        anyhow::bail!("not an order status: {event:?}")
    };
    assert_eq!(changed.status(), OrderStatus::Dispatched);
    assert_eq!(changed.order.clone().unwrap_or_default().id, "42");
    assert_eq!(changed.order_number, "SO42");
    assert_eq!(changed.external_ref, "hubspot:deal:9001");
    assert_eq!(changed.shipments[0].tracking_number, "1Z999AA10123456784");
    assert_eq!(changed.shipments[0].carrier, "UPS Ground");

    // A save that changes neither status nor tracking posts nothing.
    let unchanged = run_suitescript(&context(
        fulfilment("C", &["1Z999AA10123456784"]),
        fulfilment("C", &["1Z999AA10123456784"]),
    ))?;
    assert!(unchanged.is_empty(), "{unchanged:?}");
    Ok(())
}

/// The Python that has the `twilio` package: `CRMERP_PYTHON`, else the
/// project virtualenv's (`make venv` installs it there).
fn python_with_twilio() -> Option<std::path::PathBuf> {
    let python = std::env::var_os("CRMERP_PYTHON").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
        std::path::PathBuf::from,
    );
    let found = std::process::Command::new(&python)
        .args(["-c", "import twilio.request_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    found.then_some(python)
}

#[tokio::test]
async fn a_callback_signed_by_twilios_request_validator_is_accepted() -> anyhow::Result<()> {
    let Some(python) = python_with_twilio() else {
        eprintln!(
            "SKIPPED: no Python with the twilio package (run `make venv`, or set CRMERP_PYTHON)"
        );
        return Ok(());
    };
    let stack = stack().await?;
    let base = stack.ingress_url()?;
    let url = format!("{base}/webhooks/twilio");
    let params = [
        ("MessageSid", "SMfeedfacefeedfacefeedfacefeedface"),
        ("MessageStatus", "delivered"),
        ("To", "+15558675310"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("SmsStatus", "delivered"),
    ];
    let script = "import json, sys\n\
        from twilio.request_validator import RequestValidator\n\
        token, url, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n\
        validator = RequestValidator(token)\n\
        signature = validator.compute_signature(url, params)\n\
        assert validator.validate(url, params, signature)\n\
        print(signature)\n";
    let params_json: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let output = std::process::Command::new(&python)
        .args(["-c", script, TWILIO_TOKEN, &url])
        .arg(Value::Object(params_json).to_string())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let signature = String::from_utf8(output.stdout)?.trim().to_owned();
    // Our own signer (used by the other tests) agrees with Twilio's.
    let ours = twilio_signed(&base, &params, TWILIO_TOKEN);
    let our_signature = ours
        .headers
        .iter()
        .find(|(name, _)| *name == "x-twilio-signature")
        .map(|(_, value)| value.clone());
    assert_eq!(our_signature.as_deref(), Some(signature.as_str()));
    let (status, _, answer) = ours
        .with_header("x-twilio-signature", &signature)
        .send(&base)
        .await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1, "{answer}");
    let (_, event) = last_on(&stack, "inbound.notification.message.twilio").await?;
    let Some(Data::MessageStatusChanged(status)) = event.data else {
        anyhow::bail!("not a message status: {event:?}")
    };
    assert_eq!(status.state(), MessageDeliveryState::Delivered);
    Ok(())
}

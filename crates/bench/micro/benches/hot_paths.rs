//! The hot pure functions on a deal's path, one benchmark group each.
//!
//! `cargo bench -p crmerp-microbench` (add `-- --quick` for a fast pass).

#![allow(missing_docs)]

use std::hint::black_box;

use chrono::{TimeZone as _, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crmerp_connector::hubspot::webhook;
use crmerp_connector::netsuite::oauth1::{self, TbaCredentials};
use crmerp_proto::{
    DealWon, Effect, EventEnvelope, Message as _, Outcome, OutcomeStatus, RecordRef, Timestamp,
    VendorCall, event_envelope::Data, event_types,
};
use secrecy::SecretString;

/// The sandbox's dev HubSpot client secret.
const DEV_CLIENT_SECRET: &str = "dev-hubspot-client-secret";
const URL: &str = "http://127.0.0.1:8080/webhooks/hubspot";
const NOW_MS: i64 = 1_764_000_000_000;

/// A HubSpot `deal.propertyChange` delivery with one event.
fn deal_stage_webhook(event_id: u64, deal_id: &str, stage: &str, occurred_at_ms: i64) -> String {
    serde_json::json!([{
        "eventId": event_id,
        "subscriptionId": 4242,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": occurred_at_ms,
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": deal_id.parse::<u64>().unwrap_or_default(),
        "changeSource": "CRM_UI",
        "propertyName": "dealstage",
        "propertyValue": stage,
    }])
    .to_string()
}

/// HubSpot's v3 signature, computed independently of the verifier under test.
fn sign_v3(secret: &str, url: &str, body: &str, timestamp_ms: i64) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("POST{url}{body}{timestamp_ms}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms / 1000,
        nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
    }
}

/// A deal-won envelope as ingress publishes it.
fn deal_won_envelope() -> EventEnvelope {
    let id = "hubspot:62515:deal:123456789:closedwon:1764000000000".to_owned();
    EventEnvelope {
        id: id.clone(),
        source: "crmerp://ingress/hubspot/62515".into(),
        r#type: event_types::DEAL_WON.into(),
        subject: "hubspot/deal/123456789".into(),
        time: Some(timestamp(NOW_MS)),
        correlation_id: id,
        causation_id: String::new(),
        data: Some(Data::DealWon(DealWon {
            deal: Some(RecordRef {
                system: "hubspot".into(),
                object_type: "deal".into(),
                id: "123456789".into(),
            }),
            stage: "closedwon".into(),
            occurred_at: Some(timestamp(NOW_MS)),
            accepted_at: Some(timestamp(NOW_MS + 3)),
            corrected_deal: None,
        })),
    }
}

/// The outcome of a successful attempt with the calls deal-to-order makes.
fn outcome() -> Outcome {
    let call = |system: &str, endpoint: &str, status: u32| VendorCall {
        system: system.into(),
        endpoint: endpoint.into(),
        http_status: status,
        duration_ms: 2,
        ..Default::default()
    };
    Outcome {
        flow: "deal-to-order".into(),
        status: OutcomeStatus::Succeeded as i32,
        crm_record: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "deal".into(),
            id: "123456789".into(),
        }),
        erp_record: Some(RecordRef {
            system: "netsuite".into(),
            object_type: "salesOrder".into(),
            id: "4242".into(),
        }),
        endpoint: "PATCH /crm/v3/objects/deals/{id}".into(),
        http_status: 200,
        duration_ms: 18,
        attempt: 1,
        event_id: "hubspot:62515:deal:123456789:closedwon:1764000000000".into(),
        calls: vec![
            call("hubspot", "GET /crm/v3/objects/deals/{id}", 200),
            call(
                "hubspot",
                "GET /crm/v4/objects/deals/{id}/associations/line_items",
                200,
            ),
            call(
                "hubspot",
                "GET /crm/v4/objects/deals/{id}/associations/companies",
                200,
            ),
            call("hubspot", "POST /crm/v3/objects/line_items/batch/read", 200),
            call("hubspot", "GET /crm/v3/objects/companies/{id}", 200),
            call("netsuite", "GET /services/rest/record/v1/salesOrder", 200),
            call("netsuite", "GET /services/rest/record/v1/customer", 200),
            call("netsuite", "POST /services/rest/record/v1/salesOrder", 204),
            call("hubspot", "PATCH /crm/v3/objects/deals/{id}", 200),
        ],
        effects: vec![Effect {
            system: "netsuite".into(),
            kind: "order".into(),
            id: "SO-4242".into(),
            label: "SO-4242".into(),
        }],
        started_at: Some(timestamp(NOW_MS + 5)),
        finished_at: Some(timestamp(NOW_MS + 23)),
        ..Default::default()
    }
}

fn signatures(c: &mut Criterion) {
    let secret = SecretString::from(DEV_CLIENT_SECRET);
    let body = deal_stage_webhook(1, "123456789", "closedwon", NOW_MS);
    let signature = sign_v3(DEV_CLIENT_SECRET, URL, &body, NOW_MS);
    let timestamp = NOW_MS.to_string();
    let now = Utc
        .timestamp_millis_opt(NOW_MS)
        .single()
        .unwrap_or_else(Utc::now);
    let verify = || {
        webhook::verify_v3(
            &secret,
            "POST",
            black_box(URL),
            black_box(body.as_bytes()),
            Some(&timestamp),
            Some(&signature),
            now,
        )
    };
    // Benchmark the accepting path, not an early rejection.
    assert!(verify().is_ok(), "the benchmark's signature must verify");
    let mut group = c.benchmark_group("signature");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hubspot_v3_verify", |b| b.iter(verify));
    let consumer_secret = SecretString::from("dev-ns-consumer-secret");
    let token_secret = SecretString::from("dev-ns-token-secret");
    let credentials = TbaCredentials {
        realm: "1234567_SB1",
        consumer_key: "dev-ns-consumer-key",
        consumer_secret: &consumer_secret,
        token_id: "dev-ns-token-id",
        token_secret: &token_secret,
    };
    let url = url::Url::parse(
        "http://127.0.0.1:9201/services/rest/record/v1/salesOrder?q=externalId%20IS%20%22hubspot-deal-123456789%22",
    );
    if let Ok(url) = url {
        group.bench_function("netsuite_tba_sign", |b| {
            b.iter(|| {
                oauth1::authorization_header(
                    &credentials,
                    "GET",
                    black_box(&url),
                    "abcdefghijklmnopqrst",
                    1_764_000_000,
                )
            });
        });
    }
    group.finish();
}

fn mapping(c: &mut Criterion) {
    let body = deal_stage_webhook(1, "123456789", "closedwon", NOW_MS);
    let batch: String = {
        let events: Vec<serde_json::Value> = (0..100)
            .filter_map(|n| {
                let one = deal_stage_webhook(n, &format!("{}", 1000 + n), "closedwon", NOW_MS);
                serde_json::from_str::<Vec<serde_json::Value>>(&one)
                    .ok()?
                    .into_iter()
                    .next()
            })
            .collect();
        serde_json::Value::Array(events).to_string()
    };
    let won = vec!["closedwon".to_owned()];
    let mut group = c.benchmark_group("hubspot_to_canonical");
    group.throughput(Throughput::Elements(1));
    group.bench_function("webhook_1_event", |b| {
        b.iter(|| {
            let events = webhook::parse_events(black_box(body.as_bytes())).unwrap_or_default();
            webhook::deal_won_notices(&events, &won)
                .iter()
                .map(webhook::DealWonNotice::dedup_key)
                .count()
        });
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("webhook_100_events", |b| {
        b.iter(|| {
            let events = webhook::parse_events(black_box(batch.as_bytes())).unwrap_or_default();
            webhook::deal_won_notices(&events, &won).len()
        });
    });
    group.finish();
}

fn protobuf(c: &mut Criterion) {
    let envelope = deal_won_envelope();
    let bytes = envelope.encode_to_vec();
    let mut group = c.benchmark_group("protobuf");
    group.throughput(Throughput::Elements(1));
    group.bench_function("deal_won_encode", |b| {
        b.iter(|| black_box(&envelope).encode_to_vec())
    });
    group.bench_function("deal_won_decode", |b| {
        b.iter(|| EventEnvelope::decode(black_box(bytes.as_slice())))
    });
    group.finish();
}

fn outcomes(c: &mut Criterion) {
    let cause = deal_won_envelope();
    let outcome = outcome();
    let mut group = c.benchmark_group("outcome");
    group.throughput(Throughput::Elements(1));
    // What the flow runtime does per attempt: wrap the outcome in an envelope and encode it.
    group.bench_function("serialise", |b| {
        b.iter_batched(
            || outcome.clone(),
            |outcome| {
                EventEnvelope {
                    id: format!("{}/{}/succeeded", cause.id, outcome.attempt),
                    source: "crmerp://deal-to-order".into(),
                    r#type: event_types::OUTCOME.into(),
                    subject: cause.subject.clone(),
                    time: outcome.finished_at,
                    correlation_id: cause.correlation_id.clone(),
                    causation_id: cause.id.clone(),
                    data: Some(Data::Outcome(outcome)),
                }
                .encode_to_vec()
            },
            BatchSize::SmallInput,
        );
    });
    let encoded = EventEnvelope {
        data: Some(Data::Outcome(outcome.clone())),
        ..cause.clone()
    }
    .encode_to_vec();
    group.bench_function("decode", |b| {
        b.iter(|| EventEnvelope::decode(black_box(encoded.as_slice())))
    });
    group.finish();
}

criterion_group!(benches, signatures, mapping, protobuf, outcomes);
criterion_main!(benches);

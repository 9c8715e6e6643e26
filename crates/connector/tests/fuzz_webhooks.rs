//! Bounded fuzzing of every webhook parser and signature verifier ingress
//! runs on untrusted bytes: HubSpot (events, workflow records, v1/v2/v3
//! signatures), Salesforce (Outbound Messages, callouts), Pipedrive (webhooks
//! v2, Basic credentials), Dynamics 365 (execution contexts), Standard
//! Webhooks and Business Central (notifications, validation handshake).
//!
//! Inputs are arbitrary bytes and mutations (byte flips, insertions, cuts) of
//! the committed corpus in `fuzz/corpus/<target>/`, so the runs start from
//! realistic shapes. Every target must return, never panic; the verifiers
//! must also accept what was signed with the key and refuse any change to it.
//! `make test` runs `FUZZ_CASES` cases per target (default 256); raise it for
//! a longer run, e.g. `FUZZ_CASES=100000 cargo test -p crmerp-connector --test fuzz_webhooks`.

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine as _;
use chrono::{TimeZone as _, Utc};
use crmerp_connector::{
    businesscentral, dynamics365, hubspot, pipedrive, salesforce, standard_webhooks,
};
use hmac::{Hmac, KeyInit as _, Mac as _};
use proptest::prelude::*;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // Failures are reported with their input; no regression files in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The committed seeds of `target`.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"));
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(root.join(target))
        .unwrap_or_else(|e| panic!("corpus {target}: {e}"))
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("seed"))
        .collect();
    assert!(!seeds.is_empty(), "corpus {target} is empty");
    seeds.sort();
    seeds
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Cut(usize, usize),
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len().max(1);
        match edit {
            Edit::Flip(at, mask) => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte ^= mask;
                }
            }
            Edit::Insert(at, more) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, more.iter().copied());
            }
            Edit::Cut(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
        }
    }
    bytes
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| Edit::Flip(at, mask)),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 1..8),
                // Tokens that move a parser into other states.
                prop::sample::select(vec![
                    b"\"".to_vec(),
                    b"{".to_vec(),
                    b"[".to_vec(),
                    b"}".to_vec(),
                    b"null".to_vec(),
                    b"<".to_vec(),
                    b"</".to_vec(),
                    b"&amp;".to_vec(),
                    b"\\u0000".to_vec(),
                    b"1e999".to_vec(),
                    b"-9223372036854775809".to_vec(),
                ]),
            ]
        )
            .prop_map(|(at, more)| Edit::Insert(at, more)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Edit::Cut(at, n)),
    ]
}

/// Arbitrary bytes, or a corpus seed of `target` with a few edits.
fn input(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = corpus(target);
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        3 => (prop::sample::select(seeds), proptest::collection::vec(edit(), 0..6))
            .prop_map(|(seed, edits)| apply(seed, &edits)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..64).prop_map(|c| c.into_iter().collect())
}

fn secret() -> SecretString {
    SecretString::from("fuzz-client-secret")
}

#[test]
fn every_seed_parses_without_panicking() {
    for seed in corpus("hubspot_events") {
        let _ = hubspot::webhook::parse_events(&seed);
    }
    for seed in corpus("hubspot_workflow") {
        let _ = hubspot::webhook::parse_workflow_record(&seed);
    }
    for seed in corpus("salesforce_outbound") {
        salesforce::webhook::parse_outbound_message(&seed).expect("the seed is a valid message");
    }
    for seed in corpus("salesforce_callout") {
        let _ = salesforce::webhook::parse_callout(&seed);
    }
    for seed in corpus("pipedrive") {
        let _ = pipedrive::webhook::parse(&seed);
    }
    for seed in corpus("dynamics365") {
        let _ = dynamics365::webhook::parse(&seed);
    }
    for seed in corpus("businesscentral") {
        let _ =
            businesscentral::webhook::parse_notifications(&seed, &SecretString::from("dev-state"));
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hubspot_events_and_workflow_records(body in input("hubspot_events"), record in input("hubspot_workflow")) {
        if let Ok(events) = hubspot::webhook::parse_events(&body) {
            for event in &events {
                let _ = hubspot::webhook::is_deal_change(event);

            }
            for notice in hubspot::webhook::deal_won_notices(&events, &["closedwon".to_owned()]) {
                let _ = notice.dedup_key();
            }
        }
        if let Ok(record) = hubspot::webhook::parse_workflow_record(&record) {
            let _ = record.is_deal();
            let _ = record.dedup_key();
        }
    }

    #[test]
    fn hubspot_signatures(
        body in input("hubspot_events"),
        method in "[A-Z]{0,8}",
        uri in text(),
        header in text(),
        timestamp in text(),
        flip in any::<usize>(),
    ) {
        let secret = secret();
        let now = Utc.timestamp_millis_opt(1_700_000_000_000).single().expect("time");
        // Arbitrary headers never verify (and never panic).
        let v3 = hubspot::webhook::verify_v3(&secret, &method, &uri, &body, Some(&timestamp), Some(&header), now);
        prop_assert!(v3.is_err());
        prop_assert!(hubspot::webhook::verify_v1(&secret, &body, Some(&header)).is_err());
        prop_assert!(hubspot::webhook::verify_v2(&secret, &method, &uri, &body, Some(&header)).is_err());

        // What was signed with the key verifies; any flipped body byte does not.
        let uri = "https://ingress.example.com/webhooks/hubspot";
        let sent = now.timestamp_millis().to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"fuzz-client-secret").expect("key");
        mac.update(b"POST");
        mac.update(uri.as_bytes());
        mac.update(&body);
        mac.update(sent.as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        prop_assert!(hubspot::webhook::verify_v3(&secret, "POST", uri, &body, Some(&sent), Some(&signature), now).is_ok());
        let v1 = hex::encode(Sha256::new().chain_update(b"fuzz-client-secret").chain_update(&body).finalize());
        prop_assert!(hubspot::webhook::verify_v1(&secret, &body, Some(&v1)).is_ok());
        if !body.is_empty() {
            let mut changed = body.clone();
            let at = flip % changed.len();
            changed[at] ^= 0x01;
            prop_assert!(hubspot::webhook::verify_v3(&secret, "POST", uri, &changed, Some(&sent), Some(&signature), now).is_err());
            prop_assert!(hubspot::webhook::verify_v1(&secret, &changed, Some(&v1)).is_err());
        }
    }

    #[test]
    fn salesforce_outbound_messages_and_callouts(xml in input("salesforce_outbound"), json in input("salesforce_callout"), org in text()) {
        if let Ok(message) = salesforce::webhook::parse_outbound_message(&xml) {
            for notification in &message.notifications {
                let _ = salesforce::webhook::notification_is_won(notification, &["Closed Won".to_owned()]);
            }
            let _ = salesforce::webhook::same_org(&message.organization_id, &org);
        }
        let _ = salesforce::webhook::parse_callout(&json);
    }

    #[test]
    fn pipedrive_webhooks_and_basic_credentials(body in input("pipedrive"), header in text()) {
        if let Ok(hook) = pipedrive::webhook::parse(&body) {
            let _ = pipedrive::webhook::is_deal_notice(&hook);
            let _ = pipedrive::webhook::deal_won(&hook);
        }
        let _ = pipedrive::webhook::basic_credentials(&header);
        let _ = pipedrive::webhook::basic_credentials(&format!("Basic {header}"));
    }

    #[test]
    fn dynamics365_execution_contexts(body in input("dynamics365")) {
        if let Ok(context) = dynamics365::webhook::parse(&body) {
            let _ = dynamics365::webhook::is_opportunity(&context);
            let _ = dynamics365::webhook::operation_id(&context);
            let _ = dynamics365::webhook::deal_won(&context);
        }
    }

    #[test]
    fn standard_webhooks_signatures(
        body in input("standard_webhooks_body"),
        id in text(),
        timestamp in text(),
        signature in text(),
        flip in any::<usize>(),
    ) {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let now = Utc.timestamp_opt(1_700_000_000, 0).single().expect("time");
        prop_assert!(standard_webhooks::verify(&secret, Some(&id), Some(&timestamp), Some(&signature), &body, now).is_err());
        let signed = standard_webhooks::sign(&secret, "msg_1", now.timestamp(), &body).expect("sign");
        let sent = now.timestamp().to_string();
        prop_assert!(standard_webhooks::verify(&secret, Some("msg_1"), Some(&sent), Some(&signed), &body, now).is_ok());
        if !body.is_empty() {
            let mut changed = body.clone();
            let at = flip % changed.len();
            changed[at] ^= 0x01;
            prop_assert!(standard_webhooks::verify(&secret, Some("msg_1"), Some(&sent), Some(&signed), &changed, now).is_err());
        }
    }

    #[test]
    fn businesscentral_notifications_and_handshake(body in input("businesscentral"), query in text()) {
        let _ = businesscentral::webhook::parse_notifications(&body, &SecretString::from("dev-state"));
        // Under another clientState no notification gets through.
        if let Ok(notifications) = businesscentral::webhook::parse_notifications(&body, &SecretString::from("not-the-state")) {
            prop_assert!(notifications.is_empty(), "{notifications:?}");
        }
        let _ = businesscentral::webhook::handshake_response(Some(&query));
    }
}

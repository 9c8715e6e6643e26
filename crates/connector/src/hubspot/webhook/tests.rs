use chrono::TimeZone;
use secrecy::SecretString;

use super::signature::decode_uri;
use super::*;

/// Client secret of HubSpot's published examples ("Validating requests", v1/v2).
const DOC_SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
/// Request body of HubSpot's published v1 example.
const DOC_BODY: &str = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;

fn secret() -> SecretString {
    SecretString::from(DOC_SECRET)
}

// --- v1 / v2: HubSpot's own published vectors -------------------------------

#[test]
fn v1_matches_hubspots_published_example() {
    // developers.hubspot.com "v1 request validation": the resulting hash.
    let sig = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de";
    assert_eq!(verify_v1(&secret(), DOC_BODY.as_bytes(), Some(sig)), Ok(()));
    // Hex case does not matter.
    assert_eq!(
        verify_v1(&secret(), DOC_BODY.as_bytes(), Some(&sig.to_uppercase())),
        Ok(())
    );
}

#[test]
fn v1_rejects_tampering_and_bad_headers() {
    let sig = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de";
    let tampered = DOC_BODY.replace("\"objectId\":123", "\"objectId\":124");
    assert_eq!(
        verify_v1(&secret(), tampered.as_bytes(), Some(sig)),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_v1(&secret(), DOC_BODY.as_bytes(), None),
        Err(SignatureError::Missing(HEADER_SIGNATURE))
    );
    assert_eq!(
        verify_v1(&secret(), DOC_BODY.as_bytes(), Some("zz")),
        Err(SignatureError::Malformed(HEADER_SIGNATURE))
    );
    // Valid hex of the wrong length is rejected before any comparison.
    assert_eq!(
        verify_v1(&secret(), DOC_BODY.as_bytes(), Some(&sig[..62])),
        Err(SignatureError::Malformed(HEADER_SIGNATURE))
    );
    assert_eq!(
        verify_v1(&SecretString::from(""), DOC_BODY.as_bytes(), Some(sig)),
        Err(SignatureError::Missing("client secret"))
    );
}

#[test]
fn v2_matches_hubspots_published_examples() {
    // developers.hubspot.com "v2 request validation": the GET example.
    let get = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e";
    assert_eq!(
        verify_v2(
            &secret(),
            "GET",
            "https://www.example.com/webhook_uri",
            b"",
            Some(get)
        ),
        Ok(())
    );
    // The same page's POST example (also used verbatim by HubSpot's PHP SDK tests).
    let post = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900";
    let body = br#"{"example_field":"example_value"}"#;
    assert_eq!(
        verify_v2(
            &secret(),
            "POST",
            "https://www.example.com/webhook_uri",
            body,
            Some(post)
        ),
        Ok(())
    );
    assert_eq!(
        verify_v2(
            &secret(),
            "POST",
            "https://www.example.com/other_uri",
            body,
            Some(post)
        ),
        Err(SignatureError::Mismatch)
    );
}

// --- v3: HubSpot publishes no vector; these were computed with Python ----------
//
// python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
//   b"yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
//   ("POST"+"https://www.example.com/webhook_uri"+BODY+"1700000000000").encode(),
//   hashlib.sha256).digest()).decode())'     with BODY = DOC_BODY

const V3_TIMESTAMP: &str = "1700000000000";
const V3_SIGNATURE: &str = "/pXDSgWeGksQpwCsgqd43P0eY6gBIse9UX0tfkudUrE=";

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().expect("valid")
}

fn v3(
    uri: &str,
    body: &str,
    ts: Option<&str>,
    sig: Option<&str>,
    now_ms: i64,
) -> Result<(), SignatureError> {
    verify_v3(&secret(), "POST", uri, body.as_bytes(), ts, sig, at(now_ms))
}

#[test]
fn v3_accepts_a_fresh_good_signature() {
    let uri = "https://www.example.com/webhook_uri";
    assert_eq!(
        v3(
            uri,
            DOC_BODY,
            Some(V3_TIMESTAMP),
            Some(V3_SIGNATURE),
            1_700_000_000_000
        ),
        Ok(())
    );
    // Four minutes fifty-nine later, still inside the window.
    assert_eq!(
        v3(
            uri,
            DOC_BODY,
            Some(V3_TIMESTAMP),
            Some(V3_SIGNATURE),
            1_700_000_299_000
        ),
        Ok(())
    );
}

#[test]
fn v3_rejects_tampered_stale_future_and_malformed_requests() {
    let uri = "https://www.example.com/webhook_uri";
    let now = 1_700_000_000_000;
    let tampered = DOC_BODY.replace("contact.creation", "deal.creation");
    assert_eq!(
        v3(uri, &tampered, Some(V3_TIMESTAMP), Some(V3_SIGNATURE), now),
        Err(SignatureError::Mismatch)
    );
    // A replay of the same timestamp with another one claimed is a mismatch too.
    assert_eq!(
        v3(
            uri,
            DOC_BODY,
            Some("1700000000001"),
            Some(V3_SIGNATURE),
            now
        ),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        v3(
            uri,
            DOC_BODY,
            Some(V3_TIMESTAMP),
            Some(V3_SIGNATURE),
            now + 300_001
        ),
        Err(SignatureError::Stale { age_ms: 300_001 })
    );
    assert_eq!(
        v3(
            uri,
            DOC_BODY,
            Some(V3_TIMESTAMP),
            Some(V3_SIGNATURE),
            now - 300_001
        ),
        Err(SignatureError::Stale { age_ms: -300_001 })
    );
    assert_eq!(
        v3(uri, DOC_BODY, None, Some(V3_SIGNATURE), now),
        Err(SignatureError::Missing(HEADER_REQUEST_TIMESTAMP))
    );
    assert_eq!(
        v3(uri, DOC_BODY, Some(V3_TIMESTAMP), None, now),
        Err(SignatureError::Missing(HEADER_SIGNATURE_V3))
    );
    assert_eq!(
        v3(uri, DOC_BODY, Some("yesterday"), Some(V3_SIGNATURE), now),
        Err(SignatureError::Malformed(HEADER_REQUEST_TIMESTAMP))
    );
    assert_eq!(
        v3(uri, DOC_BODY, Some(V3_TIMESTAMP), Some("not base64!"), now),
        Err(SignatureError::Malformed(HEADER_SIGNATURE_V3))
    );
    // Valid Base64 of a 16-byte value: wrong length, rejected before comparing.
    assert_eq!(
        v3(
            uri,
            DOC_BODY,
            Some(V3_TIMESTAMP),
            Some("AAAAAAAAAAAAAAAAAAAAAA=="),
            now
        ),
        Err(SignatureError::Malformed(HEADER_SIGNATURE_V3))
    );
}

#[test]
fn v3_decodes_the_documented_escapes_in_the_uri() {
    // Computed with Python over the decoded URI
    // "https://www.example.com/webhook_uri?tenant=acme:eu&path=/a%20b" (note %20 stays).
    let sig = "ewaiUzPdh8BVhLLpj2hXjW5kpSEr7A+naESiN/OxiKw=";
    let sent = "https://www.example.com/webhook_uri?tenant=acme%3Aeu&path=%2fa%20b";
    assert_eq!(
        v3(
            sent,
            DOC_BODY,
            Some(V3_TIMESTAMP),
            Some(sig),
            1_700_000_000_000
        ),
        Ok(())
    );
}

#[test]
fn uri_decoding_touches_only_the_documented_escapes() {
    assert_eq!(
        decode_uri("https://x.test/a%3Ab%2Fc%3Fd%40e%21f%24g%27h%28i%29j%2Ak%2Cl%3Bm"),
        "https://x.test/a:b/c?d@e!f$g'h(i)j*k,l;m"
    );
    assert_eq!(decode_uri("/p%20q%25r%2Bs%3"), "/p%20q%25r%2Bs%3");
    assert_eq!(decode_uri("/%3a%2f"), "/:/");
    assert_eq!(decode_uri("/ünï%3A"), "/ünï:");
}

// --- events and won notices -------------------------------------------------

const DEAL_EVENTS: &str = r#"[
  {"eventId":100,"subscriptionId":7,"portalId":62515,"appId":54321,"occurredAt":1700000000000,
   "subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":9001,
   "propertyName":"dealstage","propertyValue":"closedwon","changeSource":"CRM","sourceId":"userId:1"},
  {"eventId":101,"subscriptionId":7,"portalId":62515,"appId":54321,"occurredAt":1700000000500,
   "subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":9002,
   "propertyName":"dealstage","propertyValue":"appointmentscheduled","changeSource":"CRM"},
  {"eventId":102,"subscriptionId":8,"portalId":62515,"appId":54321,"occurredAt":1700000001000,
   "subscriptionType":"deal.propertyChange","attemptNumber":1,"objectId":9003,
   "propertyName":"amount","propertyValue":"closedwon","changeSource":"API"},
  {"eventId":103,"subscriptionId":9,"portalId":62515,"appId":54321,"occurredAt":1700000002000,
   "subscriptionType":"object.propertyChange","objectTypeId":"0-3","attemptNumber":0,"objectId":9004,
   "propertyName":"dealstage","propertyValue":"contractsigned","changeSource":"CRM"},
  {"eventId":104,"subscriptionId":9,"portalId":62515,"appId":54321,"occurredAt":1700000003000,
   "subscriptionType":"object.propertyChange","objectTypeId":"0-1","attemptNumber":0,"objectId":9005,
   "propertyName":"dealstage","propertyValue":"closedwon","changeSource":"CRM"},
  {"eventId":105,"subscriptionId":10,"portalId":62515,"appId":54321,"occurredAt":1700000004000,
   "subscriptionType":"deal.creation","attemptNumber":0,"objectId":9006,"changeFlag":"NEW"},
  {"eventId":106,"subscriptionId":7,"portalId":62515,"appId":54321,"occurredAt":1700000000000,
   "subscriptionType":"deal.propertyChange","attemptNumber":2,"objectId":9001,
   "propertyName":"dealstage","propertyValue":"closedwon","changeSource":"CRM"}
]"#;

#[test]
fn events_parse_including_hubspots_documented_example() {
    let events = parse_events(DOC_BODY.as_bytes()).expect("doc example parses");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subscription_type, "contact.creation");
    assert_eq!(
        (events[0].portal_id, events[0].object_id, events[0].app_id),
        (62515, 123, 54321)
    );
    assert_eq!(events[0].change_flag.as_deref(), Some("NEW"));
    assert_eq!(
        parse_events(DEAL_EVENTS.as_bytes()).expect("parses").len(),
        7
    );
    assert!(parse_events(b"{\"eventId\":1}").is_err());
    assert!(parse_events(b"not json").is_err());
    assert_eq!(parse_events(b"[]").expect("empty batch").len(), 0);
}

#[test]
fn only_deal_stage_changes_into_won_stages_become_notices() {
    let events = parse_events(DEAL_EVENTS.as_bytes()).expect("parses");
    let won = vec!["closedwon".to_owned(), "contractsigned".to_owned()];
    let notices = deal_won_notices(&events, &won);
    let summary: Vec<(&str, &str, &str)> = notices
        .iter()
        .map(|n| (n.deal_id.as_str(), n.stage.as_str(), n.event_id.as_str()))
        .collect();
    // 9002: not a won stage; 9003: not dealstage; 9005: not a deal; 9006: not a
    // property change; event 106 repeats event 100's change and is dropped.
    assert_eq!(
        summary,
        vec![
            ("9001", "closedwon", "100"),
            ("9004", "contractsigned", "103")
        ]
    );
    assert_eq!(notices[0].occurred_at, at(1_700_000_000_000));
    assert_eq!(
        notices[0].dedup_key(),
        "hubspot:62515:deal:9001:closedwon:1700000000000"
    );
    assert!(deal_won_notices(&events, &["closedlost".to_owned()]).is_empty());
}

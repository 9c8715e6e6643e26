//! The connector against a tiny in-test HubSpot on 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use crmerp_proto::RecordRef;
use serde_json::{Value, json};

use super::*;
use crate::http_client::{HttpTimeouts, build_client};

#[derive(Debug, Clone)]
struct Seen {
    method: &'static str,
    path: String,
    query: Vec<(String, String)>,
    auth: String,
    body: Value,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Headers added to every answer (rate-limit tests).
    extra: Arc<Mutex<Vec<(&'static str, String)>>>,
}

impl Fake {
    fn note(
        &self,
        method: &'static str,
        path: String,
        query: Vec<(String, String)>,
        headers: &HeaderMap,
        body: Value,
    ) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        self.seen.lock().expect("lock").push(Seen {
            method,
            path,
            query,
            auth,
            body,
        });
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
    fn answer(&self, status: StatusCode, body: Value) -> Response {
        let mut resp = (status, Json(body)).into_response();
        for (name, value) in self.extra.lock().expect("lock").iter() {
            resp.headers_mut()
                .insert(*name, value.parse().expect("header"));
        }
        resp
    }
}

fn not_found() -> Value {
    json!({"status":"error","message":"Object not found.  objectId are usually numeric.","correlationId":"0b2f3f9e-5a4d-4d4c-9a2e-3c8a1d6f0c11","category":"OBJECT_NOT_FOUND","context":{"id":["404"]}})
}

type Q = Query<Vec<(String, String)>>;

async fn deal(
    State(f): State<Fake>,
    Path(id): Path<String>,
    Query(q): Q,
    h: HeaderMap,
) -> Response {
    f.note("GET", format!("/deals/{id}"), q, &h, Value::Null);
    match id.as_str() {
        "512" => f.answer(StatusCode::OK, json!({"id":"512","properties":{
            "dealname":"Acme renewal","dealstage":"closedwon","amount":"150.00","deal_currency_code":"EUR",
            "shipping_street":"1 Dock Road","shipping_city":"Hamburg","shipping_zip":"20457","shipping_country":"DE"},
            "archived":false})),
        "429" => f.answer(StatusCode::TOO_MANY_REQUESTS, json!({"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c","category":"RATE_LIMITS","policyName":"TEN_SECONDLY_ROLLING"})),
        _ => f.answer(StatusCode::NOT_FOUND, not_found()),
    }
}

async fn associations(
    State(f): State<Fake>,
    Path((id, to)): Path<(String, String)>,
    Query(q): Q,
    h: HeaderMap,
) -> Response {
    let after = q.iter().find(|(k, _)| k == "after").map(|(_, v)| v.clone());
    f.note(
        "GET",
        format!("/deals/{id}/associations/{to}"),
        q,
        &h,
        Value::Null,
    );
    let body = match (to.as_str(), after.as_deref()) {
        ("line_items", None) => {
            json!({"results":[{"toObjectId":701,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":19,"label":null}]}],
                                        "paging":{"next":{"after":"NzAx","link":"?after=NzAx"}}})
        }
        ("line_items", Some(_)) => {
            json!({"results":[{"toObjectId":702,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":19,"label":null}]}]})
        }
        ("notes", _) => json!({"results":[]}),
        _ => {
            json!({"results":[{"toObjectId":9100,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":5,"label":"Primary"}]}]})
        }
    };
    f.answer(StatusCode::OK, body)
}

async fn batch_read(State(f): State<Fake>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    f.note("POST", "/line_items/batch/read".into(), vec![], &h, body);
    // Answered out of order: the connector must restore association order.
    f.answer(StatusCode::OK, json!({"status":"COMPLETE","results":[
        {"id":"702","properties":{"name":"Gadget","quantity":"1","price":"50","hs_sku":"G-9"}},
        {"id":"701","properties":{"name":"Widget","quantity":"2.0","price":"50.00","hs_sku":"W-1"}}
    ]}))
}

async fn company(
    State(f): State<Fake>,
    Path(id): Path<String>,
    Query(q): Q,
    h: HeaderMap,
) -> Response {
    f.note("GET", format!("/companies/{id}"), q, &h, Value::Null);
    f.answer(StatusCode::OK, json!({"id":id,"properties":{"name":"Acme GmbH","domain":"acme.example","city":"Berlin","country":"DE"}}))
}

async fn update(
    State(f): State<Fake>,
    Path(id): Path<String>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    f.note("PATCH", format!("/deals/{id}"), vec![], &h, body);
    f.answer(StatusCode::OK, json!({"id":id,"properties":{}}))
}

async fn note(State(f): State<Fake>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    f.note("POST", "/notes".into(), vec![], &h, body);
    f.answer(StatusCode::CREATED, json!({"id":"1","properties":{}}))
}

async fn start(config: HubSpotConfig) -> (HubSpotCrm, Fake) {
    let fake = Fake::default();
    let router = Router::new()
        .route("/crm/v3/objects/deals/{id}", get(deal).patch(update))
        .route(
            "/crm/v4/objects/deals/{id}/associations/{to}",
            get(associations),
        )
        .route("/crm/v3/objects/line_items/batch/read", post(batch_read))
        .route("/crm/v3/objects/companies/{id}", get(company))
        .route("/crm/v3/objects/notes", post(note))
        .with_state(fake.clone());
    let addr = crate::test_support::serve(router).await;
    let config = HubSpotConfig {
        base_url: format!("http://{addr}/"),
        access_token: "pat-test-token".into(),
        ..config
    };
    let crm = HubSpotCrm::new(
        config,
        build_client(&HttpTimeouts::default()).expect("client"),
    )
    .expect("valid");
    (crm, fake)
}

#[tokio::test]
async fn fetch_deal_reads_follows_paging_and_maps() {
    let (crm, fake) = start(HubSpotConfig::default()).await;
    let calls = CallLog::new();
    let deal = crm.fetch_deal("512", &calls).await.expect("deal");

    assert_eq!(deal.name, "Acme renewal");
    let skus: Vec<&str> = deal.line_items.iter().map(|l| l.sku.as_str()).collect();
    assert_eq!(skus, vec!["W-1", "G-9"]);
    assert_eq!(deal.line_items[0].quantity, "2");
    assert_eq!(
        deal.account.as_ref().map(|a| a.name.as_str()),
        Some("Acme GmbH")
    );
    assert_eq!(
        deal.shipping_address.as_ref().map(|a| a.addressee.as_str()),
        Some("Acme GmbH")
    );

    let endpoints: Vec<String> = calls.snapshot().into_iter().map(|c| c.endpoint).collect();
    assert_eq!(
        endpoints,
        vec![
            ENDPOINT_DEAL.label(),
            ENDPOINT_DEAL_LINE_ITEMS.label(),
            ENDPOINT_DEAL_LINE_ITEMS.label(),
            ENDPOINT_DEAL_COMPANIES.label(),
            ENDPOINT_LINE_ITEMS.label(),
            ENDPOINT_COMPANY.label(),
        ]
    );
    let seen = fake.seen();
    assert!(seen.iter().all(|s| s.auth == "Bearer pat-test-token"));
    let props = &seen[0]
        .query
        .iter()
        .find(|(k, _)| k == "properties")
        .expect("properties")
        .1;
    assert!(props.starts_with("dealname,dealstage,amount"));
    assert_eq!(
        seen[2]
            .query
            .iter()
            .find(|(k, _)| k == "after")
            .map(|(_, v)| v.as_str()),
        Some("NzAx")
    );
    assert_eq!(seen[4].body["inputs"], json!([{"id":"701"},{"id":"702"}]));
    assert_eq!(seen[5].path, "/companies/9100");
}

#[tokio::test]
async fn a_missing_deal_is_permanent_not_found() {
    let (crm, _) = start(HubSpotConfig::default()).await;
    let calls = CallLog::new();
    let err = crm.fetch_deal("404", &calls).await.expect_err("missing");
    assert_eq!(
        (err.kind, err.category, err.http_status),
        (ErrorKind::Permanent, ErrorCategory::NotFound, 404)
    );
    assert!(err.detail.contains("OBJECT_NOT_FOUND"));
    let err = crm
        .fetch_deal("../admin", &calls)
        .await
        .expect_err("bad id");
    assert_eq!(err.category, ErrorCategory::Validation);
    assert_eq!(
        calls.snapshot().len(),
        1,
        "a bad id is refused before any call"
    );
}

#[tokio::test]
async fn write_back_sets_the_order_number_and_clears_the_error() {
    let (crm, fake) = start(HubSpotConfig::default()).await;
    let order = SalesOrder {
        r#ref: Some(RecordRef {
            system: "netsuite".into(),
            object_type: "salesOrder".into(),
            id: "88".into(),
        }),
        order_number: "SO1001".into(),
        ..SalesOrder::default()
    };
    crm.write_back_order("512", &order, &CallLog::new())
        .await
        .expect("written");
    let seen = fake.seen();
    assert_eq!(
        (seen[0].method, seen[0].path.as_str()),
        ("PATCH", "/deals/512")
    );
    assert_eq!(
        seen[0].body,
        json!({"properties":{"erp_order_number":"SO1001","erp_sync_status":"synced","erp_sync_error":""}})
    );
}

#[tokio::test]
async fn flag_sync_error_marks_the_deal_and_adds_a_note() {
    let (crm, fake) = start(HubSpotConfig::default()).await;
    let calls = CallLog::new();
    crm.flag_sync_error("512", "Unknown SKU <W-1> & more", &calls)
        .await
        .expect("flagged");
    let seen = fake.seen();
    assert_eq!(
        seen[0].body,
        json!({"properties":{"erp_sync_status":"error","erp_sync_error":"Unknown SKU <W-1> & more"}})
    );
    assert_eq!(seen[1].path, "/deals/512/associations/notes", "no note yet");
    let note = &seen[2].body;
    assert_eq!(
        note["properties"]["hs_note_body"],
        "ERP sync failed: Unknown SKU &lt;W-1&gt; &amp; more"
    );
    assert!(
        note["properties"]["hs_timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(note["associations"][0]["to"]["id"], "512");
    assert_eq!(
        note["associations"][0]["types"][0],
        json!({"associationCategory":"HUBSPOT_DEFINED","associationTypeId":214})
    );
    let endpoints: Vec<String> = calls.snapshot().into_iter().map(|c| c.endpoint).collect();
    assert_eq!(
        endpoints,
        vec![
            ENDPOINT_UPDATE_DEAL.label(),
            ENDPOINT_DEAL_NOTES.label(),
            ENDPOINT_CREATE_NOTE.label()
        ]
    );
}

#[tokio::test]
async fn a_429_is_rate_limited_and_holds_later_calls_back() {
    let (crm, fake) = start(HubSpotConfig::default()).await;
    fake.extra
        .lock()
        .expect("lock")
        .push(("retry-after", "30".into()));
    let err = crm
        .fetch_deal("429", &CallLog::new())
        .await
        .expect_err("limited");
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Transient, ErrorCategory::RateLimited)
    );
    assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
    // The window outlasts max_rate_limit_wait_ms (10 s): fail fast, no call made.
    let calls = CallLog::new();
    let err = crm.fetch_deal("512", &calls).await.expect_err("held back");
    assert_eq!(err.category, ErrorCategory::RateLimited);
    assert!(calls.snapshot().is_empty());
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn a_spent_window_is_waited_out_before_the_next_call() {
    let (crm, fake) = start(HubSpotConfig::default()).await;
    {
        let mut extra = fake.extra.lock().expect("lock");
        extra.push(("x-hubspot-ratelimit-remaining", "0".into()));
        extra.push(("x-hubspot-ratelimit-interval-milliseconds", "300".into()));
    }
    crm.write_back_order("512", &SalesOrder::default(), &CallLog::new())
        .await
        .expect("first");
    fake.extra.lock().expect("lock").clear();
    let started = Instant::now();
    crm.write_back_order("512", &SalesOrder::default(), &CallLog::new())
        .await
        .expect("second");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "waited {:?}",
        started.elapsed()
    );
}

struct Fixture;

#[async_trait]
impl crate::conformance::Fixture for Fixture {
    const VENDOR: &'static str = SYSTEM;
    const ROLE: Role = Role::Crm;
    const SECRET: &'static str = "/access_token";

    async fn seed_won_deal(&self, url: &str, deal: &crate::conformance::WonDeal) -> String {
        let http = reqwest::Client::new();
        // HubSpot's CRM v3 create: properties plus HUBSPOT_DEFINED associations.
        let create = |object: &'static str, properties: Value, associations: Value| {
            let request = http
                .post(format!("{url}/crm/v3/objects/{object}"))
                .bearer_auth(crmerp_sandbox::DEV_HUBSPOT_TOKEN)
                .json(&json!({"properties": properties, "associations": associations}));
            async move {
                let created: Value = request
                    .send()
                    .await
                    .expect("create")
                    .json()
                    .await
                    .expect("json");
                created["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("created {object}: {created}"))
                    .to_owned()
            }
        };
        let company = create(
            "companies",
            json!({"name": deal.account, "address": deal.street, "city": deal.city,
                   "zip": deal.postal_code, "country": deal.country_code}),
            json!([]),
        )
        .await;
        let deal_id = create(
            "deals",
            json!({"dealname": deal.name, "dealstage": "closedwon", "pipeline": "default",
                   "deal_currency_code": deal.currency}),
            // Deal to company, primary.
            json!([{"to": {"id": company}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}]}]),
        )
        .await;
        create(
            "line_items",
            json!({"hs_sku": deal.sku, "name": deal.product, "quantity": deal.quantity,
                   "price": deal.unit_price}),
            // Line item to deal.
            json!([{"to": {"id": deal_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}]}]),
        )
        .await;
        deal_id
    }

    async fn order_number_on_deal(&self, url: &str, deal_id: &str) -> String {
        let fields: DealToOrderFields = crate::conformance::dev_fields(crate::Role::Crm, SYSTEM);
        let property = fields.write_back_property;
        let read: Value = reqwest::Client::new()
            .get(format!(
                "{url}/crm/v3/objects/deals/{deal_id}?properties={property}"
            ))
            .bearer_auth(crmerp_sandbox::DEV_HUBSPOT_TOKEN)
            .send()
            .await
            .expect("read deal")
            .json()
            .await
            .expect("json");
        read["properties"][&property]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

crate::conformance::conformance_tests!(Fixture => system, bounded_body, deal_source);

/// The sandbox's HubSpot with `config`, on 127.0.0.1; stopped on drop.
async fn sandbox(
    config: crmerp_sandbox::SandboxConfig,
) -> (String, crate::test_support::Simulator) {
    let sim = crate::test_support::simulator_with("hubspot", config).await;
    (sim.url.clone(), sim)
}

fn sandbox_connector(url: &str, default_currency: &str) -> HubSpotCrm {
    let config = HubSpotConfig {
        base_url: url.to_owned(),
        access_token: crmerp_sandbox::DEV_HUBSPOT_TOKEN.into(),
        deal_to_order: DealToOrderFields {
            default_currency: default_currency.into(),
            ..DealToOrderFields::default()
        },
        ..HubSpotConfig::default()
    };
    HubSpotCrm::new(config, reqwest::Client::new()).expect("valid")
}

/// A won deal with a company and a line item, in no currency of its own.
async fn deal_without_currency(url: &str) -> String {
    let deal = crate::conformance::WonDeal {
        currency: "",
        ..crate::conformance::WON_DEAL
    };
    let deal_id = crate::conformance::Fixture::seed_won_deal(&Fixture, url, &deal).await;
    let read: Value = reqwest::Client::new()
        .get(format!(
            "{url}/crm/v3/objects/deals/{deal_id}?properties=deal_currency_code"
        ))
        .bearer_auth(crmerp_sandbox::DEV_HUBSPOT_TOKEN)
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    let currency = read["properties"]["deal_currency_code"].as_str();
    assert!(currency.is_none_or(str::is_empty), "{read}");
    deal_id
}

fn currencies(deal: &Deal) -> Vec<&str> {
    deal.line_items
        .iter()
        .filter_map(|l| l.unit_price.as_ref().map(|p| p.currency_code.as_str()))
        .collect()
}

/// Issue 11: a deal without a currency is in the portal's company currency,
/// else the configured default; with neither it is a permanent error, never USD.
#[tokio::test]
async fn a_deal_without_currency_takes_the_portal_then_the_default_currency_never_a_guess() {
    let mut config = crmerp_sandbox::SandboxConfig::default();
    config.hubspot.company_currency = Some("EUR".into());
    let (url, _guard) = sandbox(config).await;
    let deal_id = deal_without_currency(&url).await;
    let crm = sandbox_connector(&url, "CHF");
    let calls = CallLog::new();
    let deal = crm.fetch_deal(&deal_id, &calls).await.expect("hydrated");
    assert_eq!(currencies(&deal), ["EUR"], "the portal's currency wins");
    crm.fetch_deal(&deal_id, &calls).await.expect("hydrated");
    let details = calls
        .snapshot()
        .iter()
        .filter(|c| c.endpoint == ENDPOINT_ACCOUNT_DETAILS.label())
        .count();
    assert_eq!(details, 1, "the portal currency is read once");

    let mut config = crmerp_sandbox::SandboxConfig::default();
    config.hubspot.company_currency = None;
    let (url, _guard) = sandbox(config).await;
    let deal_id = deal_without_currency(&url).await;
    let deal = sandbox_connector(&url, "CHF")
        .fetch_deal(&deal_id, &CallLog::new())
        .await
        .expect("hydrated");
    assert_eq!(currencies(&deal), ["CHF"], "then the configured default");
    let err = sandbox_connector(&url, "")
        .fetch_deal(&deal_id, &CallLog::new())
        .await
        .expect_err("no currency anywhere");
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Permanent, ErrorCategory::Validation),
        "{err}"
    );
    assert_eq!(
        err.resolution.as_deref(),
        Some("add_missing_field:deal_currency_code")
    );
    assert!(err.message.contains("no currency"), "{err}");
}

/// The simulator sends HubSpot's per-second headers and limit; the gate waits
/// the second out instead of running into a 429.
#[tokio::test]
async fn the_secondly_limit_is_announced_and_waited_out() {
    let mut config = crmerp_sandbox::SandboxConfig::default();
    config.hubspot.rate_limit_per_second = 2;
    let (url, _guard) = sandbox(config).await;
    let response = reqwest::Client::new()
        .get(format!("{url}/crm/v3/objects/deals?limit=1"))
        .bearer_auth(crmerp_sandbox::DEV_HUBSPOT_TOKEN)
        .send()
        .await
        .expect("list");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("x-hubspot-ratelimit-secondly").as_deref(), Some("2"));
    assert_eq!(
        header("x-hubspot-ratelimit-secondly-remaining").as_deref(),
        Some("1")
    );
    // Start on a fresh second: the connector spends it, then waits for the next.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let crm = sandbox_connector(&url, "USD");
    for _ in 0..4 {
        crm.probe().await.expect("waited, not refused");
    }
}

/// Issue 11: a retry that flags the same reason again adds no second note.
#[tokio::test]
async fn one_note_per_deal_and_reason_across_retries() {
    let (url, _guard) = sandbox(crmerp_sandbox::SandboxConfig::default()).await;
    let deal_id =
        crate::conformance::Fixture::seed_won_deal(&Fixture, &url, &crate::conformance::WON_DEAL)
            .await;
    let crm = sandbox_connector(&url, "");
    for reason in ["SKU <9> unknown", "SKU <9> unknown", "credit limit"] {
        crm.flag_sync_error(&deal_id, reason, &CallLog::new())
            .await
            .expect("flagged");
    }
    let notes: Value = reqwest::Client::new()
        .get(format!(
            "{url}/crm/v4/objects/deals/{deal_id}/associations/notes"
        ))
        .bearer_auth(crmerp_sandbox::DEV_HUBSPOT_TOKEN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        notes["results"].as_array().map(Vec::len),
        Some(2),
        "{notes}"
    );
}

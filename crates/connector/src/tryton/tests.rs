//! Connector tests against a fake Tryton answering with payloads recorded from
//! trytond 8.2.1 (login, preferences, search_read, create, errors).

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use crmerp_proto::{Account, Deal, LineItem, Money, RecordRef};
use serde_json::{Value, json};

use super::*;
use crate::test_support::serve;
use crate::{ErrorKind, http_client::build_client};

#[derive(Default)]
struct Fake {
    logins: usize,
    /// The token the server accepts; `None` after an expiry.
    token: Option<String>,
    methods: Vec<String>,
    /// Every `params` of every call, for assertions on the payloads.
    params: Vec<Value>,
}

type Shared = Arc<Mutex<Fake>>;

async fn rpc(State(fake): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let method = body["method"].as_str().unwrap_or_default().to_owned();
    let params = body["params"].clone();
    let id = body["id"].clone();
    let mut fake = fake.lock().expect("lock");
    fake.methods.push(method.clone());
    fake.params.push(params.clone());
    if method == "common.db.login" {
        if params[1]["password"] != "admin" {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        fake.logins += 1;
        let token = format!("600835a1c2b6f64{}", fake.logins);
        fake.token = Some(token.clone());
        return Json(json!({"id": id, "result": [1, token, null]})).into_response();
    }
    let expected = fake.token.as_ref().map(|t| {
        let raw = format!("admin:1:{t}");
        format!(
            "Session {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    });
    let sent = headers.get("authorization").and_then(|v| v.to_str().ok());
    if expected.is_none() || sent != expected.as_deref() {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"Tryton\"")],
        )
            .into_response();
    }
    let context = params
        .as_array()
        .and_then(|p| p.last())
        .cloned()
        .unwrap_or_default();
    let result = match method.as_str() {
        "model.res.user.get_preferences" => {
            json!({"company": 1, "companies": [1], "language": "en"})
        }
        _ if context["company"] != 1 => {
            return (StatusCode::UNPROCESSABLE_ENTITY, "Missing context argument").into_response();
        }
        "model.party.party.search_read"
            if params[0] == json!([["code", "=", "hubspot-company-7"]]) =>
        {
            json!([{"id": 2}])
        }
        // A draft left behind by an attempt whose quote failed.
        "model.sale.sale.search_read"
            if params[0] == json!([["reference", "=", "hubspot-deal-9"]])
                || params[0] == json!([["id", "=", 17]]) =>
        {
            let quoted = fake.methods.iter().any(|m| m == "model.sale.sale.confirm");
            let (state, number) = if quoted {
                ("processing", json!("S-17"))
            } else {
                ("draft", Value::Null)
            };
            json!([{"id": 17, "state": state, "number": number, "party": 2, "reference": "hubspot-deal-9"}])
        }
        "model.sale.sale.quote" | "model.sale.sale.confirm" => Value::Null,
        "model.party.party.search_read" | "model.sale.sale.search_read" => json!([]),
        "model.party.party.create" => {
            return Json(json!({"id": id, "error": ["UserError", ["The code on party must be unique.", "", null]]}))
                .into_response();
        }
        "model.product.product.search_read" => {
            json!([{"id": 1, "code": "SKU-100", "sale_uom": 1, "default_uom": 1}])
        }
        "model.currency.currency.search_read" => json!([{"id": 1}]),
        "model.party.address.search_read" => json!([{"id": 1, "street": "Friedrichstrasse 1",
            "postal_code": "10117", "city": "Berlin", "country.": {"code": "DE", "id": 1}}]),
        other => json!(format!("unexpected {other}")),
    };
    Json(json!({"id": id, "result": result})).into_response()
}

async fn connector(password: &str) -> (TrytonErp, Shared) {
    let fake: Shared = Arc::default();
    let addr = serve(
        Router::new()
            .route("/tryton/rpc/", post(rpc))
            .with_state(Arc::clone(&fake)),
    )
    .await;
    let config = TrytonConfig {
        base_url: format!("http://{addr}"),
        database: "tryton".into(),
        username: "admin".into(),
        password: password.into(),
        ..TrytonConfig::default()
    };
    let client = build_client(&config.timeouts).expect("client");
    (TrytonErp::new(config, client).expect("valid"), fake)
}

fn account() -> Account {
    Account {
        r#ref: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "company".into(),
            id: "7".into(),
        }),
        name: "Acme GmbH".into(),
        ..Account::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_login_serves_concurrent_calls_and_an_expired_session_logs_in_again() {
    let (erp, fake) = connector("admin").await;
    let erp = Arc::new(erp);
    let mut lookups = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let erp = Arc::clone(&erp);
        lookups.spawn(async move { erp.find_customer(&account(), &CallLog::new()).await });
    }
    while let Some(found) = lookups.join_next().await {
        let found = found.expect("task").expect("found");
        assert_eq!(found.map(|r| r.id).as_deref(), Some("2"));
    }
    let calls = CallLog::new();
    assert_eq!(
        fake.lock().expect("lock").logins,
        1,
        "one login for eight calls"
    );

    fake.lock().expect("lock").token = None; // the server forgets the session
    let found = erp
        .find_customer(&account(), &calls)
        .await
        .expect("after expiry");
    assert_eq!(found.map(|r| r.id).as_deref(), Some("2"));
    let fake = fake.lock().expect("lock");
    assert_eq!(fake.logins, 2);
    // The context (from the preferences) is the last parameter of model calls.
    let last = fake
        .params
        .last()
        .and_then(Value::as_array)
        .and_then(|p| p.last())
        .cloned();
    assert_eq!(last.map(|c| c["company"].clone()), Some(json!(1)));
    assert!(
        calls
            .snapshot()
            .iter()
            .any(|c| c.endpoint == "POST /{db}/rpc/ common.db.login")
    );
}

#[tokio::test]
async fn a_rejected_password_is_an_auth_error() {
    let (erp, _) = connector("wrong").await;
    let err = erp.probe().await.expect_err("rejected");
    assert_eq!(err.kind, ErrorKind::Auth);
    assert_eq!(err.http_status, 401);
    assert_eq!(err.resolution.as_deref(), Some("check_erp_credentials"));
}

#[tokio::test]
async fn a_duplicate_party_code_finds_the_winner() {
    let (erp, _) = connector("admin").await;
    let party = erp
        .create_customer(&account(), &CallLog::new())
        .await
        .expect("winner");
    assert_eq!(party.id, "2");
    assert_eq!(party.object_type, "party.party");
}

#[tokio::test]
async fn an_unknown_sku_is_permanent_with_a_resolution() {
    let (erp, fake) = connector("admin").await;
    let line = |sku: &str| LineItem {
        sku: sku.into(),
        name: sku.into(),
        quantity: "1".into(),
        unit_price: Some(Money {
            currency_code: "EUR".into(),
            amount: "10".into(),
        }),
        ..LineItem::default()
    };
    let deal = Deal {
        line_items: vec![line("SKU-100"), line("SKU-404")],
        ..Deal::default()
    };
    let customer = RecordRef {
        system: SYSTEM.into(),
        object_type: "party.party".into(),
        id: "2".into(),
    };
    let request = OrderRequest {
        external_ref: "hubspot-deal-1",
        customer: &customer,
        deal: &deal,
    };
    let err = erp
        .create_order(&request, &CallLog::new())
        .await
        .expect_err("unknown");
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert_eq!(err.category, ErrorCategory::UnknownItem);
    assert_eq!(
        err.resolution.as_deref(),
        Some("create_item_in_erp:SKU-404")
    );
    let fake = fake.lock().expect("lock");
    assert!(!fake.methods.iter().any(|m| m == "model.sale.sale.create"));
    // One search for every SKU of the deal.
    let search = fake
        .methods
        .iter()
        .zip(&fake.params)
        .find(|(m, _)| *m == "model.product.product.search_read")
        .map(|(_, p)| p[0].clone());
    assert_eq!(
        search,
        Some(json!([["code", "in", ["SKU-100", "SKU-404"]]]))
    );
}

#[tokio::test]
async fn a_draft_left_by_a_failed_attempt_is_quoted_and_confirmed_on_retry() {
    let (erp, fake) = connector("admin").await;
    let order = erp
        .find_order("hubspot-deal-9", &CallLog::new())
        .await
        .expect("found")
        .expect("an order");
    assert_eq!(order.order_number, "S-17");
    assert!(!order.created);
    assert_eq!(order.customer.map(|c| c.id).as_deref(), Some("2"));
    // Scoped: the fake server needs the lock for the next call.
    let buttons: Vec<String> = {
        let fake = fake.lock().expect("lock");
        fake.methods
            .iter()
            .filter(|m| m.ends_with(".quote") || m.ends_with(".confirm"))
            .cloned()
            .collect()
    };
    assert_eq!(
        buttons,
        ["model.sale.sale.quote", "model.sale.sale.confirm"]
    );
    assert_eq!(
        erp.find_order("hubspot-deal-1", &CallLog::new())
            .await
            .expect("ok"),
        None
    );
}

#[test]
fn the_registry_builds_tryton_and_names_missing_settings() {
    let built = crate::registry::build_erp(
        SYSTEM,
        Some(
            json!({"base_url": "http://127.0.0.1:8000", "database": "tryton", "username": "admin", "password": "admin", "network": {"allow_loopback": true}}),
        ),
        &crate::FlowMaps::new(),
    );
    assert!(built.is_ok(), "{:?}", built.err());
    let err = crate::registry::build_erp(
        SYSTEM,
        Some(json!({"base_url": "http://localhost:8000"})),
        &crate::FlowMaps::new(),
    )
    .expect_err("rejected");
    assert!(err.to_string().contains("tryton.database"), "{err}");
}

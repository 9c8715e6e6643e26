//! A tiny in-test NetSuite on 127.0.0.1 that checks every request's OAuth
//! signature the way NetSuite does.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method as AxumMethod, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use secrecy::SecretString;
use serde_json::{Value, json};

use url::Url;

use crate::http_client::{HttpTimeouts, build_client};
use crate::netsuite::{NetSuiteConfig, NetSuiteErp, oauth1};

const CONSUMER_SECRET: &str = "cs-secret";
pub(super) const TOKEN_SECRET: &str = "ts-secret";

#[derive(Clone, Default)]
pub(super) struct Fake {
    /// Method, path and query of every authenticated request, in order.
    pub(super) seen: Arc<Mutex<Vec<String>>>,
    pub(super) bodies: Arc<Mutex<Vec<Value>>>,
    customer_exists: Arc<Mutex<bool>>,
    order_exists: Arc<Mutex<bool>>,
    /// Answer creates with a duplicate error (a concurrent create won).
    pub(super) duplicate_creates: Arc<Mutex<bool>>,
    /// Answer everything with 429 CONCURRENCY_LIMIT_EXCEEDED.
    pub(super) saturated: Arc<Mutex<bool>>,
}

fn flag(f: &Arc<Mutex<bool>>) -> bool {
    *f.lock().expect("lock")
}

pub(super) fn set(f: &Arc<Mutex<bool>>, value: bool) {
    *f.lock().expect("lock") = value;
}

fn error(status: StatusCode, title: &str, code: &str, detail: &str) -> Response {
    let body = json!({"type":"https://www.w3.org/Protocols/rfc9110.html","title":title,"status":status.as_u16(),
        "o:errorDetails":[{"detail":detail,"o:errorCode":code}]});
    (status, Json(body)).into_response()
}

fn created(host: &str, record: &str, id: &str) -> Response {
    let location = format!("http://{host}/services/rest/record/v1/{record}/{id}");
    (StatusCode::NO_CONTENT, [("location", location)]).into_response()
}

/// Recomputes the OAuth 1.0a signature from the request as received.
async fn check_signature(State(f): State<Fake>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let url = Url::parse(&format!("http://{host}{}", request.uri())).expect("url");
    let header = request
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let params: Vec<(String, String)> = header
        .trim_start_matches("OAuth ")
        .split(", ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = percent_encoding::percent_decode_str(v.trim_matches('"'))
                .decode_utf8_lossy()
                .into_owned();
            (k.to_owned(), v)
        })
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (cs, ts) = (
        SecretString::from(CONSUMER_SECRET),
        SecretString::from(TOKEN_SECRET),
    );
    let credentials = oauth1::TbaCredentials {
        realm: "1234567_SB1",
        consumer_key: "ck",
        consumer_secret: &cs,
        token_id: "tk",
        token_secret: &ts,
    };
    let timestamp: u64 = get("oauth_timestamp").parse().unwrap_or_default();
    let expected = oauth1::authorization_header(
        &credentials,
        request.method().as_str(),
        &url,
        &get("oauth_nonce"),
        timestamp,
    );
    if header != expected || get("realm") != "1234567_SB1" {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "INVALID_LOGIN",
            "Invalid login attempt.",
        );
    }
    if flag(&f.saturated) {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "CONCURRENCY_LIMIT_EXCEEDED",
            "Concurrent request limit exceeded.",
        );
    }
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    f.seen
        .lock()
        .expect("lock")
        .push(format!("{} {}{query}", request.method(), url.path()));
    next.run(request).await
}

async fn customer_by_key(State(f): State<Fake>, Path(key): Path<String>) -> Response {
    if key == "eid:hubspot-company-9100" && flag(&f.customer_exists) {
        return Json(json!({"id":"1088","externalId":"hubspot-company-9100","links":[]}))
            .into_response();
    }
    error(
        StatusCode::NOT_FOUND,
        "Not Found",
        "NONEXISTENT_ID",
        "The record instance does not exist.",
    )
}

async fn customers(
    State(f): State<Fake>,
    method: AxumMethod,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == AxumMethod::GET {
        return Json(json!({"links":[],"count":1,"hasMore":true,"items":[{"id":"1088","links":[]}],"offset":0,"totalResults":9})).into_response();
    }
    f.bodies
        .lock()
        .expect("lock")
        .push(serde_json::from_slice(&body).expect("json"));
    if flag(&f.duplicate_creates) {
        set(&f.customer_exists, true);
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "DUP_RCRD",
            "This record already exists.",
        );
    }
    set(&f.customer_exists, true);
    created(
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or(""),
        "customer",
        "1088",
    )
}

async fn order_by_key(State(f): State<Fake>, Path(key): Path<String>) -> Response {
    match key.as_str() {
        "eid:hubspot-deal-512" if flag(&f.order_exists) => Json(
            json!({"id":"647","tranId":"SO1001","externalId":"hubspot-deal-512",
            "entity":{"id":"1088","refName":"Acme GmbH"},"links":[]}),
        )
        .into_response(),
        "647" => Json(json!({"id":"647","tranId":"SO1001","links":[]})).into_response(),
        _ => error(
            StatusCode::NOT_FOUND,
            "Not Found",
            "NONEXISTENT_ID",
            "The record instance does not exist.",
        ),
    }
}

async fn create_order(State(f): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    f.bodies
        .lock()
        .expect("lock")
        .push(serde_json::from_slice(&body).expect("json"));
    if flag(&f.duplicate_creates) {
        set(&f.order_exists, true);
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "DUP_RCRD",
            "This record already exists.",
        );
    }
    set(&f.order_exists, true);
    created(
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or(""),
        "salesOrder",
        "647",
    )
}

async fn items(uri: Uri) -> Response {
    let url = Url::parse(&format!("http://x{uri}")).expect("url");
    let q = url
        .query_pairs()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let items = match q.as_str() {
        "itemId IS \"W-1\"" => json!([{"id":"45","links":[]}]),
        "itemId IS \"G 9/x\"" => json!([{"id":"46","links":[]}]),
        _ => json!([]),
    };
    Json(json!({"links":[],"count":items.as_array().map_or(0, Vec::len),"hasMore":false,"items":items,"offset":0,"totalResults":0})).into_response()
}

pub(super) async fn start(token_secret: &str) -> (NetSuiteErp, Fake) {
    let fake = Fake::default();
    let router = Router::new()
        .route(
            "/services/rest/record/v1/customer",
            get(customers).post(customers),
        )
        .route(
            "/services/rest/record/v1/customer/{key}",
            get(customer_by_key),
        )
        .route(
            "/services/rest/record/v1/salesOrder",
            axum::routing::post(create_order),
        )
        .route(
            "/services/rest/record/v1/salesOrder/{key}",
            get(order_by_key),
        )
        .route("/services/rest/record/v1/inventoryItem", get(items))
        .layer(middleware::from_fn_with_state(
            fake.clone(),
            check_signature,
        ))
        .with_state(fake.clone());
    let addr = crate::test_support::serve(router).await;
    let config = NetSuiteConfig {
        account_id: "1234567_SB1".into(),
        base_url: Some(format!("http://{addr}")),
        consumer_key: "ck".into(),
        consumer_secret: CONSUMER_SECRET.into(),
        token_id: "tk".into(),
        token_secret: token_secret.into(),
        deal_to_order: crate::netsuite::DealToOrderFields {
            subsidiary_id: Some("1".into()),
        },
        ..NetSuiteConfig::default()
    };
    let erp = NetSuiteErp::new(
        config,
        build_client(&HttpTimeouts::default()).expect("client"),
    )
    .expect("valid");
    (erp, fake)
}

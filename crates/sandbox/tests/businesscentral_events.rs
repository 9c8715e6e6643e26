//! Business Central webhook notifications and the fulfilment control endpoint,
//! checked with a real loopback subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use crmerp_sandbox::{
    DEV_BC_CLIENT_ID, DEV_BC_CLIENT_SECRET, DEV_BC_COMPANY_ID, DEV_BC_ENVIRONMENT,
    DEV_BC_TENANT_ID, SandboxConfig,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A subscriber: answers the validation handshake, then each notification with
/// the next scripted status (204 once the script is used up).
struct Subscriber {
    url: String,
    notifications: mpsc::UnboundedReceiver<Value>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

#[derive(Clone)]
struct SubscriberState {
    sender: mpsc::UnboundedSender<Value>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

async fn subscriber_endpoint(
    State(state): State<SubscriberState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    if let Some(token) = query.get("validationToken") {
        return (StatusCode::OK, token.clone()).into_response();
    }
    state
        .sender
        .send(serde_json::from_slice(&body).unwrap())
        .unwrap();
    let status = state.script.lock().unwrap().pop_front().unwrap_or(204);
    StatusCode::from_u16(status).unwrap().into_response()
}

async fn subscriber() -> Subscriber {
    let (sender, notifications) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(VecDeque::new()));
    let state = SubscriberState {
        sender,
        script: Arc::clone(&script),
    };
    let app = axum::Router::new()
        .route("/bc/notify", post(subscriber_endpoint))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bc/notify", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Subscriber {
        url,
        notifications,
        script,
    }
}

impl Subscriber {
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(5), self.notifications.recv())
            .await
            .expect("notification arrives in time")
            .expect("subscriber open")
    }

    async fn nothing_more(&mut self) {
        let more =
            tokio::time::timeout(Duration::from_millis(600), self.notifications.recv()).await;
        assert!(more.is_err(), "unexpected notification {more:?}");
    }
}

/// The Business Central simulator on a free port, with a bearer token.
struct Bc {
    url: String,
    token: String,
    http: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

async fn start_bc() -> Bc {
    let mut config = SandboxConfig::default();
    config.businesscentral.notification_delay = Duration::from_millis(100);
    config.businesscentral.collection_threshold = 3;
    config.businesscentral.retry = common::fast_retry();
    let (url, stop) = common::serve_one(config, "businesscentral").await;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{url}/{DEV_BC_TENANT_ID}/oauth2/v2.0/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={DEV_BC_CLIENT_ID}&client_secret={DEV_BC_CLIENT_SECRET}&scope=https%3A%2F%2Fapi.businesscentral.dynamics.com%2F.default"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Bc {
        url,
        token: token["access_token"].as_str().unwrap().to_owned(),
        http,
        _stop: stop,
    }
}

impl Bc {
    fn api(&self, path: &str) -> String {
        format!(
            "{}/v2.0/{DEV_BC_TENANT_ID}/{DEV_BC_ENVIRONMENT}/api/v2.0/{path}",
            self.url
        )
    }

    fn company(&self, path: &str) -> String {
        self.api(&format!("companies({DEV_BC_COMPANY_ID})/{path}"))
    }

    async fn call(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn subscribe(&self, url: &str, set: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &self.api("subscriptions"),
                Some(json!({
                    "notificationUrl": url,
                    "resource": format!("/api/v2.0/companies({DEV_BC_COMPANY_ID})/{set}"),
                    "clientState": "shared-secret-42",
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["subscriptionId"].as_str().unwrap().to_owned()
    }

    async fn customer(&self) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &self.company("customers"),
                Some(json!({"displayName": "Adatum"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["number"].as_str().unwrap().to_owned()
    }

    async fn order(&self, customer: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &self.company("salesOrders"),
                Some(json!({"customerNumber": customer, "externalDocumentNumber": "deal-1"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn fulfil(&self, order: &str, body: Value) -> (u16, Value) {
        common::fulfil(&self.url, order, body).await
    }

    async fn deliveries(&self) -> Value {
        self.http
            .get(format!("{}/__sandbox/webhooks/deliveries", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn order_changes_notify_subscribers_with_their_client_state() {
    let bc = start_bc().await;
    let mut hook = subscriber().await;
    let subscription = bc.subscribe(&hook.url, "salesOrders").await;
    let customer = bc.customer().await;

    let order = bc.order(&customer).await;
    let id = order["id"].as_str().unwrap();
    let notice = hook.next().await;
    let entries = notice["value"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{notice}");
    assert_eq!(entries[0]["subscriptionId"], subscription.as_str());
    assert_eq!(entries[0]["clientState"], "shared-secret-42");
    assert_eq!(entries[0]["changeType"], "created");
    assert_eq!(
        entries[0]["resource"],
        format!("api/v2.0/companies({DEV_BC_COMPANY_ID})/salesOrders({id})")
    );
    assert!(entries[0]["expirationDateTime"].is_string());
    // The customer was created too, but nobody subscribed to customers.
    hook.nothing_more().await;

    // Fulfilment: each step changes the record and notifies an update.
    let number = order["number"].as_str().unwrap();
    let (status, _) = bc.fulfil(number, json!({"status": "picking"})).await;
    assert_eq!(status, 200);
    assert_eq!(hook.next().await["value"][0]["changeType"], "updated");
    let (status, body) = bc.fulfil(number, json!({"status": "dispatched"})).await;
    assert_eq!(
        status, 400,
        "dispatching needs carrier and tracking: {body}"
    );
    let (status, _) = bc
        .fulfil(
            number,
            json!({"status": "dispatched", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(hook.next().await["value"][0]["changeType"], "updated");
    let (status, read) = bc
        .call(
            reqwest::Method::GET,
            &bc.company(&format!("salesOrders({id})")),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["status"], "Released");
    assert_eq!(read["fullyShipped"], true);
    assert_eq!(read["shippingAgentCode"], "UPS");
    assert_eq!(read["packageTrackingNumber"], "1Z999AA10123456784");

    // Invoicing posts an invoice and deletes the order, as BC does.
    let (status, invoice) = bc.fulfil(number, json!({"status": "invoiced"})).await;
    assert_eq!(status, 200);
    assert_eq!(invoice["record"]["orderNumber"], number);
    assert_eq!(invoice["record"]["status"], "Open");
    let deleted = hook.next().await;
    assert_eq!(deleted["value"][0]["changeType"], "deleted", "{deleted}");
    let (status, _) = bc
        .call(
            reqwest::Method::GET,
            &bc.company(&format!("salesOrders({id})")),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = bc.fulfil(number, json!({"status": "paid"})).await;
    assert_eq!(status, 200);
    let (_, invoices) = bc
        .call(reqwest::Method::GET, &bc.company("salesInvoices"), None)
        .await;
    assert_eq!(invoices["value"][0]["status"], "Paid");
    assert_eq!(invoices["value"][0]["remainingAmount"], 0);
}

#[tokio::test]
async fn many_changes_collapse_into_one_collection_notice() {
    let bc = start_bc().await;
    let mut hook = subscriber().await;
    bc.subscribe(&hook.url, "salesOrders").await;
    let customer = bc.customer().await;
    for _ in 0..4 {
        bc.order(&customer).await;
    }
    let notice = hook.next().await;
    let entries = notice["value"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{notice}");
    assert_eq!(entries[0]["changeType"], "collection");
    let resource = entries[0]["resource"].as_str().unwrap();
    assert!(
        resource.starts_with(&format!(
            "api/v2.0/companies({DEV_BC_COMPANY_ID})/salesOrders?$filter=lastModifiedDateTime%20gt%20"
        )),
        "{resource}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_other_refusals_delete_the_subscription() {
    let bc = start_bc().await;
    let mut hook = subscriber().await;
    bc.subscribe(&hook.url, "salesOrders").await;
    let customer = bc.customer().await;

    hook.script.lock().unwrap().extend([503]);
    bc.order(&customer).await;
    let first = hook.next().await;
    let retried = hook.next().await;
    assert_eq!(first, retried, "the same notification is sent again");
    let log = bc.deliveries().await;
    assert_eq!(log["count"], 2, "{log}");
    assert_eq!(log["deliveries"][0]["status"], 503);
    assert_eq!(log["deliveries"][1]["delivered"], true);

    hook.script.lock().unwrap().extend([410]);
    bc.order(&customer).await;
    hook.next().await;
    hook.nothing_more().await;
    let (_, subscriptions) = bc
        .call(reqwest::Method::GET, &bc.api("subscriptions"), None)
        .await;
    assert_eq!(subscriptions["value"], json!([]), "{subscriptions}");
    let log = bc.deliveries().await;
    assert_eq!(log["deliveries"][2]["gave_up"], true, "{log}");
}

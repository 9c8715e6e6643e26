//! Helpers shared by the sandbox integration tests: starting the sandbox, a test-only NetSuite
//! OAuth signer and a webhook receiver.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use crmerp_sandbox::{RetryPolicy, RunningSandbox, SandboxConfig};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::mpsc;

pub const TOKEN: &str = "pat-na1-dev-token";

/// Starts a sandbox with fast webhook retries.
pub async fn start(mut config: SandboxConfig) -> RunningSandbox {
    config.hubspot.webhooks.retry = RetryPolicy {
        max_attempts: 4,
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
    };
    crmerp_sandbox::spawn(config).await.expect("sandbox starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A HubSpot call with the dev token.
pub async fn hubspot(
    sandbox: &RunningSandbox,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client()
        .request(method, format!("{}{path}", sandbox.hubspot_url()))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("hubspot request");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// RFC 3986 encoding for the test signer (unreserved characters kept).
fn enc(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A test-only OAuth 1.0a HMAC-SHA256 signer for NetSuite TBA, written separately from the
/// sandbox's verifier.
pub struct Signer {
    pub realm: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub token: String,
    pub token_secret: String,
}

impl Signer {
    pub fn dev() -> Self {
        Self {
            realm: "1234567_SB1".into(),
            consumer_key: "dev-ns-consumer-key".into(),
            consumer_secret: "dev-ns-consumer-secret".into(),
            token: "dev-ns-token-id".into(),
            token_secret: "dev-ns-token-secret".into(),
        }
    }

    /// The `Authorization` header for `method url`.
    pub fn header(&self, method: &str, url: &str) -> String {
        let parsed = reqwest::Url::parse(url).expect("url");
        let base_url = format!(
            "http://{}:{}{}",
            parsed.host_str().expect("host"),
            parsed.port().expect("port"),
            parsed.path()
        );
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let oauth = [
            ("oauth_consumer_key", self.consumer_key.clone()),
            ("oauth_nonce", nonce),
            ("oauth_signature_method", "HMAC-SHA256".to_owned()),
            ("oauth_timestamp", timestamp),
            ("oauth_token", self.token.clone()),
            ("oauth_version", "1.0".to_owned()),
        ];
        let mut params: Vec<(String, String)> = oauth
            .iter()
            .map(|(name, value)| (enc(name), enc(value)))
            .collect();
        for (name, value) in parsed.query_pairs() {
            params.push((enc(&name), enc(&value)));
        }
        params.sort();
        let joined = params
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        let base = format!("{method}&{}&{}", enc(&base_url), enc(&joined));
        let key = format!("{}&{}", enc(&self.consumer_secret), enc(&self.token_secret));
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(base.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let mut header = format!("OAuth realm=\"{}\"", self.realm);
        for (name, value) in oauth {
            header.push_str(&format!(", {name}=\"{}\"", enc(&value)));
        }
        header.push_str(&format!(", oauth_signature=\"{}\"", enc(&signature)));
        header
    }
}

/// A signed NetSuite call; returns the raw response.
pub async fn netsuite(
    sandbox: &RunningSandbox,
    signer: &Signer,
    method: reqwest::Method,
    path_and_query: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let url = format!("{}{path_and_query}", sandbox.netsuite_url());
    let mut request = client()
        .request(method.clone(), &url)
        .header("Authorization", signer.header(method.as_str(), &url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("netsuite request")
}

/// A webhook POST as received.
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A local webhook receiver that fails the first `fail_first` requests with 500.
pub struct Receiver {
    pub url: String,
    pub received: mpsc::UnboundedReceiver<Received>,
}

pub async fn receiver(fail_first: usize) -> Receiver {
    let (sender, received) = mpsc::unbounded_channel();
    let failures = Arc::new(AtomicUsize::new(fail_first));
    let app = axum::Router::new().route(
        "/webhooks/hubspot",
        post(move |headers: HeaderMap, body: Bytes| {
            let sender = sender.clone();
            let failures = Arc::clone(&failures);
            async move {
                let _ = sender.send(Received { headers, body });
                let fail = failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                        left.checked_sub(1)
                    })
                    .is_ok();
                if fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/hubspot", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, received }
}

impl Receiver {
    /// The next webhook, waiting at most five seconds.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(5), self.received.recv())
            .await
            .expect("webhook arrives in time")
            .expect("receiver open")
    }
}

/// Three quick attempts: 50 ms, then 100 ms apart.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(100),
    }
}

/// ERP events to `target`, retried quickly.
pub fn fast_events(target: &str) -> crmerp_sandbox::EventConfig {
    crmerp_sandbox::EventConfig {
        target_url: Some(target.to_owned()),
        retry: fast_retry(),
        request_timeout: Duration::from_secs(5),
    }
}

/// Serves the one simulator `name` on a free port; it stops when the guard drops.
pub async fn serve_one(
    config: SandboxConfig,
    name: &'static str,
) -> (String, tokio_util::sync::DropGuard) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(crmerp_sandbox::serve(
        config,
        vec![(name, listener)],
        shutdown.clone(),
    ));
    (url, shutdown.drop_guard())
}

/// `POST /__sandbox/orders/{order}/fulfilment` on the simulator at `url`.
pub async fn fulfil(url: &str, order: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(format!("{url}/__sandbox/orders/{order}/fulfilment"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

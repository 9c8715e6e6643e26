//! Tryton JSON-RPC over HTTP through the kit, with the session as its authentication.
//!
//! `common.db.login` answers `[user_id, token, bus_url]`; later calls carry
//! `Authorization: Session base64(login:user_id:token)`. Tryton answers 401
//! once a session has expired (`[session] max_age` / `timeout`): the kit then
//! renews the session (one login at a time) and repeats the call once. Every
//! model call gets the user's preferences as its context (the last positional
//! parameter), which carries the company.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, Request};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{SYSTEM, wire};
use crate::http_client::{VendorResponse, classify_status, protocol_error};
use crate::http_kit::{Authenticate, Endpoint, NoAuth, VendorClient};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// A logged-in session: the header to send and the user's context.
pub(crate) struct Session {
    header: HeaderValue,
    context: Value,
}

/// The endpoint label of a method in call logs and errors (low cardinality).
pub(crate) fn endpoint(method: &str) -> String {
    rpc_endpoint(method).into()
}

/// The endpoint of a JSON-RPC method: one URL, told apart by the method name.
fn rpc_endpoint(method: &str) -> Endpoint {
    Endpoint::dynamic(Method::POST, &format!("/{{db}}/rpc/ {method}"))
}

/// The JSON-RPC envelope of one request; ids only need to differ per connection.
fn envelope(next_id: &AtomicU64, method: &str, params: Vec<Value>) -> Value {
    let id = next_id.fetch_add(1, Ordering::Relaxed);
    json!({ "id": id, "method": method, "params": params })
}

/// A JSON-RPC client of one Tryton database.
#[derive(Debug)]
pub(crate) struct RpcClient {
    url: String,
    http: VendorClient<TrytonSession>,
}

/// The Tryton session as the kit's authentication: logs in when there is no
/// session, and drops a rejected one so the kit's retry logs in again.
pub(crate) struct TrytonSession {
    url: String,
    username: String,
    password: SecretString,
    language: String,
    /// Login and preferences go out before there is a session to apply.
    anonymous: VendorClient<NoAuth>,
    next_id: Arc<AtomicU64>,
    session: Mutex<Option<Arc<Session>>>,
}

impl std::fmt::Debug for TrytonSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrytonSession")
            .field("url", &self.url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl RpcClient {
    pub(crate) fn new(
        url: String,
        username: String,
        password: SecretString,
        language: String,
        http: reqwest::Client,
    ) -> Self {
        let next_id = Arc::new(AtomicU64::new(1));
        let session = TrytonSession {
            url: url.clone(),
            username,
            password,
            language,
            anonymous: VendorClient::new(SYSTEM, http.clone(), NoAuth, classify),
            next_id,
            session: Mutex::new(None),
        };
        Self {
            url,
            http: VendorClient::new(SYSTEM, http, session, classify),
        }
    }

    /// Calls a model method with `args`; the session's context is appended.
    pub(crate) async fn call(
        &self,
        calls: &CallLog,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, ConnectorError> {
        let endpoint = rpc_endpoint(method);
        let next_id = &self.http.auth().next_id;
        let response = self
            .http
            .send_with(calls, &endpoint, |http, session: &Arc<Session>| {
                let mut params = args.clone();
                params.push(session.context.clone());
                Ok(http
                    .post(&self.url)
                    .json(&envelope(next_id, method, params)))
            })
            .await?;
        result(&endpoint, &response)
    }
}

impl TrytonSession {
    /// The cached session, or a new one. The lock is held during the login so
    /// concurrent callers wait for one login instead of each starting their own.
    async fn current(&self, calls: &CallLog) -> Result<Arc<Session>, ConnectorError> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref() {
            return Ok(Arc::clone(session));
        }
        let session = Arc::new(self.login(calls).await?);
        *slot = Some(Arc::clone(&session));
        Ok(session)
    }

    /// Drops `stale` unless another caller already replaced it.
    async fn forget(&self, stale: &Arc<Session>) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, stale)) {
            *slot = None;
        }
    }

    async fn login(&self, calls: &CallLog) -> Result<Session, ConnectorError> {
        const LOGIN: &str = "common.db.login";
        let params = vec![
            json!(self.username),
            json!({ "password": self.password.expose_secret() }),
            json!(self.language),
        ];
        let result = self
            .post(calls, LOGIN, params, None)
            .await
            .map_err(|mut err| {
                // Bad credentials are 401; an unknown database is 404: both need an operator.
                if matches!(err.http_status, 401 | 403 | 404) {
                    err.kind = ErrorKind::Auth;
                    err.category = ErrorCategory::Unauthorized;
                    err.resolution = Some("check_erp_credentials".into());
                }
                err
            })?;
        let (user_id, token) = parse_login(&result)
            .ok_or_else(|| protocol_error(SYSTEM, &endpoint(LOGIN), "unexpected login answer"))?;
        let token = SecretString::from(token);
        let raw = format!("{}:{user_id}:{}", self.username, token.expose_secret());
        let mut header = HeaderValue::try_from(format!("Session {}", STANDARD.encode(raw)))
            .map_err(|_| protocol_error(SYSTEM, &endpoint(LOGIN), "unusable session token"))?;
        header.set_sensitive(true);
        // The preferences are the user's context: company, language, …
        const PREFERENCES: &str = "model.res.user.get_preferences";
        let context = self
            .post(
                calls,
                PREFERENCES,
                vec![json!(true), json!({})],
                Some(&header),
            )
            .await?;
        if !context.is_object() {
            return Err(protocol_error(
                SYSTEM,
                &endpoint(PREFERENCES),
                "the user preferences are not an object",
            ));
        }
        tracing::debug!(user_id, "Logged in to Tryton.");
        Ok(Session { header, context })
    }

    /// One JSON-RPC request outside the session (login, then preferences with
    /// the new session's header); HTTP errors and `error` answers are classified.
    async fn post(
        &self,
        calls: &CallLog,
        method: &str,
        params: Vec<Value>,
        auth: Option<&HeaderValue>,
    ) -> Result<Value, ConnectorError> {
        let endpoint = rpc_endpoint(method);
        let body = envelope(&self.next_id, method, params);
        let response = self
            .anonymous
            .send(calls, &endpoint, &self.url, |mut request| {
                request = request.json(&body);
                if let Some(auth) = auth {
                    request = request.header(AUTHORIZATION, auth.clone());
                }
                request
            })
            .await?;
        result(&endpoint, &response)
    }
}

#[async_trait]
impl Authenticate for TrytonSession {
    type Credential = Arc<Session>;

    async fn credential(
        &self,
        calls: &CallLog,
        _system: &'static str,
        _endpoint: &Endpoint,
    ) -> Result<Arc<Session>, ConnectorError> {
        self.current(calls).await
    }

    fn apply(
        &self,
        request: &mut Request,
        session: &Arc<Session>,
        _system: &'static str,
        _endpoint: &Endpoint,
    ) -> Result<(), ConnectorError> {
        request
            .headers_mut()
            .insert(AUTHORIZATION, session.header.clone());
        Ok(())
    }

    async fn renew(&self, session: &Arc<Session>, _response: &VendorResponse) -> bool {
        tracing::info!("Tryton session rejected; logging in again.");
        self.forget(session).await;
        true
    }
}

/// Classifies a non-2xx Tryton answer.
pub(crate) fn classify(
    endpoint: &str,
    response: &VendorResponse,
    now: DateTime<Utc>,
) -> ConnectorError {
    let mut err = classify_status(SYSTEM, endpoint, response, now);
    // 503 (`DatabaseOperationalError`, e.g. SQLite "database is locked") and
    // 504 (transaction timeout) stay transient; 422 ("Missing context
    // argument") is a permanent request error, as classified by status.
    match response.status.as_u16() {
        401 => err.resolution = Some("check_erp_credentials".into()),
        // A method outside `__rpc__` or a refused origin: configuration, not data.
        403 => err.resolution = Some("check_erp_configuration".into()),
        _ => {}
    }
    err
}

/// The result of a 2xx answer, or its JSON-RPC `error` classified.
pub(crate) fn result(endpoint: &str, response: &VendorResponse) -> Result<Value, ConnectorError> {
    let mut answer: Value = response.json(SYSTEM, endpoint)?;
    if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
        return Err(wire::classify_error(endpoint, error, &response.text()));
    }
    match answer.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(
            protocol_error(SYSTEM, endpoint, "answer has neither result nor error")
                .with_detail(&response.text()),
        ),
    }
}

/// `[user_id, token, bus_url]` (older servers: `[user_id, token]`).
fn parse_login(result: &Value) -> Option<(i64, String)> {
    let items = result.as_array()?;
    let user_id = items.first()?.as_i64()?;
    let token = items.get(1)?.as_str()?;
    (!token.is_empty()).then(|| (user_id, token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_login_answer_parses() {
        let result = json!([1, "600835a1c2b6f641", null]);
        assert_eq!(parse_login(&result), Some((1, "600835a1c2b6f641".into())));
        assert_eq!(parse_login(&json!([1, ""])), None);
        assert_eq!(parse_login(&json!(false)), None);
    }
}

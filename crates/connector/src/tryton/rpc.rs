//! Tryton JSON-RPC over HTTP with a cached session.
//!
//! `common.db.login` answers `[user_id, token, bus_url]`; later calls carry
//! `Authorization: Session base64(login:user_id:token)`. Tryton answers 401
//! once a session has expired (`[session] max_age` / `timeout`), so a 401 on a
//! model call drops the session, logs in again (one login at a time) and
//! repeats the call once. Every model call gets the user's preferences as its
//! context (the last positional parameter), which carries the company.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{SYSTEM, wire};
use crate::http_client::{VendorResponse, classify_status, execute, protocol_error};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// A logged-in session: the header to send and the user's context.
struct Session {
    header: HeaderValue,
    context: Value,
}

/// A JSON-RPC client of one Tryton database.
pub(crate) struct RpcClient {
    url: String,
    username: String,
    password: SecretString,
    language: String,
    http: reqwest::Client,
    session: Mutex<Option<Arc<Session>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &self.url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The endpoint label of a method in call logs and errors (low cardinality).
pub(crate) fn endpoint(method: &str) -> String {
    format!("POST /{{db}}/rpc/ {method}")
}

impl RpcClient {
    pub(crate) fn new(
        url: String,
        username: String,
        password: SecretString,
        language: String,
        http: reqwest::Client,
    ) -> Self {
        Self {
            url,
            username,
            password,
            language,
            http,
            session: Mutex::new(None),
            next_id: AtomicU64::new(1),
        }
    }

    /// Calls a model method with `args`; the context is appended. A 401 (expired
    /// session) triggers one new login and one repeat of the call.
    pub(crate) async fn call(
        &self,
        calls: &CallLog,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, ConnectorError> {
        let session = self.session(calls).await?;
        match self.call_with(calls, method, &args, &session).await {
            Err(err) if err.http_status == 401 => {
                tracing::info!(method, "Tryton session rejected; logging in again.");
                self.forget(&session).await;
                let session = self.session(calls).await?;
                self.call_with(calls, method, &args, &session).await
            }
            other => other,
        }
    }

    async fn call_with(
        &self,
        calls: &CallLog,
        method: &str,
        args: &[Value],
        session: &Session,
    ) -> Result<Value, ConnectorError> {
        let mut params = args.to_vec();
        params.push(session.context.clone());
        self.post(calls, method, params, Some(&session.header))
            .await
    }

    /// The cached session, or a new one. The lock is held during the login so
    /// concurrent callers wait for one login instead of each starting their own.
    async fn session(&self, calls: &CallLog) -> Result<Arc<Session>, ConnectorError> {
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

    /// One JSON-RPC request; HTTP errors and `error` answers are classified.
    async fn post(
        &self,
        calls: &CallLog,
        method: &str,
        params: Vec<Value>,
        auth: Option<&HeaderValue>,
    ) -> Result<Value, ConnectorError> {
        let endpoint = endpoint(method);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "id": id, "method": method, "params": params });
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response = execute(calls, SYSTEM, &endpoint, request).await?;
        interpret(&endpoint, &response)
    }
}

/// The result of an answer, or its classified failure.
pub(crate) fn interpret(
    endpoint: &str,
    response: &VendorResponse,
) -> Result<Value, ConnectorError> {
    if !response.is_success() {
        let mut err = classify_status(SYSTEM, endpoint, response, Utc::now());
        // 503 (`DatabaseOperationalError`, e.g. SQLite "database is locked") and
        // 504 (transaction timeout) stay transient; 422 ("Missing context
        // argument") is a permanent request error, as classified by status.
        match response.status.as_u16() {
            401 => err.resolution = Some("check_erp_credentials".into()),
            // A method outside `__rpc__` or a refused origin: configuration, not data.
            403 => err.resolution = Some("check_erp_configuration".into()),
            _ => {}
        }
        return Err(err);
    }
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

//! Authorised S/4HANA calls with the CSRF protocol: modifying requests carry a
//! token fetched with `x-csrf-token: Fetch` and the session cookies that came
//! with it; a 403 `x-csrf-token: Required` refetches once and retries.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use reqwest::header::{ACCEPT, AUTHORIZATION, COOKIE, HeaderValue, SET_COOKIE};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use super::{S4HanaErp, SYSTEM, errors};
use crate::auth::Credential;
use crate::http_client::{VendorResponse, encode_segment, execute, protocol_error};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

const CSRF_HEADER: &str = "x-csrf-token";

/// A CSRF token and the session cookies it belongs to.
#[derive(Debug)]
pub(crate) struct CsrfSession {
    token: SecretString,
    cookies: SecretString,
}

/// One CSRF session per OData service, fetched once and shared by every call.
#[derive(Debug, Default)]
pub(crate) struct CsrfCache {
    sessions: Mutex<HashMap<&'static str, Arc<CsrfSession>>>,
}

impl S4HanaErp {
    /// One call to `url` in `service`; non-2xx answers come back classified.
    pub(crate) async fn call(
        &self,
        calls: &CallLog,
        method: Method,
        service: &'static str,
        endpoint: &str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<VendorResponse, ConnectorError> {
        let modifying = method != Method::GET && method != Method::HEAD;
        let (mut auth_retried, mut csrf_retried) = (false, false);
        loop {
            let credential = self.auth.credential(SYSTEM, endpoint, calls).await?;
            let session = if modifying {
                Some(self.csrf_session(service, &credential, calls).await?)
            } else {
                None
            };
            let mut request = self
                .client
                .request(method.clone(), url)
                .header(AUTHORIZATION, credential.header.clone())
                .header(ACCEPT, "application/json");
            if let Some(session) = &session {
                request = request
                    .header(CSRF_HEADER, sensitive(&session.token, endpoint)?)
                    .header(COOKIE, sensitive(&session.cookies, endpoint)?);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = execute(calls, SYSTEM, endpoint, request).await?;
            if response.status == StatusCode::UNAUTHORIZED
                && !auth_retried
                && self.auth.rejected(&credential).await
            {
                auth_retried = true;
                continue;
            }
            if errors::csrf_required(&response) && !csrf_retried {
                if let Some(session) = &session {
                    self.forget_session(service, session).await;
                }
                csrf_retried = true;
                continue;
            }
            return if response.is_success() {
                Ok(response)
            } else {
                Err(errors::classify(endpoint, &response, Utc::now()))
            };
        }
    }

    /// The cached CSRF session of `service`, fetched when there is none. The
    /// lock is held during the fetch so concurrent writers share one fetch.
    async fn csrf_session(
        &self,
        service: &'static str,
        credential: &Credential,
        calls: &CallLog,
    ) -> Result<Arc<CsrfSession>, ConnectorError> {
        let mut sessions = self.csrf.sessions.lock().await;
        if let Some(session) = sessions.get(service) {
            return Ok(Arc::clone(session));
        }
        let endpoint = "GET /sap/opu/odata/sap/{service}/ (x-csrf-token: Fetch)";
        let url = self.url(service, "/", &[]);
        let request = self
            .client
            .get(&url)
            .header(AUTHORIZATION, credential.header.clone())
            .header(ACCEPT, "application/json")
            .header(CSRF_HEADER, "Fetch");
        let response = execute(calls, SYSTEM, endpoint, request).await?;
        if !response.is_success() {
            return Err(errors::classify(endpoint, &response, Utc::now()));
        }
        let token = response
            .header(CSRF_HEADER)
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("required"))
            .ok_or_else(|| protocol_error(SYSTEM, endpoint, "no x-csrf-token in the fetch answer"))?
            .to_owned();
        // Only `name=value` of each cookie goes back; attributes stay behind.
        let cookies: Vec<&str> = response
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::trim)
            .filter(|c| c.contains('='))
            .collect();
        let session = Arc::new(CsrfSession {
            token: SecretString::from(token),
            cookies: SecretString::from(cookies.join("; ")),
        });
        sessions.insert(service, Arc::clone(&session));
        Ok(session)
    }

    async fn forget_session(&self, service: &'static str, stale: &Arc<CsrfSession>) {
        let mut sessions = self.csrf.sessions.lock().await;
        if sessions.get(service).is_some_and(|s| Arc::ptr_eq(s, stale)) {
            sessions.remove(service);
        }
    }

    /// `{service root}{path}?{query}&sap-client=…`, values RFC 3986-encoded.
    pub(crate) fn url(&self, service: &str, path: &str, query: &[(&str, &str)]) -> String {
        let mut pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_segment(v)))
            .collect();
        if let Some(client) = &self.config.sap_client {
            pairs.push(format!("sap-client={client}"));
        }
        let root = self.config.service_root(service);
        if pairs.is_empty() {
            format!("{root}{path}")
        } else {
            format!("{root}{path}?{}", pairs.join("&"))
        }
    }
}

fn sensitive(secret: &SecretString, endpoint: &str) -> Result<HeaderValue, ConnectorError> {
    let mut value = HeaderValue::try_from(secret.expose_secret()).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Transient,
            ErrorCategory::Protocol,
            SYSTEM,
            endpoint,
            "the CSRF fetch returned a token or cookie that is not a valid header",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

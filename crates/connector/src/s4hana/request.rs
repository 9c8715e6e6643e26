//! S/4HANA calls through the kit with SAP's CSRF protocol as the authentication:
//! modifying requests carry a token fetched with `x-csrf-token: Fetch` and the
//! session cookies that came with it; a 403 `x-csrf-token: Required` is a
//! rejected credential, so the kit drops the session, refetches once and retries.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use reqwest::header::{ACCEPT, COOKIE, HeaderValue, SET_COOKIE};
use reqwest::{Method, Request, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use super::{S4HanaConfig, S4HanaErp, SYSTEM, errors};
use crate::endpoint;
use crate::http_client::{VendorResponse, encode_segment, execute, protocol_error};
use crate::http_kit::{Authenticate, Endpoint, HeaderAuth, JsonCall, sensitive_header};
use crate::{CallLog, ConnectorError};

const CSRF_HEADER: &str = "x-csrf-token";
const ENDPOINT_CSRF_FETCH: Endpoint =
    endpoint!(GET "/sap/opu/odata/sap/{service}/ (x-csrf-token: Fetch)");

/// A CSRF token and the session cookies it belongs to.
#[derive(Debug)]
pub(crate) struct CsrfSession {
    token: HeaderValue,
    cookies: HeaderValue,
}

/// Basic or OAuth credentials plus one CSRF session per OData service, fetched
/// once and shared by every modifying call. The service is the first segment of
/// the endpoint template (`POST API_SALES_ORDER_SRV/A_SalesOrder`).
#[derive(Debug)]
pub(crate) struct CsrfAuth {
    inner: HeaderAuth,
    config: S4HanaConfig,
    http: reqwest::Client,
    sessions: Mutex<HashMap<String, Arc<CsrfSession>>>,
}

impl CsrfAuth {
    pub(crate) fn new(inner: HeaderAuth, config: S4HanaConfig, http: reqwest::Client) -> Self {
        Self {
            inner,
            config,
            http,
            sessions: Mutex::default(),
        }
    }

    /// The cached CSRF session of `service`, fetched when there is none. The
    /// lock is held during the fetch so concurrent writers share one fetch.
    async fn session(
        &self,
        calls: &CallLog,
        service: &str,
        credential: &<HeaderAuth as Authenticate>::Credential,
    ) -> Result<Arc<CsrfSession>, ConnectorError> {
        let mut sessions = self.sessions.lock().await;
        if let Some(session) = sessions.get(service) {
            return Ok(Arc::clone(session));
        }
        let endpoint = &ENDPOINT_CSRF_FETCH;
        let mut request = self
            .http
            .get(service_url(&self.config, service, "/", &[]))
            .header(ACCEPT, "application/json")
            .header(CSRF_HEADER, "Fetch")
            .build()
            .map_err(|e| protocol_error(SYSTEM, endpoint, format!("bad URL: {e}")))?;
        self.inner
            .apply(&mut request, credential, SYSTEM, endpoint)?;
        let request = RequestBuilder::from_parts(self.http.clone(), request);
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
            token: csrf_header(&SecretString::from(token), endpoint)?,
            cookies: csrf_header(&SecretString::from(cookies.join("; ")), endpoint)?,
        });
        sessions.insert(service.to_owned(), Arc::clone(&session));
        Ok(session)
    }

    async fn forget(&self, stale: &Arc<CsrfSession>) {
        let mut sessions = self.sessions.lock().await;
        sessions.retain(|_, s| !Arc::ptr_eq(s, stale));
    }
}

/// The credential of one attempt: the user's, and the CSRF session of a modifying call.
pub(crate) struct CsrfCredential {
    user: <HeaderAuth as Authenticate>::Credential,
    session: Option<Arc<CsrfSession>>,
}

#[async_trait]
impl Authenticate for CsrfAuth {
    type Credential = CsrfCredential;

    async fn credential(
        &self,
        calls: &CallLog,
        system: &'static str,
        endpoint: &Endpoint,
    ) -> Result<CsrfCredential, ConnectorError> {
        let user = self.inner.credential(calls, system, endpoint).await?;
        let modifying = endpoint.method() != Method::GET && endpoint.method() != Method::HEAD;
        let session = if modifying {
            let service = endpoint.template().split('/').next().unwrap_or_default();
            Some(self.session(calls, service, &user).await?)
        } else {
            None
        };
        Ok(CsrfCredential { user, session })
    }

    fn apply(
        &self,
        request: &mut Request,
        credential: &CsrfCredential,
        system: &'static str,
        endpoint: &Endpoint,
    ) -> Result<(), ConnectorError> {
        self.inner
            .apply(request, &credential.user, system, endpoint)?;
        if let Some(session) = &credential.session {
            let headers = request.headers_mut();
            headers.insert(CSRF_HEADER, session.token.clone());
            headers.insert(COOKIE, session.cookies.clone());
        }
        Ok(())
    }

    fn rejected(&self, response: &VendorResponse) -> bool {
        response.status == StatusCode::UNAUTHORIZED || errors::csrf_required(response)
    }

    async fn renew(&self, credential: &CsrfCredential, response: &VendorResponse) -> bool {
        if errors::csrf_required(response) {
            if let Some(session) = &credential.session {
                self.forget(session).await;
            }
            return true;
        }
        self.inner.renew(&credential.user, response).await
    }
}

impl S4HanaErp {
    /// One call to `url`; non-2xx answers come back classified.
    pub(crate) async fn call(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        url: &str,
        body: Option<&Value>,
    ) -> Result<VendorResponse, ConnectorError> {
        let call = JsonCall {
            body,
            ..JsonCall::default()
        };
        self.http.send_json(calls, endpoint, url, call).await
    }

    /// `{service root}{path}?{query}&sap-client=…`, values RFC 3986-encoded.
    pub(crate) fn url(&self, service: &str, path: &str, query: &[(&str, &str)]) -> String {
        service_url(&self.config, service, path, query)
    }
}

/// `{service root}{path}?{query}&sap-client=…`, values RFC 3986-encoded.
fn service_url(config: &S4HanaConfig, service: &str, path: &str, query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_segment(v)))
        .collect();
    if let Some(client) = &config.sap_client {
        pairs.push(format!("sap-client={client}"));
    }
    let root = config.service_root(service);
    if pairs.is_empty() {
        format!("{root}{path}")
    } else {
        format!("{root}{path}?{}", pairs.join("&"))
    }
}

fn csrf_header(secret: &SecretString, endpoint: &str) -> Result<HeaderValue, ConnectorError> {
    sensitive_header(secret.expose_secret(), SYSTEM, endpoint).map_err(|mut err| {
        err.kind = crate::ErrorKind::Transient;
        err.category = crate::ErrorCategory::Protocol;
        err.message = "the CSRF fetch returned a token or cookie that is not a valid header".into();
        err
    })
}

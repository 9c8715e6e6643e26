//! The vendor HTTP kit: every connector's calls go through one [`VendorClient`].
//!
//! A call names a typed [`Endpoint`] (method + path template: the template, never
//! the concrete path with ids, is what the call log, the `vendor.call` span and
//! errors carry), and the client runs the one request loop every vendor shares:
//!
//! 1. the [`RateGate`] (when the vendor has one) waits out or refuses a spent window;
//! 2. the [`Authenticate`] implementation supplies a credential and puts it on the request;
//! 3. [`execute`](crate::http_client::execute) sends it, records the call (with its
//!    response body, up to 10 KB) and opens the span;
//! 4. the gate learns from the answer's rate-limit headers;
//! 5. a rejected credential is renewed and the call repeated **once**; a second
//!    rejection is classified like any other answer (an auth error);
//! 6. a non-2xx answer becomes a [`ConnectorError`] through the vendor's [`Classify`] hook.

mod auth;
mod rate_gate;

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::ACCEPT;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

pub use auth::{Authenticate, HeaderAuth, NoAuth, SignRequest, bearer_header, sensitive_header};
pub use rate_gate::{RateGate, RatePolicy, no_vendor_hold};

use crate::http_client::{VendorResponse, execute_keeping_body, transport_error};
use crate::{CallLog, ConnectorError};

/// A vendor call's method and path template, e.g. `GET /crm/v3/objects/deals/{id}`.
///
/// Declare one constant per call with [`endpoint!`](crate::endpoint). It reads as
/// its label (`Deref<Target = str>`) wherever an error or a log wants the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    method: Method,
    label: Cow<'static, str>,
}

impl Endpoint {
    /// An endpoint from its method and its full label (`"{METHOD} {template}"`);
    /// [`endpoint!`](crate::endpoint) builds the label from the template.
    pub const fn from_static(method: Method, label: &'static str) -> Self {
        Self {
            method,
            label: Cow::Borrowed(label),
        }
    }

    /// An endpoint whose template is only known at run time (a JSON-RPC method
    /// name); keep it low-cardinality: never put ids in it.
    pub fn dynamic(method: Method, template: &str) -> Self {
        Self {
            label: Cow::Owned(format!("{method} {template}")),
            method,
        }
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// `"{METHOD} {template}"`: what the call log, metrics and errors record.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The path template without the method.
    pub fn template(&self) -> &str {
        self.label
            .split_once(' ')
            .map_or(self.label.as_ref(), |(_, template)| template)
    }
}

impl std::ops::Deref for Endpoint {
    type Target = str;

    fn deref(&self) -> &str {
        &self.label
    }
}

impl From<&Endpoint> for String {
    fn from(endpoint: &Endpoint) -> Self {
        endpoint.label.clone().into_owned()
    }
}

impl From<Endpoint> for String {
    fn from(endpoint: Endpoint) -> Self {
        endpoint.label.into_owned()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

/// `endpoint!(GET "/crm/v3/objects/deals/{id}")`: a constant [`Endpoint`].
#[macro_export]
macro_rules! endpoint {
    ($method:ident $template:literal) => {
        $crate::http_kit::Endpoint::from_static(
            ::reqwest::Method::$method,
            concat!(stringify!($method), " ", $template),
        )
    };
}

/// What most vendor calls add to a request: `Accept: application/json`, a
/// query, extra headers and a JSON body.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCall<'a> {
    /// Query pairs, form-encoded by reqwest (none when empty).
    pub query: &'a [(&'a str, &'a str)],
    /// Extra headers, e.g. OData versions or `If-Match`.
    pub headers: &'a [(&'static str, &'a str)],
    /// The JSON body, if any.
    pub body: Option<&'a Value>,
}

impl JsonCall<'_> {
    /// Adds the call's parts to `request`.
    pub fn apply(&self, mut request: RequestBuilder) -> RequestBuilder {
        request = request.header(ACCEPT, "application/json");
        if !self.query.is_empty() {
            request = request.query(self.query);
        }
        for (name, value) in self.headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = self.body {
            request = request.json(body);
        }
        request
    }
}

/// A vendor's classification of a non-2xx answer: status first (see
/// [`crate::http_client::classify_status`]), then the vendor's own error codes.
pub type Classify = fn(&str, &VendorResponse, DateTime<Utc>) -> ConnectorError;

/// One vendor's HTTP client: authentication, rate gate and classification
/// plugged into the shared request loop. Share it behind the connector's `Arc`:
/// the token cache and the rate-limit window live here.
#[derive(Debug)]
pub struct VendorClient<A> {
    system: &'static str,
    http: reqwest::Client,
    auth: A,
    classify: Classify,
    gate: Option<RateGate>,
}

impl<A: Authenticate> VendorClient<A> {
    /// A client for `system` sending with `http` (see [`crate::http_client::build_client`]).
    pub fn new(system: &'static str, http: reqwest::Client, auth: A, classify: Classify) -> Self {
        Self {
            system,
            http,
            auth,
            classify,
            gate: None,
        }
    }

    /// Holds calls back while the vendor says its rate limit is spent.
    #[must_use]
    pub fn with_rate_gate(mut self, gate: RateGate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The system name calls are recorded under.
    pub fn system(&self) -> &'static str {
        self.system
    }

    /// The underlying HTTP client (for requests built by [`VendorClient::send_with`]).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The authentication in use.
    pub fn auth(&self) -> &A {
        &self.auth
    }

    /// The rate gate, when the vendor has one.
    pub fn gate(&self) -> Option<&RateGate> {
        self.gate.as_ref()
    }

    /// Calls `endpoint` at `url`; `customize` adds headers, query and body (it
    /// runs again for the one retry after a renewal). A non-2xx answer comes
    /// back as the vendor's classified error.
    pub async fn send<F>(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        url: &str,
        customize: F,
    ) -> Result<VendorResponse, ConnectorError>
    where
        F: Fn(RequestBuilder) -> RequestBuilder + Send + Sync,
    {
        self.send_with(calls, endpoint, |http, _| {
            Ok(customize(http.request(endpoint.method().clone(), url)))
        })
        .await
    }

    /// [`VendorClient::send`] with the usual JSON parts (see [`JsonCall`]).
    pub async fn send_json(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        url: &str,
        call: JsonCall<'_>,
    ) -> Result<VendorResponse, ConnectorError> {
        self.send(calls, endpoint, url, |request| call.apply(request))
            .await
    }

    /// Like [`VendorClient::send`], for requests that depend on the credential
    /// (a host named by the token, a session context in the body): `build`
    /// makes the whole request from the client and the attempt's credential.
    pub async fn send_with<F>(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        build: F,
    ) -> Result<VendorResponse, ConnectorError>
    where
        F: Fn(&reqwest::Client, &A::Credential) -> Result<RequestBuilder, ConnectorError>
            + Send
            + Sync,
    {
        let mut renewed = false;
        loop {
            if let Some(gate) = &self.gate {
                gate.wait(self.system, endpoint).await?;
            }
            let credential = self.auth.credential(calls, self.system, endpoint).await?;
            let request = self.authorised(calls, endpoint, &build, &credential)?;
            let response = execute_keeping_body(calls, self.system, endpoint, request).await?;
            let error =
                (!response.is_success()).then(|| (self.classify)(endpoint, &response, Utc::now()));
            if let Some(gate) = &self.gate {
                gate.observe(&response, error.as_ref());
            }
            // The one renewal rule: a rejected credential is replaced once; a
            // second rejection is an ordinary (auth) error.
            if !renewed
                && self.auth.rejected(&response)
                && self.auth.renew(&credential, &response).await
            {
                tracing::debug!(
                    system = self.system,
                    endpoint = endpoint.label(),
                    "Credential rejected; renewing it and repeating the call once."
                );
                renewed = true;
                continue;
            }
            return match error {
                None => Ok(response),
                Some(err) => Err(err),
            };
        }
    }

    /// Builds the request and lets the authentication sign it.
    fn authorised<F>(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        build: &F,
        credential: &A::Credential,
    ) -> Result<RequestBuilder, ConnectorError>
    where
        F: Fn(&reqwest::Client, &A::Credential) -> Result<RequestBuilder, ConnectorError>,
    {
        let mut request = build(&self.http, credential)?.build().map_err(|err| {
            // An unbuildable request is recorded like any call that got no answer.
            calls.record(self.system, endpoint, 0, Duration::ZERO);
            transport_error(self.system, endpoint, &err)
        })?;
        self.auth
            .apply(&mut request, credential, self.system, endpoint)?;
        Ok(RequestBuilder::from_parts(self.http.clone(), request))
    }
}

#[cfg(test)]
mod tests;

//! Signed NetSuite HTTP calls through the kit: URL building and the OAuth 1.0a
//! (token-based authentication) signature as the kit's authentication.

use reqwest::Request;
use reqwest::header::AUTHORIZATION;
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

use super::oauth1::{self, TbaCredentials};
use super::{NetSuiteErp, RecordFields, SYSTEM};
use crate::http_client::{VendorResponse, protocol_error};
use crate::http_kit::{Endpoint, JsonCall, SignRequest, sensitive_header};
use crate::{CallLog, ConnectorError, ErrorCategory};

/// NetSuite token-based authentication: every request is signed (OAuth 1.0a,
/// HMAC-SHA256) over its method and exact URL, so there is nothing to renew.
#[derive(Debug)]
pub(super) struct TbaAuth {
    pub(super) realm: String,
    pub(super) consumer_key: String,
    pub(super) consumer_secret: SecretString,
    pub(super) token_id: String,
    pub(super) token_secret: SecretString,
}

impl SignRequest for TbaAuth {
    fn sign(
        &self,
        request: &mut Request,
        system: &'static str,
        endpoint: &Endpoint,
    ) -> Result<(), ConnectorError> {
        let credentials = TbaCredentials {
            realm: &self.realm,
            consumer_key: &self.consumer_key,
            consumer_secret: &self.consumer_secret,
            token_id: &self.token_id,
            token_secret: &self.token_secret,
        };
        let header = oauth1::authorization_header(
            &credentials,
            request.method().as_str(),
            request.url(),
            &oauth1::generate_nonce(),
            oauth1::unix_timestamp(),
        );
        let header = sensitive_header(&header, system, endpoint)
            .map_err(|err| err.with_resolution("check_erp_credentials"))?;
        request.headers_mut().insert(AUTHORIZATION, header);
        Ok(())
    }
}

impl NetSuiteErp {
    /// One signed call; non-2xx answers come back as classified errors.
    pub(super) async fn call(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<VendorResponse, ConnectorError> {
        let url = self.url(path, query, endpoint)?;
        // The query is in the URL already: signed byte for byte.
        let call = JsonCall {
            body,
            ..JsonCall::default()
        };
        self.http
            .send_json(calls, endpoint, url.as_str(), call)
            .await
    }

    /// The request URL, with the query RFC 3986-encoded by hand so the bytes sent
    /// are exactly the ones signed (no `+` for spaces).
    fn url(
        &self,
        path: &str,
        query: &[(&str, &str)],
        endpoint: &str,
    ) -> Result<Url, ConnectorError> {
        let mut url = Url::parse(&format!("{}{path}", self.base_url))
            .map_err(|e| protocol_error(SYSTEM, endpoint, format!("bad URL: {e}")))?;
        if !query.is_empty() {
            let encoded: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", oauth1::encode(k), oauth1::encode(v)))
                .collect();
            url.set_query(Some(&encoded.join("&")));
        }
        Ok(url)
    }

    /// Reads a record by path; `None` on 404 / `NONEXISTENT_ID`.
    pub(super) async fn find(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        path: &str,
        fields: &str,
    ) -> Result<Option<RecordFields>, ConnectorError> {
        match self
            .call(calls, endpoint, path, &[("fields", fields)], None)
            .await
        {
            Ok(response) => response.json(SYSTEM, endpoint).map(Some),
            Err(err) if err.category == ErrorCategory::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }
}

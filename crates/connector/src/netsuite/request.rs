//! Signed NetSuite HTTP calls: URL building, OAuth 1.0a header, classification.

use chrono::Utc;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde_json::Value;
use url::Url;

use super::oauth1::{self, TbaCredentials};
use super::{NetSuiteErp, RecordFields, SYSTEM, errors};
use crate::http_client::{VendorResponse, execute, protocol_error};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

impl NetSuiteErp {
    /// One signed call; non-2xx answers come back as classified errors.
    pub(super) async fn call(
        &self,
        calls: &CallLog,
        method: Method,
        endpoint: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<VendorResponse, ConnectorError> {
        let url = self.url(path, query, endpoint)?;
        let credentials = TbaCredentials {
            realm: &self.realm,
            consumer_key: &self.config.consumer_key,
            consumer_secret: &self.config.consumer_secret,
            token_id: &self.config.token_id,
            token_secret: &self.config.token_secret,
        };
        let header = oauth1::authorization_header(
            &credentials,
            method.as_str(),
            &url,
            &oauth1::generate_nonce(),
            oauth1::unix_timestamp(),
        );
        let mut auth = HeaderValue::try_from(header).map_err(|_| {
            ConnectorError::new(
                ErrorKind::Auth,
                ErrorCategory::Unauthorized,
                SYSTEM,
                endpoint,
                "credentials do not form a valid header",
            )
            .with_resolution("check_erp_credentials")
        })?;
        auth.set_sensitive(true);
        let mut request = self
            .client
            .request(method, url)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = execute(calls, SYSTEM, endpoint, request).await?;
        if response.is_success() {
            Ok(response)
        } else {
            Err(errors::classify(endpoint, &response, Utc::now()))
        }
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
        endpoint: &str,
        path: &str,
        fields: &str,
    ) -> Result<Option<RecordFields>, ConnectorError> {
        match self
            .call(
                calls,
                Method::GET,
                endpoint,
                path,
                &[("fields", fields)],
                None,
            )
            .await
        {
            Ok(response) => response.json(SYSTEM, endpoint).map(Some),
            Err(err) if err.category == ErrorCategory::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }
}

//! Authorised Business Central calls: bearer token, one retry on a rejected
//! token, error classification and `@odata.nextLink` paging.

use chrono::Utc;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, IF_MATCH};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{BusinessCentralErp, SYSTEM, errors};
use crate::http_client::{VendorResponse, execute, protocol_error};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// At most this many pages are followed for one look-up.
const MAX_PAGES: usize = 50;

/// An OData v4 collection page.
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    pub(crate) value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub(crate) next_link: Option<String>,
}

impl BusinessCentralErp {
    /// One authorised call to `url`; non-2xx answers come back as classified errors.
    ///
    /// A 401 drops the cached token and retries once with a new one: tokens can be
    /// revoked or rotated before their stated expiry.
    pub(crate) async fn call(
        &self,
        calls: &CallLog,
        method: Method,
        endpoint: &str,
        url: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<VendorResponse, ConnectorError> {
        let mut retried = false;
        loop {
            let token = self.tokens.token(calls).await?;
            let mut auth = HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    ConnectorError::new(
                        ErrorKind::Auth,
                        ErrorCategory::Unauthorized,
                        SYSTEM,
                        endpoint,
                        "the token endpoint issued a token that is not a valid header",
                    )
                })?;
            auth.set_sensitive(true);
            let mut request = self
                .client
                .request(method.clone(), url)
                .header(AUTHORIZATION, auth)
                .header(ACCEPT, "application/json");
            if let Some(etag) = if_match {
                request = request.header(IF_MATCH, etag);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = execute(calls, SYSTEM, endpoint, request).await?;
            if response.status == StatusCode::UNAUTHORIZED && !retried {
                self.tokens.invalidate(&token).await;
                retried = true;
                continue;
            }
            return if response.is_success() {
                Ok(response)
            } else {
                Err(errors::classify(endpoint, &response, Utc::now()))
            };
        }
    }

    /// GETs a collection and returns the first entity any page holds, following
    /// `@odata.nextLink` (only on the API host) up to [`MAX_PAGES`].
    pub(crate) async fn first<T: DeserializeOwned>(
        &self,
        calls: &CallLog,
        endpoint: &str,
        url: &str,
    ) -> Result<Option<T>, ConnectorError> {
        let mut next = Some(url.to_owned());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(protocol_error(
                    SYSTEM,
                    endpoint,
                    format!("more than {MAX_PAGES} pages of empty results"),
                ));
            }
            let page: Page<T> = self
                .call(calls, Method::GET, endpoint, &url, None, None)
                .await?
                .json(SYSTEM, endpoint)?;
            if let Some(first) = page.value.into_iter().next() {
                return Ok(Some(first));
            }
            next = match page.next_link {
                Some(link) if link.starts_with(&self.api_root) => Some(link),
                Some(link) => {
                    return Err(protocol_error(
                        SYSTEM,
                        endpoint,
                        format!("nextLink leaves the API host: {link}"),
                    ));
                }
                None => None,
            };
        }
        Ok(None)
    }

    /// `{api root}/companies({company}){path}`.
    pub(crate) fn company_url(&self, path: &str) -> String {
        format!(
            "{}/companies({}){path}",
            self.api_root, self.config.company_id
        )
    }
}

/// Builds `?$filter=…&$select=…` with RFC 3986 encoding.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::http_client::encode_segment(v)))
        .collect();
    format!("?{}", encoded.join("&"))
}

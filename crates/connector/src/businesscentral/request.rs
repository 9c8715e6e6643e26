//! Business Central calls through the kit (bearer token from the client-credentials
//! cache, its error classification) and `@odata.nextLink` paging.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{BusinessCentralErp, SYSTEM};
use crate::http_client::{VendorResponse, protocol_error};
use crate::http_kit::{Endpoint, JsonCall};
use crate::{CallLog, ConnectorError};

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
    /// One authorised call to `url`; non-2xx answers come back as classified
    /// errors (a rejected token is renewed once by the kit).
    pub(crate) async fn call(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        url: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<VendorResponse, ConnectorError> {
        let if_match: Vec<(&'static str, &str)> = if_match
            .map(|etag| ("if-match", etag))
            .into_iter()
            .collect();
        let call = JsonCall {
            headers: &if_match,
            body,
            ..JsonCall::default()
        };
        self.http.send_json(calls, endpoint, url, call).await
    }

    /// GETs a collection and returns the first entity any page holds, following
    /// `@odata.nextLink` (only on the API host) up to [`MAX_PAGES`].
    pub(crate) async fn first<T: DeserializeOwned>(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
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
                .call(calls, endpoint, &url, None, None)
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

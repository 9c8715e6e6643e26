//! A small client of Business Central's API v2.0 with Entra ID client
//! credentials, as an operator's script would call it.

use serde_json::{Value, json};
use tokio::sync::Mutex;

/// The sandbox's dev tenant.
pub const DEV_TENANT_ID: &str = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";
/// The sandbox's dev environment.
pub const DEV_ENVIRONMENT: &str = "sandbox";
/// The sandbox's dev company.
pub const DEV_COMPANY_ID: &str = "7c5a8b1e-0000-4000-8000-000000000001";
/// The sandbox's dev app registration.
pub const DEV_CLIENT_ID: &str = "dev-bc-client-id";
/// Its secret.
pub const DEV_CLIENT_SECRET: &str = "dev-bc-client-secret";
const SCOPE: &str = "https://api.businesscentral.dynamics.com/.default";

/// A Business Central API client for one company.
pub struct BusinessCentralApi {
    base: String,
    http: reqwest::Client,
    token: Mutex<Option<String>>,
}

impl BusinessCentralApi {
    /// A client for `base` (e.g. `http://127.0.0.1:9202`) with the dev app registration.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            token: Mutex::new(None),
        }
    }

    /// The token endpoint URL of the sandbox tenant.
    pub fn token_url(&self) -> String {
        format!("{}/{DEV_TENANT_ID}/oauth2/v2.0/token", self.base)
    }

    /// `{base}/v2.0/{tenant}/{env}/api/v2.0/companies({id})`.
    pub fn company_url(&self) -> String {
        format!(
            "{}/v2.0/{DEV_TENANT_ID}/{DEV_ENVIRONMENT}/api/v2.0/companies({DEV_COMPANY_ID})",
            self.base
        )
    }

    async fn token(&self) -> anyhow::Result<String> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", DEV_CLIENT_ID)
            .append_pair("client_secret", DEV_CLIENT_SECRET)
            .append_pair("scope", SCOPE)
            .finish();
        let response = self
            .http
            .post(self.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "token answered {status}: {body}");
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no access_token in {body}"))?
            .to_owned();
        *cached = Some(token.clone());
        Ok(token)
    }

    /// GETs `url`, answering the JSON body.
    pub async fn get(&self, url: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(url)
            .bearer_auth(self.token().await?)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "GET {url} answered {status}: {body}");
        Ok(body)
    }

    /// Creates the item `sku` unless it exists.
    pub async fn ensure_item(&self, sku: &str, name: &str, price: &str) -> anyhow::Result<()> {
        let filter = format!("number eq '{}'", sku.replace('\'', "''"));
        let mut url = url::Url::parse(&format!("{}/items", self.company_url()))?;
        url.query_pairs_mut().append_pair("$filter", &filter);
        let found = self.get(url.as_str()).await?;
        if found["value"].as_array().is_some_and(|v| !v.is_empty()) {
            return Ok(());
        }
        let price: f64 = price.parse()?;
        let response = self
            .http
            .post(format!("{}/items", self.company_url()))
            .bearer_auth(self.token().await?)
            .json(&json!({ "number": sku, "displayName": name, "unitPrice": price }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().as_u16() == 201,
            "create item answered {}",
            response.status()
        );
        Ok(())
    }

    /// Every sales order (lines expanded) whose `externalDocumentNumber` is `reference`.
    pub async fn sales_orders_with_reference(&self, reference: &str) -> anyhow::Result<Vec<Value>> {
        // The field is Text[35]; longer references are stored fitted, as the connector does.
        let reference = crmerp_connector::mapping::fit_reference(reference, 35);
        let filter = format!(
            "externalDocumentNumber eq '{}'",
            reference.replace('\'', "''")
        );
        let mut url = url::Url::parse(&format!("{}/salesOrders", self.company_url()))?;
        url.query_pairs_mut()
            .append_pair("$filter", &filter)
            .append_pair("$expand", "salesOrderLines");
        let mut orders = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(url) = next.take() {
            let page = self.get(&url).await?;
            orders.extend(page["value"].as_array().cloned().unwrap_or_default());
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        Ok(orders)
    }
}

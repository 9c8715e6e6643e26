//! A small client of NetSuite's REST record API with token-based auth, as an
//! operator's script would call it.

use secrecy::SecretString;
use serde_json::{Value, json};

use crmerp_connector::netsuite::oauth1::{self, TbaCredentials};

/// The TBA credentials the client signs with.
struct DevCredentials {
    realm: String,
    consumer_key: String,
    consumer_secret: SecretString,
    token_id: String,
    token_secret: SecretString,
}

/// A NetSuite REST client.
pub struct NetSuiteApi {
    base: String,
    credentials: DevCredentials,
    http: reqwest::Client,
}

const RECORD_PATH: &str = "/services/rest/record/v1";

impl NetSuiteApi {
    /// A client for `base` (e.g. `http://127.0.0.1:9201`) with the dev credentials.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            credentials: DevCredentials {
                realm: "1234567_SB1".into(),
                consumer_key: "dev-ns-consumer-key".into(),
                consumer_secret: SecretString::from("dev-ns-consumer-secret"),
                token_id: "dev-ns-token-id".into(),
                token_secret: SecretString::from("dev-ns-token-secret"),
            },
            http: reqwest::Client::new(),
        }
    }

    /// A client for `base` signing with other credentials than the dev ones,
    /// e.g. a sandbox started with a production-like numeric account.
    pub fn with_credentials(
        base: &str,
        realm: &str,
        consumer_key: &str,
        consumer_secret: &str,
        token_id: &str,
        token_secret: &str,
    ) -> Self {
        let mut api = Self::new(base);
        api.credentials = DevCredentials {
            realm: realm.to_owned(),
            consumer_key: consumer_key.to_owned(),
            consumer_secret: SecretString::from(consumer_secret),
            token_id: token_id.to_owned(),
            token_secret: SecretString::from(token_secret),
        };
        api
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let parsed = url::Url::parse(url)?;
        let credentials = TbaCredentials {
            realm: &self.credentials.realm,
            consumer_key: &self.credentials.consumer_key,
            consumer_secret: &self.credentials.consumer_secret,
            token_id: &self.credentials.token_id,
            token_secret: &self.credentials.token_secret,
        };
        let header = oauth1::authorization_header(
            &credentials,
            method.as_str(),
            &parsed,
            &oauth1::generate_nonce(),
            oauth1::unix_timestamp(),
        );
        let mut request = self
            .http
            .request(method, parsed)
            .header("Authorization", header);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Ok(request.send().await?)
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Option<Value>> {
        let response = self.send(reqwest::Method::GET, url, None).await?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let status = response.status();
        let value: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "GET {url} answered {status}: {value}");
        Ok(Some(value))
    }

    /// Ids of `record` matching a REST query such as `externalId IS "x"`.
    pub async fn query_ids(&self, record: &str, q: &str) -> anyhow::Result<Vec<String>> {
        let mut url = url::Url::parse(&format!("{}{RECORD_PATH}/{record}", self.base))?;
        url.query_pairs_mut().append_pair("q", q);
        let page = self.get_json(url.as_str()).await?.unwrap_or_default();
        Ok(page["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// One record with sublists expanded, by id.
    pub async fn record(&self, record: &str, id: &str) -> anyhow::Result<Option<Value>> {
        self.get_json(&format!(
            "{}{RECORD_PATH}/{record}/{id}?expandSubResources=true",
            self.base
        ))
        .await
    }

    /// One record by external id (`eid:`), or `None`.
    pub async fn record_by_external_id(
        &self,
        record: &str,
        external_id: &str,
    ) -> anyhow::Result<Option<Value>> {
        let encoded = oauth1::encode(external_id);
        self.get_json(&format!(
            "{}{RECORD_PATH}/{record}/eid:{encoded}",
            self.base
        ))
        .await
    }

    /// Every sales order (expanded) whose `externalId` is `external_id`: the
    /// "nothing doubled" check lists them all rather than trusting `eid:`.
    pub async fn sales_orders_with_external_id(
        &self,
        external_id: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let ids = self
            .query_ids("salesOrder", &format!("externalId IS \"{external_id}\""))
            .await?;
        let mut orders = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(order) = self.record("salesOrder", &id).await? {
                orders.push(order);
            }
        }
        Ok(orders)
    }

    /// Every sales order id in the account.
    pub async fn all_sales_order_ids(&self) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut offset = 0;
        loop {
            let url = format!(
                "{}{RECORD_PATH}/salesOrder?limit=1000&offset={offset}",
                self.base
            );
            let page = self.get_json(&url).await?.unwrap_or_default();
            let items = page["items"].as_array().cloned().unwrap_or_default();
            ids.extend(
                items
                    .iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_owned)),
            );
            if !page["hasMore"].as_bool().unwrap_or(false) || items.is_empty() {
                return Ok(ids);
            }
            offset += items.len();
        }
    }

    /// How many sales orders carry each external id, over every order in the
    /// account: the "nothing doubled" check.
    pub async fn order_count_by_external_id(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<String, usize>> {
        let mut counts = std::collections::HashMap::new();
        for id in self.all_sales_order_ids().await? {
            let url = format!(
                "{}{RECORD_PATH}/salesOrder/{id}?fields=externalId",
                self.base
            );
            if let Some(order) = self.get_json(&url).await? {
                let external_id = order["externalId"].as_str().unwrap_or_default().to_owned();
                *counts.entry(external_id).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    /// Creates the inventory item `sku` unless it exists.
    pub async fn ensure_item(&self, sku: &str, name: &str, price: &str) -> anyhow::Result<()> {
        if !self
            .query_ids("inventoryItem", &format!("itemId IS \"{sku}\""))
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let url = format!("{}{RECORD_PATH}/inventoryItem", self.base);
        let body = json!({ "itemId": sku, "displayName": name, "basePrice": price.parse::<f64>().unwrap_or(0.0) });
        let response = self.send(reqwest::Method::POST, &url, Some(body)).await?;
        anyhow::ensure!(
            response.status().as_u16() == 204,
            "create item answered {}",
            response.status()
        );
        Ok(())
    }
}

//! A small client of Oracle Fusion's REST resources with an integration user,
//! as an operator's script would call them.

use serde_json::{Value, json};

/// The sandbox's dev integration user.
pub const DEV_USER: &str = "crmerp.integration";
/// Its password.
pub const DEV_PASSWORD: &str = "dev-oracle-password";
/// The sandbox's business unit.
pub const DEV_BUSINESS_UNIT: &str = "Vision Operations";

/// An Oracle Fusion REST client.
pub struct OracleFusionApi {
    base: String,
    http: reqwest::Client,
}

impl OracleFusionApi {
    /// A client for `base` (e.g. `http://127.0.0.1:9204`) with the dev user.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn list(&self, path: &str, q: &str) -> anyhow::Result<Vec<Value>> {
        let mut url = url::Url::parse(&format!("{}{path}", self.base))?;
        url.query_pairs_mut()
            .append_pair("q", q)
            .append_pair("onlyData", "true")
            .append_pair("limit", "500");
        let response = self
            .http
            .get(url)
            .basic_auth(DEV_USER, Some(DEV_PASSWORD))
            .header("REST-Framework-Version", "4")
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "GET {path} answered {status}: {body}");
        Ok(body["items"].as_array().cloned().unwrap_or_default())
    }

    /// Creates the item `sku` unless it exists.
    pub async fn ensure_item(&self, sku: &str, name: &str, price: &str) -> anyhow::Result<()> {
        let path = "/fscmRestApi/resources/11.13.18.05/itemsV2";
        if !self
            .list(path, &format!("ItemNumber='{sku}'"))
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(DEV_USER, Some(DEV_PASSWORD))
            .header("content-type", "application/vnd.oracle.adf.resourceitem+json")
            .body(json!({"ItemNumber": sku, "ItemDescription": name, "OrganizationCode": "V1", "ListPrice": price.parse::<f64>()?}).to_string())
            .send()
            .await?;
        anyhow::ensure!(
            response.status().as_u16() == 201,
            "create item answered {}",
            response.status()
        );
        Ok(())
    }

    /// Every order whose `SourceTransactionNumber` is `reference`.
    pub async fn orders_with_reference(&self, reference: &str) -> anyhow::Result<Vec<Value>> {
        // `SourceTransactionNumber` holds 50 characters; longer references are stored fitted.
        let reference = crmerp_connector::mapping::fit_reference(reference, 50);
        self.list(
            "/fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub",
            &format!(
                "SourceTransactionNumber='{}'",
                reference.replace('\'', "''")
            ),
        )
        .await
    }
}

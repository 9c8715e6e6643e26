//! A small client of SAP S/4HANA's OData V2 APIs with a communication user,
//! following SAP's CSRF protocol, as an operator's script would call them.

use serde_json::{Value, json};

/// The sandbox's dev communication user.
pub const DEV_USER: &str = "CRMERP_COMM";
/// Its password.
pub const DEV_PASSWORD: &str = "dev-s4-password";

/// An S/4HANA OData client.
pub struct S4HanaApi {
    base: String,
    http: reqwest::Client,
}

impl S4HanaApi {
    /// A client for `base` (e.g. `http://127.0.0.1:9203`) with the dev user.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    fn service(&self, name: &str) -> String {
        format!("{}/sap/opu/odata/sap/{name}", self.base)
    }

    async fn get(&self, url: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .get(url)
            .basic_auth(DEV_USER, Some(DEV_PASSWORD))
            .header("accept", "application/json")
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// POSTs `body` to `{service}/{set}` after fetching a CSRF token and its cookies.
    async fn post(&self, service: &str, set: &str, body: &Value) -> anyhow::Result<Value> {
        let root = self.service(service);
        let fetch = self
            .http
            .get(format!("{root}/"))
            .basic_auth(DEV_USER, Some(DEV_PASSWORD))
            .header("x-csrf-token", "Fetch")
            .send()
            .await?;
        let token = fetch
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let cookies: Vec<String> = fetch
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next().map(str::to_owned))
            .collect();
        let response = self
            .http
            .post(format!("{root}/{set}"))
            .basic_auth(DEV_USER, Some(DEV_PASSWORD))
            .header("x-csrf-token", token)
            .header("cookie", cookies.join("; "))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "POST {set} answered {status}: {value}");
        Ok(value)
    }

    /// Creates the material `sku` unless it exists.
    pub async fn ensure_product(&self, sku: &str, name: &str) -> anyhow::Result<()> {
        let url = format!("{}/A_Product('{sku}')", self.service("API_PRODUCT_SRV"));
        if self.get(&url).await?.0 == 200 {
            return Ok(());
        }
        let body = json!({"Product": sku, "ProductType": "FERT", "BaseUnit": "PC",
                          "to_Description": {"results": [{"Language": "EN", "ProductDescription": name}]}});
        self.post("API_PRODUCT_SRV", "A_Product", &body)
            .await
            .map(drop)
    }

    /// Every sales order (items expanded) whose `PurchaseOrderByCustomer` is `reference`.
    pub async fn sales_orders_with_reference(&self, reference: &str) -> anyhow::Result<Vec<Value>> {
        // `PurchaseOrderByCustomer` holds 35 characters; longer references are stored fitted.
        let reference = crmerp_connector::mapping::fit_reference(reference, 35);
        let mut url = url::Url::parse(&format!(
            "{}/A_SalesOrder",
            self.service("API_SALES_ORDER_SRV")
        ))?;
        url.query_pairs_mut()
            .append_pair(
                "$filter",
                &format!(
                    "PurchaseOrderByCustomer eq '{}'",
                    reference.replace('\'', "''")
                ),
            )
            .append_pair("$expand", "to_Item");
        let (status, body) = self.get(url.as_str()).await?;
        anyhow::ensure!(status == 200, "GET A_SalesOrder answered {status}: {body}");
        Ok(body["d"]["results"].as_array().cloned().unwrap_or_default())
    }
}

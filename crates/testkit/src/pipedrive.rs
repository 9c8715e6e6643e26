//! A small client of Pipedrive's own API v2, as a salesperson's tools would call
//! it, authenticated with the personal API token.

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::hubspot::{CreatedDeal, DealSpec};
use crate::vendors::CrmDriver;

/// API token of the sandbox company.
pub const DEV_API_TOKEN: &str = "dev-pipedrive-api-token";
/// Webhook Basic-auth user.
pub const DEV_WEBHOOK_USER: &str = "crmerp";
/// Webhook Basic-auth password.
pub const DEV_WEBHOOK_PASSWORD: &str = "dev-pipedrive-webhook-password";
/// The "ERP order number" deal custom field.
pub const ORDER_FIELD: &str = "5d3c0e2a9f1b4c7d8e6a0b1c2d3e4f5a6b7c8d9e";
/// The "ERP sync status" deal custom field.
pub const STATUS_FIELD: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";

/// A Pipedrive API client.
pub struct PipedriveApi {
    base: String,
    http: reqwest::Client,
}

impl PipedriveApi {
    /// A client for the company at `base`.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-api-token", DEV_API_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let value: Value = response.json().await?;
        anyhow::ensure!(
            status.is_success() && value["success"] == true,
            "{path} answered {status}: {value}"
        );
        Ok(value["data"].clone())
    }

    /// Creates a record under `/api/v2/{resource}`; returns its id.
    pub async fn create(&self, resource: &str, body: Value) -> anyhow::Result<u64> {
        let data = self
            .send(
                reqwest::Method::POST,
                &format!("/api/v2/{resource}"),
                Some(body),
            )
            .await?;
        data["id"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no id in {data}"))
    }

    /// `GET /api/v2/deals/{id}`.
    pub async fn deal(&self, id: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, &format!("/api/v2/deals/{id}"), None)
            .await
    }

    /// Notes on a deal (v1).
    pub async fn deal_notes(&self, id: &str) -> anyhow::Result<Vec<Value>> {
        let data = self
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/notes?deal_id={id}"),
                None,
            )
            .await?;
        Ok(data.as_array().cloned().unwrap_or_default())
    }

    /// Creates an organization, a person, a deal and its products.
    pub async fn create_deal(&self, spec: &DealSpec) -> anyhow::Result<CreatedDeal> {
        let org_id = match &spec.company {
            Some(name) => {
                let address = if spec.shipping_address {
                    json!({"value": "Lagerstrasse 7, 20095 Hamburg, DE", "route": "Lagerstrasse", "street_number": "7", "locality": "Hamburg", "postal_code": "20095", "country": "DE"})
                } else {
                    Value::Null
                };
                Some(
                    self.create("organizations", json!({ "name": name, "address": address }))
                        .await?,
                )
            }
            None => None,
        };
        let mut deal = json!({ "title": spec.name, "currency": "EUR", "status": "open" });
        if let Some(org) = org_id {
            let person = self.create("persons", json!({ "name": format!("{} buyer", spec.name), "org_id": org, "emails": [{"value": "buyer@example.com", "primary": true, "label": "work"}] })).await?;
            deal["org_id"] = json!(org);
            deal["person_id"] = json!(person);
        }
        let deal_id = self.create("deals", deal).await?;
        let mut line_item_ids = Vec::new();
        for (sku, name, quantity, price) in &spec.lines {
            let product = self.create("products", json!({ "name": name, "code": sku, "prices": [{"price": price.parse::<f64>()?, "currency": "EUR"}] })).await?;
            let line = self
                .send(reqwest::Method::POST, &format!("/api/v2/deals/{deal_id}/products"), Some(json!({ "product_id": product, "item_price": price.parse::<f64>()?, "quantity": quantity.parse::<f64>()? })))
                .await?;
            line_item_ids.push(line["id"].to_string());
        }
        Ok(CreatedDeal {
            deal_id: deal_id.to_string(),
            company_id: org_id.map(|o| o.to_string()),
            line_item_ids,
        })
    }
}

#[async_trait]
impl CrmDriver for PipedriveApi {
    async fn create_deal(&self, spec: &DealSpec) -> anyhow::Result<CreatedDeal> {
        PipedriveApi::create_deal(self, spec).await
    }

    async fn win(&self, deal_id: &str) -> anyhow::Result<()> {
        self.send(
            reqwest::Method::PATCH,
            &format!("/api/v2/deals/{deal_id}"),
            Some(json!({ "status": "won" })),
        )
        .await
        .map(drop)
    }

    async fn erp_order_number(&self, deal_id: &str) -> anyhow::Result<Option<String>> {
        let deal = self.deal(deal_id).await?;
        Ok(deal["custom_fields"][ORDER_FIELD]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned))
    }

    fn external_ref(&self, deal_id: &str) -> String {
        format!("pipedrive-deal-{deal_id}")
    }
}

/// `[crm]` and `[crm.pipedrive]` for the company at `url`.
pub fn crm_config(url: &str) -> String {
    format!(
        "[crm]\nkind = \"pipedrive\"\n\n[crm.pipedrive]\nbase_url = \"{url}\"\napi_token = \"{DEV_API_TOKEN}\"\nwebhook_user = \"{DEV_WEBHOOK_USER}\"\nwebhook_password = \"{DEV_WEBHOOK_PASSWORD}\"\n\n[deal_to_order.crm.pipedrive]\nwrite_back_field = \"{ORDER_FIELD}\"\nsync_status_field = \"{STATUS_FIELD}\"\n"
    )
}

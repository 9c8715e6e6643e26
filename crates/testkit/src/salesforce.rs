//! A small client of Salesforce's own REST API, as an admin or a salesperson
//! would call it, authenticated with the client-credentials flow.

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::hubspot::{CreatedDeal, DealSpec};
use crate::vendors::CrmDriver;

/// Connected-app consumer key of the sandbox org.
pub const DEV_CLIENT_ID: &str = "3MVG9dev.crmerp.sandbox.consumer.key";
/// Consumer secret of the sandbox org.
pub const DEV_CLIENT_SECRET: &str = "dev-sf-consumer-secret";
/// The JWT bearer user of the sandbox org.
pub const DEV_USERNAME: &str = "integration@crmerp.dev";
/// Org id of the sandbox org.
pub const DEV_ORG_ID: &str = "00D5g000000Dev1EAA";
/// Standard Webhooks secret of the sandbox org's Flow callout.
pub const DEV_CALLOUT_SECRET: &str = "whsec_ZGV2LXNhbGVzZm9yY2UtY2FsbG91dC1zZWNyZXQhISE=";
/// The development-only JWT signing key (`config/dev-keys/`).
pub const DEV_JWT_PRIVATE_KEY: &str =
    include_str!("../../../config/dev-keys/salesforce-jwt-dev-private.pem");
/// The REST API version the harness uses.
pub const API_VERSION: &str = "v62.0";
/// The won stage.
pub const WON_STAGE: &str = "Closed Won";
/// The write-back field.
pub const ORDER_FIELD: &str = "ERP_Order_Number__c";

/// A Salesforce API client.
pub struct SalesforceApi {
    base: String,
    http: reqwest::Client,
    token: OnceCell<String>,
}

impl SalesforceApi {
    /// A client for the org at `base` (the sandbox serves login and instance on one host).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            token: OnceCell::new(),
        }
    }

    async fn token(&self) -> anyhow::Result<&str> {
        let token = self
            .token
            .get_or_try_init(|| async {
                let response = self
                    .http
                    .post(format!("{}/services/oauth2/token", self.base))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(format!(
                        "grant_type=client_credentials&client_id={DEV_CLIENT_ID}&client_secret={DEV_CLIENT_SECRET}"
                    ))
                    .send()
                    .await?;
                let status = response.status();
                let body: Value = response.json().await?;
                anyhow::ensure!(status.is_success(), "token answered {status}: {body}");
                body["access_token"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow::anyhow!("no access_token in {body}"))
            })
            .await?;
        Ok(token)
    }

    /// `POST /sobjects/{object}`; returns the new id.
    pub async fn create(&self, object: &str, fields: Value) -> anyhow::Result<String> {
        let url = format!(
            "{}/services/data/{API_VERSION}/sobjects/{object}",
            self.base
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(self.token().await?)
            .json(&fields)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(
            status.as_u16() == 201,
            "create {object} answered {status}: {body}"
        );
        body["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no id in {body}"))
    }

    /// `PATCH /sobjects/{object}/{id}`.
    pub async fn update(&self, object: &str, id: &str, fields: Value) -> anyhow::Result<()> {
        let url = format!(
            "{}/services/data/{API_VERSION}/sobjects/{object}/{id}",
            self.base
        );
        let response = self
            .http
            .patch(url)
            .bearer_auth(self.token().await?)
            .json(&fields)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().as_u16() == 204,
            "update {object} answered {}",
            response.status()
        );
        Ok(())
    }

    /// `GET /sobjects/{object}/{id}?fields=...`.
    pub async fn get(&self, object: &str, id: &str, fields: &str) -> anyhow::Result<Value> {
        let url = format!(
            "{}/services/data/{API_VERSION}/sobjects/{object}/{id}?fields={fields}",
            self.base
        );
        let response = self
            .http
            .get(url)
            .bearer_auth(self.token().await?)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "get {object} answered {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    /// Creates an account, an opportunity, products and line items.
    pub async fn create_deal(&self, spec: &DealSpec) -> anyhow::Result<CreatedDeal> {
        let account_id = match &spec.company {
            Some(name) => {
                let mut account = json!({
                    "Name": name,
                    "Website": format!("https://{}.example.com", name.to_lowercase().replace(' ', "-")),
                    "BillingStreet": "Friedrichstrasse 1", "BillingCity": "Berlin",
                    "BillingPostalCode": "10117", "BillingCountry": "DE",
                });
                if spec.shipping_address {
                    account["ShippingStreet"] = json!("Lagerstrasse 7");
                    account["ShippingCity"] = json!("Hamburg");
                    account["ShippingPostalCode"] = json!("20095");
                    account["ShippingCountry"] = json!("DE");
                }
                Some(self.create("Account", account).await?)
            }
            None => None,
        };
        let mut opportunity = json!({
            "Name": spec.name, "StageName": "Prospecting",
            "CloseDate": chrono::Utc::now().date_naive().to_string(), "CurrencyIsoCode": "EUR",
        });
        if let Some(id) = &account_id {
            opportunity["AccountId"] = json!(id);
        }
        let deal_id = self.create("Opportunity", opportunity).await?;
        let mut line_item_ids = Vec::new();
        for (index, (sku, name, quantity, price)) in spec.lines.iter().enumerate() {
            let product = self
                .create(
                    "Product2",
                    json!({ "Name": name, "ProductCode": sku, "IsActive": true }),
                )
                .await?;
            let id = self
                .create(
                    "OpportunityLineItem",
                    json!({
                        "OpportunityId": deal_id, "Product2Id": product,
                        "Quantity": quantity.parse::<f64>()?, "UnitPrice": price.parse::<f64>()?,
                        "SortOrder": index + 1,
                    }),
                )
                .await?;
            line_item_ids.push(id);
        }
        Ok(CreatedDeal {
            deal_id,
            company_id: account_id,
            line_item_ids,
        })
    }
}

#[async_trait]
impl CrmDriver for SalesforceApi {
    async fn create_deal(&self, spec: &DealSpec) -> anyhow::Result<CreatedDeal> {
        SalesforceApi::create_deal(self, spec).await
    }

    async fn win(&self, deal_id: &str) -> anyhow::Result<()> {
        self.update("Opportunity", deal_id, json!({ "StageName": WON_STAGE }))
            .await
    }

    async fn erp_order_number(&self, deal_id: &str) -> anyhow::Result<Option<String>> {
        let record = self.get("Opportunity", deal_id, ORDER_FIELD).await?;
        Ok(record[ORDER_FIELD]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned))
    }

    fn external_ref(&self, deal_id: &str) -> String {
        format!("salesforce-deal-{deal_id}")
    }
}

/// `[crm]` and `[crm.salesforce]` for the org at `url`, with the JWT bearer flow.
pub fn crm_config(url: &str) -> String {
    format!(
        "[crm]\nkind = \"salesforce\"\n\n[crm.salesforce]\nlogin_url = \"{url}\"\nauth_flow = \"jwt_bearer\"\nclient_id = \"{DEV_CLIENT_ID}\"\nusername = \"{DEV_USERNAME}\"\nprivate_key = \"\"\"\n{DEV_JWT_PRIVATE_KEY}\"\"\"\norganization_id = \"{DEV_ORG_ID}\"\ncallout_secret = \"{DEV_CALLOUT_SECRET}\"\nwon_stages = [\"{WON_STAGE}\"]\n\n[deal_to_order.crm.salesforce]\ncurrency_field = \"CurrencyIsoCode\"\n"
    )
}

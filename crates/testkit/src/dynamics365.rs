//! A small client of the Dataverse Web API, authenticated with Entra ID client
//! credentials, as a Power Apps user's actions would call it.

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::hubspot::{CreatedDeal, DealSpec};
use crate::vendors::CrmDriver;

/// Tenant of the sandbox environment.
pub const DEV_TENANT_ID: &str = "8a6c2f1e-0000-4000-8000-00000000d365";
/// Application (client) id.
pub const DEV_CLIENT_ID: &str = "0d365c1e-0000-4000-8000-000000000001";
/// Client secret.
pub const DEV_CLIENT_SECRET: &str = "dev-dynamics-client-secret";
/// Service endpoint header name.
pub const DEV_WEBHOOK_HEADER: &str = "x-crmerp-key";
/// Service endpoint header value.
pub const DEV_WEBHOOK_SECRET: &str = "dev-dynamics-webhook-key";
/// The write-back column.
pub const ORDER_COLUMN: &str = "new_erpordernumber";

/// A Dataverse client.
pub struct DataverseApi {
    base: String,
    http: reqwest::Client,
    token: OnceCell<String>,
}

impl DataverseApi {
    /// A client for the environment at `base`.
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
                    .post(format!("{}/{DEV_TENANT_ID}/oauth2/v2.0/token", self.base))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(format!("grant_type=client_credentials&client_id={DEV_CLIENT_ID}&client_secret={DEV_CLIENT_SECRET}&scope=https%3A%2F%2Fsandbox.crm.dynamics.com%2F.default"))
                    .send()
                    .await?;
                let body: Value = response.json().await?;
                body["access_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no token: {body}"))
            })
            .await?;
        Ok(token)
    }

    /// `POST /api/data/v9.2/{set}`; returns the new id from `OData-EntityId`.
    pub async fn create(&self, set: &str, body: Value) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!("{}/api/data/v9.2/{set}", self.base))
            .bearer_auth(self.token().await?)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let location = response
            .headers()
            .get("OData-EntityId")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        anyhow::ensure!(
            status.as_u16() == 204,
            "create {set} answered {status}: {}",
            response.text().await?
        );
        location
            .and_then(|l| {
                l.rsplit_once('(')
                    .map(|(_, id)| id.trim_end_matches(')').to_owned())
            })
            .ok_or_else(|| anyhow::anyhow!("no OData-EntityId"))
    }

    /// Creates an account, a currency, products, an opportunity and its products.
    pub async fn create_deal(&self, spec: &DealSpec) -> anyhow::Result<CreatedDeal> {
        let currency = self
            .create(
                "transactioncurrencies",
                json!({ "isocurrencycode": "EUR", "currencyname": "Euro" }),
            )
            .await?;
        let account = match &spec.company {
            Some(name) => {
                let mut row = json!({ "name": name, "address1_line1": "Friedrichstrasse 1", "address1_city": "Berlin", "address1_postalcode": "10117", "address1_country": "DE" });
                if spec.shipping_address {
                    row["address2_line1"] = json!("Lagerstrasse 7");
                    row["address2_city"] = json!("Hamburg");
                    row["address2_postalcode"] = json!("20095");
                    row["address2_country"] = json!("DE");
                }
                Some(self.create("accounts", row).await?)
            }
            None => None,
        };
        let mut opp = json!({ "name": spec.name, "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({currency})") });
        if let Some(id) = &account {
            opp["parentaccountid@odata.bind"] = json!(format!("/accounts({id})"));
        }
        let deal_id = self.create("opportunities", opp).await?;
        let mut line_item_ids = Vec::new();
        for (index, (sku, name, quantity, price)) in spec.lines.iter().enumerate() {
            let product = self
                .create("products", json!({ "name": name, "productnumber": sku }))
                .await?;
            line_item_ids.push(
                self.create("opportunityproducts", json!({
                    "opportunityid@odata.bind": format!("/opportunities({deal_id})"),
                    "productid@odata.bind": format!("/products({product})"),
                    "quantity": quantity.parse::<f64>()?, "priceperunit": price.parse::<f64>()?, "sequencenumber": index + 1,
                }))
                .await?,
            );
        }
        Ok(CreatedDeal {
            deal_id,
            company_id: account,
            line_item_ids,
        })
    }
}

#[async_trait]
impl CrmDriver for DataverseApi {
    async fn create_deal(&self, spec: &DealSpec) -> anyhow::Result<CreatedDeal> {
        DataverseApi::create_deal(self, spec).await
    }

    async fn win(&self, deal_id: &str) -> anyhow::Result<()> {
        let body = json!({ "Status": 3, "OpportunityClose": { "subject": "Won", "opportunityid@odata.bind": format!("/opportunities({deal_id})") } });
        let response = self
            .http
            .post(format!("{}/api/data/v9.2/WinOpportunity", self.base))
            .bearer_auth(self.token().await?)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().as_u16() == 204,
            "WinOpportunity answered {}",
            response.status()
        );
        Ok(())
    }

    async fn erp_order_number(&self, deal_id: &str) -> anyhow::Result<Option<String>> {
        let response = self
            .http
            .get(format!(
                "{}/api/data/v9.2/opportunities({deal_id})?$select={ORDER_COLUMN}",
                self.base
            ))
            .bearer_auth(self.token().await?)
            .send()
            .await?;
        let row: Value = response.json().await?;
        Ok(row[ORDER_COLUMN]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned))
    }

    fn external_ref(&self, deal_id: &str) -> String {
        format!("dynamics365-deal-{deal_id}")
    }
}

/// `[crm]` and `[crm.dynamics365]` for the environment at `url`.
pub fn crm_config(url: &str) -> String {
    format!(
        "[crm]\nkind = \"dynamics365\"\n\n[crm.dynamics365]\nbase_url = \"{url}\"\nwebhook_header_name = \"{DEV_WEBHOOK_HEADER}\"\nwebhook_header_value = \"{DEV_WEBHOOK_SECRET}\"\n\n[crm.dynamics365.oauth]\ntoken_url = \"{url}/{DEV_TENANT_ID}/oauth2/v2.0/token\"\nclient_id = \"{DEV_CLIENT_ID}\"\nclient_secret = \"{DEV_CLIENT_SECRET}\"\nscope = \"https://sandbox.crm.dynamics.com/.default\"\n\n[deal_to_order.crm.dynamics365]\nwrite_back_field = \"{ORDER_COLUMN}\"\nsync_status_field = \"new_erpsyncstatus\"\n"
    )
}

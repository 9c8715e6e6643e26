//! Pre-creates deals in the HubSpot sandbox through HubSpot's own batch API,
//! so the measured phases only drive webhooks.

use anyhow::Context as _;
use crmerp_testkit::hubspot::{DEV_TOKEN, HubSpotApi, association};
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};

/// HubSpot's batch limit.
const BATCH: usize = 100;
/// Batch requests in flight while seeding.
const PARALLEL: usize = 4;

/// Creates deals for one company in the sandbox.
pub struct Seeder {
    api: HubSpotApi,
    http: reqwest::Client,
    company_id: String,
    created: usize,
}

impl Seeder {
    /// Creates the company every deal belongs to (the ERP customer is then
    /// created once and found afterwards, as for a repeat buyer).
    pub async fn new(hubspot_url: &str) -> anyhow::Result<Self> {
        let api = HubSpotApi::new(hubspot_url);
        let company_id = api
            .create(
                "companies",
                json!({
                    "name": "Bench Buyer GmbH",
                    "domain": "bench-buyer.example.com",
                    "address": "Friedrichstrasse 1",
                    "city": "Berlin",
                    "zip": "10117",
                    "country": "DE",
                }),
                json!([]),
            )
            .await
            .context("creating the bench company")?;
        Ok(Self {
            api,
            http: reqwest::Client::new(),
            company_id,
            created: 0,
        })
    }

    /// Creates `count` complete deals (shipping address, two lines) and returns their ids.
    pub async fn deals(&mut self, count: usize) -> anyhow::Result<Vec<String>> {
        let first = self.created;
        self.created += count;
        let chunks: Vec<(usize, usize)> = (0..count)
            .step_by(BATCH)
            .map(|start| (first + start, BATCH.min(count - start)))
            .collect();
        let batches: Vec<Vec<String>> = futures::stream::iter(chunks)
            .map(|(start, len)| self.batch(start, len))
            .buffered(PARALLEL)
            .try_collect()
            .await?;
        Ok(batches.into_iter().flatten().collect())
    }

    async fn batch(&self, start: usize, len: usize) -> anyhow::Result<Vec<String>> {
        let deals: Vec<Value> = (start..start + len)
            .map(|n| {
                json!({
                    "properties": {
                        "dealname": format!("Bench deal {n}"),
                        "dealstage": "appointmentscheduled",
                        "pipeline": "default",
                        "deal_currency_code": "EUR",
                        "shipping_addressee": "Bench receiving",
                        "shipping_street": "Lagerstrasse 7",
                        "shipping_city": "Hamburg",
                        "shipping_zip": "20095",
                        "shipping_country": "DE",
                    },
                    "associations": [{
                        "to": { "id": self.company_id },
                        "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": association::DEAL_TO_COMPANY_PRIMARY }],
                    }],
                })
            })
            .collect();
        let ids = self.create("deals", deals).await?;
        let lines: Vec<Value> = ids
            .iter()
            .flat_map(|deal_id| {
                [("SKU-100", "Widget", "2", "100.00"), ("SKU-200", "Gadget", "1", "49.50")].map(
                    |(sku, name, quantity, price)| {
                        json!({
                            "properties": { "hs_sku": sku, "name": name, "quantity": quantity, "price": price },
                            "associations": [{
                                "to": { "id": deal_id },
                                "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": association::LINE_ITEM_TO_DEAL }],
                            }],
                        })
                    },
                )
            })
            .collect();
        for chunk in lines.chunks(BATCH) {
            self.create("line_items", chunk.to_vec()).await?;
        }
        Ok(ids)
    }

    /// `POST /crm/v3/objects/{object_type}/batch/create`; returns the new ids.
    async fn create(&self, object_type: &str, inputs: Vec<Value>) -> anyhow::Result<Vec<String>> {
        let url = format!(
            "{}/crm/v3/objects/{object_type}/batch/create",
            self.api.base()
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(DEV_TOKEN)
            .json(&json!({ "inputs": inputs }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(
            status.as_u16() == 201,
            "batch create {object_type} answered {status}: {body}"
        );
        body["results"]
            .as_array()
            .context("no results in the batch answer")?
            .iter()
            .map(|result| {
                result["id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("a batch result without id")
            })
            .collect()
    }
}

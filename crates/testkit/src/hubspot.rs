//! A small client of HubSpot's own CRM v3 API, as a user or HubSpot itself would call it.

use serde_json::{Value, json};

/// HubSpot association type ids (HUBSPOT_DEFINED).
pub mod association {
    /// line item -> deal.
    pub const LINE_ITEM_TO_DEAL: u32 = 20;
    /// deal -> company (primary).
    pub const DEAL_TO_COMPANY_PRIMARY: u32 = 5;
}

/// HubSpot dev private-app token of the sandbox.
pub const DEV_TOKEN: &str = "pat-na1-dev-token";
/// HubSpot dev app client secret of the sandbox (signs webhooks).
pub const DEV_CLIENT_SECRET: &str = "dev-hubspot-client-secret";

/// A HubSpot API client.
#[derive(Clone)]
pub struct HubSpotApi {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// Ids of a deal created by [`HubSpotApi::create_deal`].
#[derive(Debug, Clone)]
pub struct CreatedDeal {
    /// The deal id.
    pub deal_id: String,
    /// The company id, when one was created.
    pub company_id: Option<String>,
    /// Line item ids.
    pub line_item_ids: Vec<String>,
}

/// What [`HubSpotApi::create_deal`] creates.
#[derive(Debug, Clone)]
pub struct DealSpec {
    /// Deal name.
    pub name: String,
    /// Company name; `None` creates no company.
    pub company: Option<String>,
    /// Put a shipping address on the deal.
    pub shipping_address: bool,
    /// `(sku, name, quantity, unit price)` lines.
    pub lines: Vec<(String, String, String, String)>,
}

impl DealSpec {
    /// A complete deal: company, shipping address, two lines of `SKU-100` and `SKU-200`.
    pub fn complete(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            company: Some(format!("{name} GmbH")),
            shipping_address: true,
            lines: vec![
                (
                    "SKU-100".into(),
                    "Widget".into(),
                    "2".into(),
                    "100.00".into(),
                ),
                (
                    "SKU-200".into(),
                    "Gadget".into(),
                    "1".into(),
                    "49.50".into(),
                ),
            ],
        }
    }
}

impl HubSpotApi {
    /// A client for `base` (e.g. `http://127.0.0.1:9101`) with the dev token.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: DEV_TOKEN.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /crm/v3/objects/{object_type}`; returns the new id.
    pub async fn create(
        &self,
        object_type: &str,
        properties: Value,
        associations: Value,
    ) -> anyhow::Result<String> {
        let url = format!("{}/crm/v3/objects/{object_type}", self.base);
        let body = json!({ "properties": properties, "associations": associations });
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await?;
        anyhow::ensure!(
            status.as_u16() == 201,
            "create {object_type} answered {status}: {value}"
        );
        value["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no id in {value}"))
    }

    /// `PATCH /crm/v3/objects/deals/{id}`.
    pub async fn update_deal(&self, deal_id: &str, properties: Value) -> anyhow::Result<()> {
        self.update_object("deals", deal_id, properties).await
    }

    /// `PATCH /crm/v3/objects/{object_type}/{id}`.
    pub async fn update_object(
        &self,
        object_type: &str,
        id: &str,
        properties: Value,
    ) -> anyhow::Result<()> {
        let url = format!("{}/crm/v3/objects/{object_type}/{id}", self.base);
        let response = self
            .http
            .patch(url)
            .bearer_auth(&self.token)
            .json(&json!({ "properties": properties }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "update {object_type} answered {}",
            response.status()
        );
        Ok(())
    }

    /// Moves a deal into `stage` (the sandbox then sends HubSpot's webhook).
    pub async fn move_to_stage(&self, deal_id: &str, stage: &str) -> anyhow::Result<()> {
        self.update_deal(deal_id, json!({ "dealstage": stage }))
            .await
    }

    /// Wins a complete deal named `name` that has no shipping address, nor
    /// its company an address, so deal-to-order dead-letters it
    /// (`add_missing_field:shipping_address`). `company` sets more company
    /// properties (e.g. a phone number), `{}` for none.
    pub async fn win_deal_without_address(
        &self,
        name: &str,
        company: Value,
    ) -> anyhow::Result<CreatedDeal> {
        let mut spec = DealSpec::complete(name);
        spec.shipping_address = false;
        let deal = self.create_deal(&spec).await?;
        if let Some(company_id) = &deal.company_id {
            let mut properties = json!({"address": "", "city": "", "zip": "", "country": ""});
            if let (Some(all), Value::Object(more)) = (properties.as_object_mut(), company) {
                all.extend(more);
            }
            self.update_object("companies", company_id, properties)
                .await?;
        }
        self.move_to_stage(&deal.deal_id, "closedwon").await?;
        Ok(deal)
    }

    /// `GET /crm/v3/objects/deals/{id}?properties=...`; returns the properties object.
    pub async fn deal_properties(
        &self,
        deal_id: &str,
        properties: &[&str],
    ) -> anyhow::Result<Value> {
        let url = format!(
            "{}/crm/v3/objects/deals/{deal_id}?properties={}",
            self.base,
            properties.join(",")
        );
        let response = self.http.get(url).bearer_auth(&self.token).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "get deal answered {}",
            response.status()
        );
        let value: Value = response.json().await?;
        Ok(value["properties"].clone())
    }

    /// Ids of notes associated with a deal (v4 associations).
    pub async fn deal_note_ids(&self, deal_id: &str) -> anyhow::Result<Vec<String>> {
        let url = format!(
            "{}/crm/v4/objects/deals/{deal_id}/associations/notes",
            self.base
        );
        let response = self.http.get(url).bearer_auth(&self.token).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "associations answered {}",
            response.status()
        );
        let value: Value = response.json().await?;
        Ok(value["results"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["toObjectId"].as_u64().map(|id| id.to_string()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Objects of type `to` (`notes`, `tasks`) associated with `object_type`
    /// `id`, with `properties`, ordered by id (creation order).
    pub async fn associated_objects(
        &self,
        object_type: &str,
        id: &str,
        to: &str,
        properties: &[&str],
    ) -> anyhow::Result<Vec<Value>> {
        let url = format!(
            "{}/crm/v4/objects/{object_type}/{id}/associations/{to}",
            self.base
        );
        let response = self.http.get(url).bearer_auth(&self.token).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "associations answered {}",
            response.status()
        );
        let value: Value = response.json().await?;
        let mut ids: Vec<u64> = value["results"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["toObjectId"].as_u64())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        let mut objects = Vec::with_capacity(ids.len());
        for object_id in ids {
            let url = format!(
                "{}/crm/v3/objects/{to}/{object_id}?properties={}",
                self.base,
                properties.join(",")
            );
            let response = self.http.get(url).bearer_auth(&self.token).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "get {to} answered {}",
                response.status()
            );
            let object: Value = response.json().await?;
            objects.push(object);
        }
        Ok(objects)
    }

    /// Creates one company and `count` complete deals for it (shipping address,
    /// two lines), returning the deal ids: a fast way to prepare a load.
    pub async fn create_deals_for_one_company(
        &self,
        prefix: &str,
        count: usize,
    ) -> anyhow::Result<Vec<String>> {
        let template = DealSpec::complete(prefix);
        let first = self.create_deal(&template).await?;
        let company_id = first.company_id.clone().unwrap_or_default();
        let mut ids = vec![first.deal_id];
        for n in 1..count {
            let spec = DealSpec {
                name: format!("{prefix} {n}"),
                company: None,
                ..template.clone()
            };
            let deal = self.create_deal(&spec).await?;
            self.associate_company(&deal.deal_id, &company_id).await?;
            ids.push(deal.deal_id);
        }
        Ok(ids)
    }

    /// `PUT /crm/v4/objects/deals/{id}/associations/companies/{company}` as the primary company.
    pub async fn associate_company(&self, deal_id: &str, company_id: &str) -> anyhow::Result<()> {
        let url = format!(
            "{}/crm/v4/objects/deals/{deal_id}/associations/companies/{company_id}",
            self.base
        );
        let body = json!([{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": association::DEAL_TO_COMPANY_PRIMARY }]);
        let response = self
            .http
            .put(url)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "associate answered {}",
            response.status()
        );
        Ok(())
    }

    /// Creates a company, a deal in `appointmentscheduled` and its line items.
    pub async fn create_deal(&self, spec: &DealSpec) -> anyhow::Result<CreatedDeal> {
        let company_id = match &spec.company {
            Some(name) => Some(
                self.create(
                    "companies",
                    json!({
                        "name": name,
                        "domain": format!("{}.example.com", name.to_lowercase().replace(' ', "-")),
                        "address": "Friedrichstrasse 1",
                        "city": "Berlin",
                        "zip": "10117",
                        "country": "DE",
                    }),
                    json!([]),
                )
                .await?,
            ),
            None => None,
        };
        let mut properties = json!({
            "dealname": spec.name,
            "dealstage": "appointmentscheduled",
            "pipeline": "default",
            "deal_currency_code": "EUR",
        });
        if spec.shipping_address {
            properties["shipping_addressee"] = json!(format!("{} receiving", spec.name));
            properties["shipping_street"] = json!("Lagerstrasse 7");
            properties["shipping_city"] = json!("Hamburg");
            properties["shipping_zip"] = json!("20095");
            properties["shipping_country"] = json!("DE");
        }
        let associations = match &company_id {
            Some(id) => {
                json!([{ "to": { "id": id }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": association::DEAL_TO_COMPANY_PRIMARY }] }])
            }
            None => json!([]),
        };
        let deal_id = self.create("deals", properties, associations).await?;
        let mut line_item_ids = Vec::new();
        for (sku, name, quantity, price) in &spec.lines {
            let id = self
                .create(
                    "line_items",
                    json!({ "hs_sku": sku, "name": name, "quantity": quantity, "price": price }),
                    json!([{ "to": { "id": deal_id }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": association::LINE_ITEM_TO_DEAL }] }]),
                )
                .await?;
            line_item_ids.push(id);
        }
        Ok(CreatedDeal {
            deal_id,
            company_id,
            line_item_ids,
        })
    }
}

/// Signs a webhook body as HubSpot's v3 scheme does: Base64(HMAC-SHA256(secret,
/// "POST" + url + body + timestamp_ms)). Independent of the product's verifier.
pub fn sign_v3(secret: &str, url: &str, body: &str, timestamp_ms: i64) -> anyhow::Result<String> {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("HMAC key: {e}"))?;
    mac.update(format!("POST{url}{body}{timestamp_ms}").as_bytes());
    Ok(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// Signs a webhook body as HubSpot's v1 scheme does: hex(SHA-256(secret + body)),
/// no timestamp (so it never expires). Independent of the product's verifier.
pub fn sign_v1(secret: &str, body: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!("{secret}{body}").as_bytes()))
}

/// A HubSpot `deal.propertyChange` webhook body moving `deal_id` into `stage`.
pub fn deal_stage_webhook(
    event_id: u64,
    deal_id: &str,
    stage: &str,
    occurred_at_ms: i64,
) -> String {
    json!([{
        "eventId": event_id,
        "subscriptionId": 4242,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": occurred_at_ms,
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": deal_id.parse::<u64>().unwrap_or_default(),
        "changeSource": "CRM_UI",
        "propertyName": "dealstage",
        "propertyValue": stage,
    }])
    .to_string()
}

//! S/4HANA Event Mesh CloudEvents and the fulfilment control endpoint, checked
//! with a real loopback receiver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Received, fulfil, receiver};
use crmerp_sandbox::{DEV_S4_PASSWORD, DEV_S4_USER, S4CloudEventsMode, SandboxConfig};
use serde_json::{Value, json};

const ODATA: &str = "/sap/opu/odata/sap";

/// A logged-on S/4HANA session: Basic credentials, CSRF token and cookies.
struct Session {
    url: String,
    http: reqwest::Client,
    csrf: String,
    cookies: String,
}

impl Session {
    async fn open(url: &str) -> Self {
        let http = reqwest::Client::new();
        let response = http
            .get(format!("{url}{ODATA}/API_BUSINESS_PARTNER/"))
            .basic_auth(DEV_S4_USER, Some(DEV_S4_PASSWORD))
            .header("x-csrf-token", "Fetch")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let csrf = response.headers()["x-csrf-token"]
            .to_str()
            .unwrap()
            .to_owned();
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            url: url.to_owned(),
            http,
            csrf,
            cookies,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{ODATA}/{path}", self.url))
            .basic_auth(DEV_S4_USER, Some(DEV_S4_PASSWORD))
            .header("x-csrf-token", &self.csrf)
            .header("cookie", &self.cookies)
            .header("accept", "application/json")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body["d"].clone()
    }
}

async fn start(mode: S4CloudEventsMode, target: &str) -> (String, tokio_util::sync::DropGuard) {
    let mut config = SandboxConfig::default();
    config.s4hana.cloudevents_mode = mode;
    config.s4hana.events = common::fast_events(target);
    common::serve_one(config, "s4hana").await
}

/// A customer, a product and an order with one item; returns the order number.
async fn order(session: &Session) -> String {
    let partner = session
        .post(
            "API_BUSINESS_PARTNER/A_BusinessPartner",
            json!({
                "BusinessPartnerCategory": "2",
                "OrganizationBPName1": "Adatum",
                "to_BusinessPartnerRole": {"results": [{"BusinessPartnerRole": "FLCU01"}]},
                "to_Customer": {"to_CustomerSalesArea": {"results": [
                    {"SalesOrganization": "1010", "DistributionChannel": "10", "Division": "00"}
                ]}},
            }),
        )
        .await;
    session
        .post(
            "API_PRODUCT_SRV/A_Product",
            json!({"Product": "TG11", "ProductType": "FERT", "BaseUnit": "PC"}),
        )
        .await;
    let order = session
        .post(
            "API_SALES_ORDER_SRV/A_SalesOrder",
            json!({
                "SalesOrderType": "OR", "SalesOrganization": "1010", "DistributionChannel": "10",
                "OrganizationDivision": "00", "SoldToParty": partner["Customer"],
                "PurchaseOrderByCustomer": "deal-9",
                "to_Item": {"results": [{"Material": "TG11", "RequestedQuantity": "2"}]},
            }),
        )
        .await;
    order["SalesOrder"].as_str().unwrap().to_owned()
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received.headers[name].to_str().unwrap()
}

#[tokio::test]
async fn structured_cloudevents_for_order_create_fulfilment_and_billing() {
    let mut hook = receiver(0).await;
    let (url, _stop) = start(S4CloudEventsMode::Structured, &hook.url).await;
    let session = Session::open(&url).await;
    let number = order(&session).await;

    let created = hook.next().await;
    assert_eq!(
        header(&created, "content-type"),
        "application/cloudevents+json"
    );
    let event: Value = serde_json::from_slice(&created.body).unwrap();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(
        event["type"],
        "sap.s4.beh.salesorder.v1.SalesOrder.Created.v1"
    );
    assert_eq!(event["source"], "/default/sap.s4.beh/S4H");
    assert_eq!(event["data"]["SalesOrder"], number.as_str());
    assert!(event["id"].is_string() && event["time"].is_string());

    let (status, record) = fulfil(
        &url,
        "deal-9",
        json!({"status": "dispatched", "carrier": "DHL", "tracking_number": "JD0146"}),
    )
    .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["record"]["OverallTotalDeliveryStatus"], "C");
    let changed: Value = serde_json::from_slice(&hook.next().await.body).unwrap();
    assert_eq!(
        changed["type"],
        "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1"
    );

    let (status, _) = fulfil(&url, &number, json!({"status": "invoiced"})).await;
    assert_eq!(status, 200);
    let billing: Value = serde_json::from_slice(&hook.next().await.body).unwrap();
    assert_eq!(
        billing["type"],
        "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1"
    );
    assert_eq!(billing["data"]["SalesOrder"], number.as_str());
    let changed: Value = serde_json::from_slice(&hook.next().await.body).unwrap();
    assert_eq!(
        changed["type"],
        "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1"
    );
    let (status, _) = fulfil(&url, &number, json!({"status": "paid"})).await;
    assert_eq!(status, 409, "a sales order shows no payment");

    // The change is visible through the OData API.
    let read: Value = session
        .http
        .get(format!(
            "{url}{ODATA}/API_SALES_ORDER_SRV/A_SalesOrder('{number}')?$format=json"
        ))
        .basic_auth(DEV_S4_USER, Some(DEV_S4_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["d"]["OverallOrdReltdBillgStatus"], "C", "{read}");
}

#[tokio::test]
async fn binary_cloudevents_carry_attributes_in_ce_headers() {
    let mut hook = receiver(0).await;
    let (url, _stop) = start(S4CloudEventsMode::Binary, &hook.url).await;
    let session = Session::open(&url).await;
    let number = order(&session).await;
    let created = hook.next().await;
    assert_eq!(header(&created, "content-type"), "application/json");
    assert_eq!(header(&created, "ce-specversion"), "1.0");
    assert_eq!(
        header(&created, "ce-type"),
        "sap.s4.beh.salesorder.v1.SalesOrder.Created.v1"
    );
    assert_eq!(header(&created, "ce-source"), "/default/sap.s4.beh/S4H");
    let data: Value = serde_json::from_slice(&created.body).unwrap();
    assert_eq!(data["SalesOrder"], number.as_str());
    assert_eq!(data["SoldToParty"].as_str().map(str::is_empty), Some(false));
}

//! HubSpot simulator tests: objects, associations, validation, auth, paging and search.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{TOKEN, hubspot, start};
use crmerp_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{Value, json};

fn assoc(id: &str, type_id: u32) -> Value {
    json!({"to": {"id": id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]})
}

#[tokio::test]
async fn creates_deal_with_company_and_line_items_and_reads_associations() {
    let sandbox = start(SandboxConfig::default()).await;
    let (status, company) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/companies",
        Some(json!({"properties": {"name": "Acme", "domain": "acme.test"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let company_id = company["id"].as_str().unwrap().to_owned();
    assert_eq!(company["properties"]["hs_object_id"], company_id.as_str());
    assert!(company["createdAt"].is_string());
    assert_eq!(company["archived"], false);

    let (status, deal) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/objects/2026-03/0-3",
        Some(json!({
            "properties": {"dealname": "Big deal", "amount": 1500.5, "pipeline": "default",
                            "erp_order_number": "SO-1"},
            "associations": [assoc(&company_id, 5)],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    let deal_id = deal["id"].as_str().unwrap().to_owned();
    assert_eq!(deal["properties"]["amount"], "1500.5");

    let mut line_ids = Vec::new();
    for (name, qty) in [("Widget", 2), ("Gadget", 3)] {
        let (status, line) = hubspot(
            &sandbox,
            Method::POST,
            "/crm/v3/objects/line_items",
            Some(json!({
                "properties": {"name": name, "quantity": qty, "price": "10"},
                "associations": [assoc(&deal_id, 20)],
            })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{line}");
        line_ids.push(line["id"].as_str().unwrap().to_owned());
    }

    let (status, read) = hubspot(
        &sandbox,
        Method::GET,
        &format!("/crm/v3/objects/deals/{deal_id}?properties=dealname,erp_order_number,nope&associations=line_items,companies"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let props = read["properties"].as_object().unwrap();
    assert_eq!(props["dealname"], "Big deal");
    assert_eq!(props["erp_order_number"], "SO-1");
    assert!(props.contains_key("hs_lastmodifieddate"));
    assert!(!props.contains_key("amount"), "only requested properties");
    assert!(!props.contains_key("nope"));
    // HubSpot keys line items "line items" in v3 association maps.
    let lines: Vec<&str> = read["associations"]["line items"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            assert_eq!(entry["type"], "deal_to_line_item");
            entry["id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(lines, line_ids);
    let company_types: Vec<&str> = read["associations"]["companies"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        company_types,
        ["deal_to_company", "deal_to_company_unlabeled"]
    );

    let (status, v4) = hubspot(
        &sandbox,
        Method::GET,
        &format!("/crm/v4/objects/deals/{deal_id}/associations/line_items"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let results = v4["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["toObjectId"].to_string(), line_ids[0]);
    assert_eq!(
        results[0]["associationTypes"],
        json!([{"category": "HUBSPOT_DEFINED", "typeId": 19, "label": null}])
    );
    let (_, back) = hubspot(
        &sandbox,
        Method::GET,
        &format!("/crm/v4/objects/0-2/{company_id}/associations/deals"),
        None,
    )
    .await;
    let type_ids: Vec<u64> = back["results"][0]["associationTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["typeId"].as_u64().unwrap())
        .collect();
    assert_eq!(type_ids, [6, 342]);

    // v4 PUT (default and labelled) for a contact.
    let (_, contact) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/contacts",
        Some(json!({"properties": {"email": "a@acme.test"}})),
    )
    .await;
    let contact_id = contact["id"].as_str().unwrap();
    let (status, _) = hubspot(
        &sandbox,
        Method::PUT,
        &format!("/crm/v4/objects/deals/{deal_id}/associations/default/contacts/{contact_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = hubspot(
        &sandbox,
        Method::PUT,
        &format!("/crm/v4/objects/contacts/{contact_id}/associations/companies/{company_id}"),
        Some(json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, contact_deals) = hubspot(
        &sandbox,
        Method::GET,
        &format!("/crm/v4/objects/contacts/{contact_id}/associations/deals"),
        None,
    )
    .await;
    assert_eq!(
        contact_deals["results"][0]["associationTypes"][0]["typeId"],
        4
    );

    // Association to a missing record.
    let (status, error) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/line_items",
        Some(json!({"properties": {"name": "x"}, "associations": [assoc("999", 20)]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["category"], "VALIDATION_ERROR");

    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn validates_properties_auth_and_ids() {
    let sandbox = start(SandboxConfig::default()).await;
    let (status, error) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/deals",
        Some(json!({"properties": {"dealname": "x", "colour": "red"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["status"], "error");
    assert_eq!(error["category"], "VALIDATION_ERROR");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Property values were not valid: ")
    );
    assert!(error["correlationId"].is_string());
    assert_eq!(error["errors"][0]["code"], "PROPERTY_DOESNT_EXIST");
    assert_eq!(
        error["errors"][0]["context"]["propertyName"],
        json!(["colour"])
    );

    // Custom properties can be created like in a real portal.
    let (status, _) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/properties/deals",
        Some(
            json!({"name": "colour", "label": "Colour", "type": "string",
                    "fieldType": "text", "groupName": "dealinformation"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/deals",
        Some(json!({"properties": {"dealname": "x", "colour": "red"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, props) = hubspot(&sandbox, Method::GET, "/crm/v3/properties/deals", None).await;
    let names: Vec<&str> = props["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"colour")
            && names.contains(&"erp_sync_status")
            && names.contains(&"dealstage")
    );

    // Notes need hs_timestamp; numbers must be numbers.
    let (status, error) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/notes",
        Some(json!({"properties": {"hs_note_body": "hi"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/line_items",
        Some(json!({"properties": {"quantity": "lots"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Unknown id.
    let (status, error) = hubspot(&sandbox, Method::GET, "/crm/v3/objects/deals/42", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["category"], "OBJECT_NOT_FOUND");

    // Bad and missing tokens.
    for token in [Some("wrong"), None] {
        let mut request =
            common::client().get(format!("{}/crm/v3/objects/deals", sandbox.hubspot_url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["category"], "INVALID_AUTHENTICATION");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("Authentication credentials not found.")
        );
    }

    // Rate-limit headers on authenticated responses.
    let response = common::client()
        .get(format!("{}/crm/v3/objects/deals", sandbox.hubspot_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-hubspot-ratelimit-interval-milliseconds"],
        "10000"
    );
    assert!(
        response
            .headers()
            .contains_key("x-hubspot-ratelimit-remaining")
    );
    assert!(
        response
            .headers()
            .contains_key("x-hubspot-ratelimit-daily-remaining")
    );
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn lists_pages_batch_reads_and_searches() {
    let mut config = SandboxConfig::default();
    config.hubspot.rate_limit_per_interval = 40;
    let sandbox = start(config).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let (_, deal) = hubspot(
            &sandbox,
            Method::POST,
            "/crm/v3/objects/deals",
            Some(json!({"properties": {"dealname": format!("D{n}"), "erp_order_number": format!("SO-{n}")}})),
        )
        .await;
        ids.push(deal["id"].as_str().unwrap().to_owned());
    }
    let (_, page) = hubspot(&sandbox, Method::GET, "/crm/v3/objects/deals?limit=2", None).await;
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    let after = page["paging"]["next"]["after"].as_str().unwrap().to_owned();
    let (_, page2) = hubspot(
        &sandbox,
        Method::GET,
        &format!("/crm/v3/objects/deals?limit=2&after={after}"),
        None,
    )
    .await;
    assert_eq!(page2["results"][0]["id"], ids[2].as_str());

    let (status, batch) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/deals/batch/read",
        Some(json!({"inputs": [{"id": ids[0]}, {"id": "1"}], "properties": ["dealname"]})),
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(batch["status"], "COMPLETE");
    assert_eq!(batch["results"].as_array().unwrap().len(), 1);
    assert_eq!(batch["numErrors"], 1);
    assert_eq!(batch["errors"][0]["context"]["ids"], json!(["1"]));

    let (status, found) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/deals/search",
        Some(json!({"filterGroups": [{"filters": [{"propertyName": "erp_order_number", "operator": "EQ", "value": "SO-3"}]}],
                    "properties": ["dealname"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["total"], 1);
    assert_eq!(found["results"][0]["id"], ids[3].as_str());

    // Over the ten-second limit: 429 RATE_LIMITS.
    let mut limited = None;
    for _ in 0..40 {
        let (status, body) = hubspot(&sandbox, Method::GET, "/crm/v3/objects/deals", None).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(body);
            break;
        }
    }
    assert_eq!(limited.expect("rate limited")["category"], "RATE_LIMITS");
    sandbox.shutdown().await.unwrap();
}

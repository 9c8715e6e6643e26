//! HubSpot (sandbox) -> a real Tryton 8.2 server: software we did not write.
//!
//! Needs `make venv` (the trytond wheels in `.venv`); the first run on a
//! machine builds the cached template database (~30 s).

use std::time::Duration;

use crmerp_proto::{EventEnvelope, Message as _, event_envelope::Data};
use crmerp_testkit::hubspot::DealSpec;
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(45);

async fn tryton_stack() -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        crm: "hubspot",
        erp: "tryton",
        ..StackOptions::default()
    })
    .await
}

/// A Tryton number: a float, or `{"__class__": "Decimal", "decimal": "…"}`.
fn number(value: &Value) -> f64 {
    match value {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        other => other["decimal"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN),
    }
}

#[tokio::test]
async fn a_won_hubspot_deal_becomes_a_confirmed_tryton_sale() -> anyhow::Result<()> {
    let stack = tryton_stack().await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Tryton Deal"))
        .await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;

    let order_number = eventually("the Tryton sale number on the deal", WAIT, || async {
        stack
            .crm
            .erp_order_number(&deal.deal_id)
            .await
            .ok()
            .flatten()
    })
    .await?;

    let api = stack.tryton.as_ref().expect("a Tryton server").api();
    let sales = api
        .sales_with_reference(&format!("hubspot-deal-{}", deal.deal_id))
        .await?;
    assert_eq!(sales.len(), 1, "exactly one sale: {sales:#?}");
    let sale = &sales[0];
    assert_eq!(
        sale["number"].as_str(),
        Some(order_number.as_str()),
        "{sale:#}"
    );
    // Confirmed, and Tryton's own processing (invoice, shipment) ran.
    assert!(
        matches!(sale["state"].as_str(), Some("confirmed" | "processing")),
        "{sale:#}"
    );
    assert_eq!(sale["party."]["name"], "Tryton Deal GmbH", "{sale:#}");
    let company = deal.company_id.clone().unwrap_or_default();
    assert_eq!(
        sale["party."]["code"],
        format!("hubspot-company-{company}").as_str()
    );
    assert_eq!(sale["currency."]["code"], "EUR");
    assert_eq!(sale["shipment_address."]["city"], "Hamburg", "{sale:#}");
    assert!(
        (number(&sale["total_amount"]) - 249.5).abs() < 1e-9,
        "{sale:#}"
    );

    let lines = sale["lines"].as_array().cloned().unwrap_or_default();
    let summary: Vec<(String, f64, f64)> = lines
        .iter()
        .map(|l| {
            (
                l["product."]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                number(&l["quantity"]),
                number(&l["unit_price"]),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("SKU-100".to_owned(), 2.0, 100.0),
            ("SKU-200".to_owned(), 1.0, 49.5)
        ],
        "{lines:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_sku_is_dead_lettered_with_its_resolution() -> anyhow::Result<()> {
    let stack = tryton_stack().await?;
    let mut spec = DealSpec::complete("Tryton Unknown Sku");
    spec.lines[1].0 = "SKU-404".into();
    let deal = stack.hubspot.create_deal(&spec).await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;

    let dead_letter = eventually("a dead letter", WAIT, || async {
        let js = stack.jetstream().await.ok()?;
        let stream = js.get_stream("DLQ").await.ok()?;
        let message = stream
            .get_last_raw_message_by_subject("dlq.deal-to-order")
            .await
            .ok()?;
        match EventEnvelope::decode(message.payload).ok()?.data {
            Some(Data::DeadLetter(dead_letter)) => Some(dead_letter),
            _ => None,
        }
    })
    .await?;
    assert_eq!(dead_letter.resolution_code, "create_item_in_erp:SKU-404");
    assert_eq!(dead_letter.error_category, "unknown_item");
    let api = stack.tryton.as_ref().expect("a Tryton server").api();
    let sales = api
        .sales_with_reference(&format!("hubspot-deal-{}", deal.deal_id))
        .await?;
    assert!(sales.is_empty(), "no sale for an unknown SKU: {sales:#?}");
    Ok(())
}

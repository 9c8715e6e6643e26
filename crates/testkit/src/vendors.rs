//! Per-vendor knowledge the harness needs: the config section pointing a
//! connector at its sandbox simulator, a CRM driver that creates and wins a deal
//! through the CRM's own API, and an ERP inspector that lists orders through
//! the ERP's own API. Each vendor adds one arm to each `match` below.

use async_trait::async_trait;
use serde_json::Value;

use crate::hubspot::{CreatedDeal, DealSpec, HubSpotApi};
use crate::netsuite::NetSuiteApi;
use crate::process::Process;

/// Every CRM the harness can drive.
pub const CRMS: &[&str] = &["hubspot"];
/// Every ERP the harness can inspect.
pub const ERPS: &[&str] = &["netsuite"];

/// The sandbox listener name of a vendor (one port per vendor).
pub fn listener(kind: &str) -> &str {
    kind
}

/// Drives a CRM as a salesperson would: create a deal, win it, read it back.
#[async_trait]
pub trait CrmDriver: Send + Sync {
    /// Creates an account, a deal and its lines through the CRM's API.
    async fn create_deal(&self, spec: &DealSpec) -> anyhow::Result<CreatedDeal>;
    /// Moves the deal into the won stage (the sandbox then calls ingress as the CRM would).
    async fn win(&self, deal_id: &str) -> anyhow::Result<()>;
    /// The ERP order number written back on the deal, if any.
    async fn erp_order_number(&self, deal_id: &str) -> anyhow::Result<Option<String>>;
    /// The ERP external reference the product uses for this deal.
    fn external_ref(&self, deal_id: &str) -> String;
}

/// Reads an ERP as an operator would.
#[async_trait]
pub trait ErpInspector: Send + Sync {
    /// Makes sure the items `(sku, name, price)` exist.
    async fn ensure_items(&self, items: &[(&str, &str, &str)]) -> anyhow::Result<()>;
    /// Every order carrying `external_ref` (more than one is a duplicate).
    async fn orders_for(&self, external_ref: &str) -> anyhow::Result<Vec<Value>>;
}

/// TOML for `[crm]` and `[crm.<kind>]`, pointing at the sandbox.
pub fn crm_config(kind: &str, sandbox: &Process) -> anyhow::Result<String> {
    let url = format!("http://{}", sandbox.listener(listener(kind))?);
    Ok(match kind {
        "hubspot" => format!(
            "[crm]\nkind = \"hubspot\"\n\n[crm.hubspot]\nbase_url = \"{url}\"\naccess_token = \"pat-na1-dev-token\"\nclient_secret = \"dev-hubspot-client-secret\"\nwon_stages = [\"closedwon\"]\n"
        ),
        other => anyhow::bail!("the harness does not know CRM {other}"),
    })
}

/// TOML for `[erp]` and `[erp.<kind>]`, pointing at the sandbox.
pub fn erp_config(kind: &str, sandbox: &Process) -> anyhow::Result<String> {
    let url = format!("http://{}", sandbox.listener(listener(kind))?);
    Ok(match kind {
        "netsuite" => format!(
            "[erp]\nkind = \"netsuite\"\n\n[erp.netsuite]\nbase_url = \"{url}\"\naccount_id = \"1234567_SB1\"\nconsumer_key = \"dev-ns-consumer-key\"\nconsumer_secret = \"dev-ns-consumer-secret\"\ntoken_id = \"dev-ns-token-id\"\ntoken_secret = \"dev-ns-token-secret\"\n"
        ),
        other => anyhow::bail!("the harness does not know ERP {other}"),
    })
}

/// Tells the sandbox where the CRM's webhooks go (ingress's route for that CRM).
pub async fn point_webhooks(
    kind: &str,
    sandbox: &Process,
    ingress_url: &str,
    signature: &str,
) -> anyhow::Result<()> {
    let crm_url = format!("http://{}", sandbox.listener(listener(kind))?);
    let body = match kind {
        "hubspot" => {
            serde_json::json!({ "target_url": format!("{ingress_url}/webhooks/hubspot"), "signature": signature })
        }
        other => anyhow::bail!("the harness does not know CRM {other}"),
    };
    let response = reqwest::Client::new()
        .put(format!("{crm_url}/__sandbox/webhooks"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "sandbox webhook target: {}",
        response.status()
    );
    Ok(())
}

/// The driver for CRM `kind`.
pub fn crm_driver(kind: &str, sandbox: &Process) -> anyhow::Result<Box<dyn CrmDriver>> {
    let url = format!("http://{}", sandbox.listener(listener(kind))?);
    Ok(match kind {
        "hubspot" => Box::new(HubSpotApi::new(&url)),
        other => anyhow::bail!("the harness does not know CRM {other}"),
    })
}

/// The inspector for ERP `kind`.
pub fn erp_inspector(kind: &str, sandbox: &Process) -> anyhow::Result<Box<dyn ErpInspector>> {
    let url = format!("http://{}", sandbox.listener(listener(kind))?);
    Ok(match kind {
        "netsuite" => Box::new(NetSuiteApi::new(&url)),
        other => anyhow::bail!("the harness does not know ERP {other}"),
    })
}

#[async_trait]
impl CrmDriver for HubSpotApi {
    async fn create_deal(&self, spec: &DealSpec) -> anyhow::Result<CreatedDeal> {
        HubSpotApi::create_deal(self, spec).await
    }

    async fn win(&self, deal_id: &str) -> anyhow::Result<()> {
        self.move_to_stage(deal_id, "closedwon").await
    }

    async fn erp_order_number(&self, deal_id: &str) -> anyhow::Result<Option<String>> {
        let props = self.deal_properties(deal_id, &["erp_order_number"]).await?;
        Ok(props["erp_order_number"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned))
    }

    fn external_ref(&self, deal_id: &str) -> String {
        format!("hubspot-deal-{deal_id}")
    }
}

#[async_trait]
impl ErpInspector for NetSuiteApi {
    async fn ensure_items(&self, items: &[(&str, &str, &str)]) -> anyhow::Result<()> {
        for (sku, name, price) in items {
            self.ensure_item(sku, name, price).await?;
        }
        Ok(())
    }

    async fn orders_for(&self, external_ref: &str) -> anyhow::Result<Vec<Value>> {
        self.sales_orders_with_external_id(external_ref).await
    }
}

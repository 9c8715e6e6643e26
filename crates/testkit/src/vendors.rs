//! Per-vendor knowledge the harness needs: the config section pointing a
//! connector at its sandbox simulator, a CRM driver that creates and wins a deal
//! through the CRM's own API, and an ERP inspector that lists orders through
//! the ERP's own API. Each vendor adds one arm to each `match` below.

use async_trait::async_trait;
use serde_json::Value;

use crate::businesscentral::BusinessCentralApi;
use crate::hubspot::{CreatedDeal, DealSpec, HubSpotApi};
use crate::netsuite::NetSuiteApi;
use crate::oraclefusion::OracleFusionApi;
use crate::process::Process;
use crate::s4hana::S4HanaApi;

/// Every CRM the harness can drive.
pub const CRMS: &[&str] = &["hubspot", "salesforce", "pipedrive", "dynamics365"];
/// Every ERP the harness can inspect.
pub const ERPS: &[&str] = &[
    "netsuite",
    "tryton",
    "businesscentral",
    "s4hana",
    "oraclefusion",
];

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
    /// The ERP's own order number of `order`, as [`ErpInspector::orders_for`] returns it.
    fn order_number(&self, order: &Value) -> Option<String>;
    /// The path orders are created on (POST), so a test can count effective
    /// creates in the sandbox's request log; `None` for a real ERP, whose
    /// records are the only count.
    fn order_create_path(&self) -> Option<String>;
}

/// `order[field]` as text (numbers too), if present and not empty.
fn field_text(order: &Value, field: &str) -> Option<String> {
    match &order[field] {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// TOML for `[crm]` and `[crm.<kind>]`, pointing at the sandbox.
pub fn crm_config(kind: &str, sandbox: &Process) -> anyhow::Result<String> {
    let url = format!("http://{}", sandbox.listener(listener(kind))?);
    let section = match kind {
        "hubspot" => format!(
            "[crm]\nkind = \"hubspot\"\n\n[crm.hubspot]\nbase_url = \"{url}\"\naccess_token = \"pat-na1-dev-token\"\nclient_secret = \"dev-hubspot-client-secret\"\nwon_stages = [\"closedwon\"]\n"
        ),
        "salesforce" => crate::salesforce::crm_config(&url),
        "pipedrive" => crate::pipedrive::crm_config(&url),
        "dynamics365" => crate::dynamics365::crm_config(&url),
        other => anyhow::bail!("the harness does not know CRM {other}"),
    };
    Ok(section + &allow_loopback("crm", kind))
}

/// `[<side>.<kind>.network]` letting the connector reach the sandbox on
/// loopback, which vendor clients refuse by default.
pub fn allow_loopback(side: &str, kind: &str) -> String {
    format!("\n[{side}.{kind}.network]\nallow_loopback = true\n")
}

/// TOML for `[erp]` and `[erp.<kind>]`, pointing at the sandbox (for `tryton`,
/// `sandbox` is the real Tryton server's process: see [`crate::tryton`]).
pub fn erp_config(kind: &str, sandbox: &Process) -> anyhow::Result<String> {
    let url = format!("http://{}", sandbox.listener(listener(kind))?);
    let section = match kind {
        "netsuite" => format!(
            "[erp]\nkind = \"netsuite\"\n\n[erp.netsuite]\nbase_url = \"{url}\"\naccount_id = \"1234567_SB1\"\nconsumer_key = \"dev-ns-consumer-key\"\nconsumer_secret = \"dev-ns-consumer-secret\"\ntoken_id = \"dev-ns-token-id\"\ntoken_secret = \"dev-ns-token-secret\"\n"
        ),
        "businesscentral" => {
            let bc = crate::businesscentral::BusinessCentralApi::new(&url);
            format!(
                "[erp]\nkind = \"businesscentral\"\n\n[erp.businesscentral]\nbase_url = \"{url}\"\ntenant_id = \"{tenant}\"\nenvironment = \"{env}\"\ncompany_id = \"{company}\"\n\n[erp.businesscentral.oauth]\ntoken_url = \"{token_url}\"\nclient_id = \"{client_id}\"\nclient_secret = \"{client_secret}\"\n",
                tenant = crate::businesscentral::DEV_TENANT_ID,
                env = crate::businesscentral::DEV_ENVIRONMENT,
                company = crate::businesscentral::DEV_COMPANY_ID,
                token_url = bc.token_url(),
                client_id = crate::businesscentral::DEV_CLIENT_ID,
                client_secret = crate::businesscentral::DEV_CLIENT_SECRET,
            )
        }
        "tryton" => crate::tryton::TrytonServer::erp_config(&url, crate::tryton::DATABASE),
        "s4hana" => format!(
            "[erp]\nkind = \"s4hana\"\n\n[erp.s4hana]\nbase_url = \"{url}\"\n\n[erp.s4hana.auth]\nkind = \"basic\"\nusername = \"{user}\"\npassword = \"{password}\"\n\n[deal_to_order.erp.s4hana]\nsales_organization = \"1010\"\ndistribution_channel = \"10\"\norganization_division = \"00\"\nprice_condition_type = \"PPR0\"\nquantity_unit = \"PC\"\n",
            user = crate::s4hana::DEV_USER,
            password = crate::s4hana::DEV_PASSWORD,
        ),
        "oraclefusion" => format!(
            "[erp]\nkind = \"oraclefusion\"\n\n[erp.oraclefusion]\nbase_url = \"{url}\"\n\n[erp.oraclefusion.auth]\nkind = \"basic\"\nusername = \"{user}\"\npassword = \"{password}\"\n\n[deal_to_order.erp.oraclefusion]\nbusiness_unit_name = \"{unit}\"\n",
            unit = crate::oraclefusion::DEV_BUSINESS_UNIT,
            user = crate::oraclefusion::DEV_USER,
            password = crate::oraclefusion::DEV_PASSWORD,
        ),
        other => anyhow::bail!("the harness does not know ERP {other}"),
    };
    Ok(section + &allow_loopback("erp", kind))
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
        "pipedrive" => {
            serde_json::json!({ "target_url": format!("{ingress_url}/webhooks/pipedrive") })
        }
        "dynamics365" => {
            serde_json::json!({ "target_url": format!("{ingress_url}/webhooks/dynamics365") })
        }
        "salesforce" => serde_json::json!({
            "target_url": format!("{ingress_url}/webhooks/salesforce/outbound-message"),
            "format": "outbound_message",
        }),
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
        "salesforce" => Box::new(crate::salesforce::SalesforceApi::new(&url)),
        "pipedrive" => Box::new(crate::pipedrive::PipedriveApi::new(&url)),
        "dynamics365" => Box::new(crate::dynamics365::DataverseApi::new(&url)),
        other => anyhow::bail!("the harness does not know CRM {other}"),
    })
}

/// The inspector for ERP `kind`.
pub fn erp_inspector(kind: &str, sandbox: &Process) -> anyhow::Result<Box<dyn ErpInspector>> {
    let url = format!("http://{}", sandbox.listener(listener(kind))?);
    Ok(match kind {
        "netsuite" => Box::new(NetSuiteApi::new(&url)),
        "tryton" => Box::new(crate::tryton::TrytonApi::new(&url, crate::tryton::DATABASE)),
        "businesscentral" => Box::new(BusinessCentralApi::new(&url)),
        "s4hana" => Box::new(S4HanaApi::new(&url)),
        "oraclefusion" => Box::new(OracleFusionApi::new(&url)),
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

    fn order_number(&self, order: &Value) -> Option<String> {
        field_text(order, "tranId")
    }

    fn order_create_path(&self) -> Option<String> {
        Some("/services/rest/record/v1/salesOrder".to_owned())
    }
}

#[async_trait]
impl ErpInspector for BusinessCentralApi {
    async fn ensure_items(&self, items: &[(&str, &str, &str)]) -> anyhow::Result<()> {
        for (sku, name, price) in items {
            self.ensure_item(sku, name, price).await?;
        }
        Ok(())
    }

    async fn orders_for(&self, external_ref: &str) -> anyhow::Result<Vec<Value>> {
        self.sales_orders_with_reference(external_ref).await
    }

    fn order_number(&self, order: &Value) -> Option<String> {
        field_text(order, "number")
    }

    fn order_create_path(&self) -> Option<String> {
        let url = url::Url::parse(&format!("{}/salesOrders", self.company_url())).ok()?;
        Some(url.path().to_owned())
    }
}

#[async_trait]
impl ErpInspector for S4HanaApi {
    async fn ensure_items(&self, items: &[(&str, &str, &str)]) -> anyhow::Result<()> {
        // SAP prices from conditions; the deal's price travels on the order item.
        for (sku, name, _price) in items {
            self.ensure_product(sku, name).await?;
        }
        Ok(())
    }

    async fn orders_for(&self, external_ref: &str) -> anyhow::Result<Vec<Value>> {
        self.sales_orders_with_reference(external_ref).await
    }

    fn order_number(&self, order: &Value) -> Option<String> {
        field_text(order, "SalesOrder")
    }

    fn order_create_path(&self) -> Option<String> {
        Some("/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder".to_owned())
    }
}

#[async_trait]
impl ErpInspector for OracleFusionApi {
    async fn ensure_items(&self, items: &[(&str, &str, &str)]) -> anyhow::Result<()> {
        for (sku, name, price) in items {
            self.ensure_item(sku, name, price).await?;
        }
        Ok(())
    }

    async fn orders_for(&self, external_ref: &str) -> anyhow::Result<Vec<Value>> {
        self.orders_with_reference(external_ref).await
    }

    fn order_number(&self, order: &Value) -> Option<String> {
        field_text(order, "OrderNumber")
    }

    fn order_create_path(&self) -> Option<String> {
        Some("/fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub".to_owned())
    }
}

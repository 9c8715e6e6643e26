//! A small Tryton JSON-RPC client, as an operator's script would use it: the
//! one-time ERP setup of the template database, products, and reading sales.

use std::sync::Arc;

use anyhow::Context;
use base64::Engine as _;
use chrono::Datelike;
use crmerp_connector::tryton::wire::{date, decimal};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// The admin login of test databases.
pub const ADMIN: &str = "admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin";

/// A logged-in admin session on one Tryton database.
struct Session {
    header: String,
    context: Value,
}

/// A Tryton JSON-RPC client of one database.
pub struct TrytonApi {
    url: String,
    http: reqwest::Client,
    session: Mutex<Option<Arc<Session>>>,
}

impl TrytonApi {
    /// A client of `{base}/{database}/rpc/` logging in as the admin.
    pub fn new(base: &str, database: &str) -> Self {
        Self {
            url: format!("{}/{database}/rpc/", base.trim_end_matches('/')),
            http: reqwest::Client::new(),
            session: Mutex::new(None),
        }
    }

    async fn post(&self, method: &str, params: Value, auth: Option<&str>) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "id": 1, "method": method, "params": params }));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.with_context(|| method.to_owned())?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "{method} answered {status}: {text}");
        let mut answer: Value =
            serde_json::from_str(&text).with_context(|| format!("{method}: {text}"))?;
        if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
            anyhow::bail!("{method} failed: {error}");
        }
        Ok(answer["result"].take())
    }

    /// The admin session, logging in on first use.
    async fn session(&self) -> anyhow::Result<Arc<Session>> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref() {
            return Ok(Arc::clone(session));
        }
        let login = self
            .post(
                "common.db.login",
                json!([ADMIN, { "password": ADMIN_PASSWORD }, "en"]),
                None,
            )
            .await?;
        let user = login[0].as_i64().context("login: no user id")?;
        let token = login[1].as_str().context("login: no token")?;
        let raw = format!("{ADMIN}:{user}:{token}");
        let header = format!(
            "Session {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        let context = self
            .post(
                "model.res.user.get_preferences",
                json!([true, {}]),
                Some(&header),
            )
            .await?;
        let session = Arc::new(Session { header, context });
        *slot = Some(Arc::clone(&session));
        Ok(session)
    }

    /// Calls `method` with `args` and the admin's context appended.
    pub async fn call(&self, method: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        let session = self.session().await?;
        let mut params = args;
        params.push(session.context.clone());
        self.post(method, Value::Array(params), Some(&session.header))
            .await
    }

    /// `search_read` ordered by id.
    pub async fn search_read(
        &self,
        model: &str,
        domain: Value,
        fields: &[&str],
    ) -> anyhow::Result<Vec<Value>> {
        let result = self
            .call(
                &format!("model.{model}.search_read"),
                vec![
                    domain,
                    json!(0),
                    Value::Null,
                    json!([["id", "ASC"]]),
                    json!(fields),
                ],
            )
            .await?;
        Ok(result.as_array().cloned().unwrap_or_default())
    }

    async fn create(&self, model: &str, values: Value) -> anyhow::Result<i64> {
        let ids = self
            .call(&format!("model.{model}.create"), vec![json!([values])])
            .await?;
        ids[0]
            .as_i64()
            .with_context(|| format!("{model}.create answered {ids}"))
    }

    async fn first_id(&self, model: &str, domain: Value) -> anyhow::Result<i64> {
        let found = self.search_read(model, domain.clone(), &["id"]).await?;
        found
            .first()
            .and_then(|r| r["id"].as_i64())
            .with_context(|| format!("no {model} matches {domain}"))
    }

    /// Every sale whose `reference` is `reference`, each with its lines read
    /// (`product.code`, `quantity`, `unit_price`) under `"lines"`.
    pub async fn sales_with_reference(&self, reference: &str) -> anyhow::Result<Vec<Value>> {
        let mut sales = self
            .search_read(
                "sale.sale",
                json!([["reference", "=", reference]]),
                &[
                    "number",
                    "state",
                    "reference",
                    "party.name",
                    "party.code",
                    "currency.code",
                    "total_amount",
                    "shipment_address.city",
                    "shipment_address.street",
                ],
            )
            .await?;
        for sale in &mut sales {
            let lines = self
                .search_read(
                    "sale.line",
                    json!([["sale", "=", sale["id"]]]),
                    &[
                        "product.code",
                        "quantity",
                        "unit_price",
                        "unit.symbol",
                        "description",
                    ],
                )
                .await?;
            sale["lines"] = Value::Array(lines);
        }
        Ok(sales)
    }

    /// Creates a party with an address and a sale of one `SKU-100` for it
    /// with `reference`, then quotes and confirms it (Tryton's process then
    /// creates its customer shipment). Returns the sale id.
    pub async fn confirmed_sale(&self, reference: &str) -> anyhow::Result<i64> {
        let party = self
            .create(
                "party.party",
                json!({ "name": format!("Customer of {reference}"),
                        "addresses": [["create", [{ "street": "1 Dock Road", "city": "Hamburg" }]]] }),
            )
            .await?;
        let address = self
            .first_id("party.address", json!([["party", "=", party]]))
            .await?;
        let product = self
            .first_id("product.product", json!([["code", "=", "SKU-100"]]))
            .await?;
        let unit = self
            .first_id("product.uom", json!([["symbol", "=", "u"]]))
            .await?;
        let sale = self
            .create(
                "sale.sale",
                json!({ "party": party, "invoice_address": address, "shipment_address": address,
                        "reference": reference,
                        "lines": [["create", [{ "type": "line", "product": product, "quantity": 1.0,
                                                "unit": unit, "unit_price": decimal("100.00") }]]] }),
            )
            .await?;
        for button in ["quote", "confirm"] {
            self.call(&format!("model.sale.sale.{button}"), vec![json!([sale])])
                .await?;
        }
        Ok(sale)
    }

    /// Runs the workflow `buttons` of `stock.shipment.out` (e.g.
    /// `assign_force`, `pick`, `pack`, `do`) on every customer shipment of
    /// `sale`, as a warehouse does.
    pub async fn advance_shipments(&self, sale: i64, buttons: &[&str]) -> anyhow::Result<()> {
        let read = self
            .search_read("sale.sale", json!([["id", "=", sale]]), &["shipments"])
            .await?;
        let shipments = read
            .first()
            .map(|s| s["shipments"].clone())
            .with_context(|| format!("no sale {sale}"))?;
        anyhow::ensure!(
            shipments.as_array().is_some_and(|s| !s.is_empty()),
            "sale {sale} has no shipment"
        );
        for button in buttons {
            self.call(
                &format!("model.stock.shipment.out.{button}"),
                vec![shipments.clone()],
            )
            .await?;
        }
        Ok(())
    }

    /// Creates the salable goods product `sku` unless a product has that code.
    pub async fn ensure_product(&self, sku: &str, name: &str, price: &str) -> anyhow::Result<()> {
        if !self
            .search_read("product.product", json!([["code", "=", sku]]), &["id"])
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let unit = self
            .first_id("product.uom", json!([["symbol", "=", "u"]]))
            .await?;
        let category = self
            .first_id("product.category", json!([["accounting", "=", true]]))
            .await?;
        self.create(
            "product.template",
            json!({ "name": name, "type": "goods", "default_uom": unit, "sale_uom": unit,
                    "list_price": decimal(price), "salable": true, "account_category": category,
                    "products": [["create", [{ "suffix_code": sku }]]] }),
        )
        .await?;
        Ok(())
    }

    /// The one-time ERP setup of a fresh database: currencies (EUR for the
    /// company, USD) with rates, countries DE and US, the company, a chart of
    /// accounts with default receivable and payable accounts, this and next
    /// year's fiscal years with invoice sequences, and an accounting category.
    pub async fn set_up_company(&self) -> anyhow::Result<()> {
        let currency = |name: &str, code: &str, symbol: &str, rate: &str| {
            json!({ "name": name, "code": code, "symbol": symbol, "digits": 2,
                    "rounding": decimal("0.01"),
                    "rates": [["create", [{ "date": date(chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()), "rate": decimal(rate) }]]] })
        };
        let eur = self
            .create("currency.currency", currency("Euro", "EUR", "€", "1"))
            .await?;
        self.create(
            "currency.currency",
            currency("US Dollar", "USD", "$", "1.1"),
        )
        .await?;
        self.create(
            "country.country",
            json!({ "name": "Germany", "code": "DE" }),
        )
        .await?;
        self.create(
            "country.country",
            json!({ "name": "United States", "code": "US" }),
        )
        .await?;
        let party = self
            .create("party.party", json!({ "name": "Crmerp Test ERP" }))
            .await?;
        let company = self
            .create(
                "company.company",
                json!({ "party": party, "currency": eur }),
            )
            .await?;
        let session = self.session().await?;
        self.post(
            "model.res.user.write",
            json!([[1], { "companies": [["add", [company]]], "company": company }, {}]),
            Some(&session.header),
        )
        .await?;
        // The cached context predates the company: log in again for a fresh one.
        *self.session.lock().await = None;
        self.set_up_accounting(company).await
    }

    async fn set_up_accounting(&self, company: i64) -> anyhow::Result<()> {
        let template = self
            .first_id("account.account.template", json!([["parent", "=", null]]))
            .await?;
        let wizard = self
            .call("wizard.account.create_chart.create", vec![])
            .await?;
        let session_id = wizard[0].clone();
        let execute = |data: Value, state: &str| {
            self.call(
                "wizard.account.create_chart.execute",
                vec![session_id.clone(), data, json!(state)],
            )
        };
        execute(json!({}), "account").await?;
        execute(
            json!({ "account": { "company": company, "account_template": template } }),
            "create_account",
        )
        .await?;
        let account = |kind: &str| {
            self.first_id(
                "account.account",
                json!([
                    [format!("type.{kind}"), "=", true],
                    ["party_required", "=", true],
                    ["closed", "!=", true]
                ]),
            )
        };
        let (receivable, payable) = (account("receivable").await?, account("payable").await?);
        execute(
            json!({ "properties": { "company": company, "account_receivable": receivable, "account_payable": payable } }),
            "create_properties",
        )
        .await?;
        self.call("wizard.account.create_chart.delete", vec![session_id])
            .await?;

        let move_type = self
            .first_id("ir.sequence.type", json!([["name", "=", "Account Move"]]))
            .await?;
        let invoice_type = self
            .first_id("ir.sequence.type", json!([["name", "=", "Invoice"]]))
            .await?;
        let year = chrono::Utc::now().year();
        for year in [year, year + 1] {
            let strict = |name: String, kind: i64| {
                self.create(
                    "ir.sequence.strict",
                    json!({ "name": name, "sequence_type": kind, "company": company }),
                )
            };
            let moves = strict(format!("Account Move {year}"), move_type).await?;
            let mut invoices = Vec::new();
            for name in [
                "Customer Invoice",
                "Customer Credit Note",
                "Supplier Invoice",
                "Supplier Credit Note",
            ] {
                invoices.push(strict(format!("{name} {year}"), invoice_type).await?);
            }
            let start = chrono::NaiveDate::from_ymd_opt(year, 1, 1).context("year")?;
            let end = chrono::NaiveDate::from_ymd_opt(year, 12, 31).context("year")?;
            let fiscal_year = self
                .create(
                    "account.fiscalyear",
                    json!({ "name": year.to_string(), "start_date": date(start), "end_date": date(end),
                            "company": company, "move_sequence": moves,
                            "invoice_sequences": [["create", [{ "company": company,
                                "out_invoice_sequence": invoices[0], "out_credit_note_sequence": invoices[1],
                                "in_invoice_sequence": invoices[2], "in_credit_note_sequence": invoices[3] }]]] }),
                )
                .await?;
            self.call(
                "model.account.fiscalyear.create_period",
                vec![json!([fiscal_year])],
            )
            .await?;
        }
        // Leaf accounts only: parents are closed and refused on invoice lines.
        let leaf = |kind: &str, code: &str| {
            self.first_id(
                "account.account",
                json!([
                    [format!("type.{kind}"), "=", true],
                    ["closed", "!=", true],
                    ["code", "like", code]
                ]),
            )
        };
        let revenue = leaf("revenue", "4%").await?;
        let expense = leaf("expense", "5%").await?;
        self.create(
            "product.category",
            json!({ "name": "Goods", "accounting": true, "account_revenue": revenue, "account_expense": expense }),
        )
        .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::vendors::ErpInspector for TrytonApi {
    async fn ensure_items(&self, items: &[(&str, &str, &str)]) -> anyhow::Result<()> {
        for (sku, name, price) in items {
            self.ensure_product(sku, name, price).await?;
        }
        Ok(())
    }

    async fn orders_for(&self, external_ref: &str) -> anyhow::Result<Vec<Value>> {
        self.sales_with_reference(external_ref).await
    }

    fn order_number(&self, order: &Value) -> Option<String> {
        order["number"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    }

    fn order_create_path(&self) -> Option<String> {
        // A real server: JSON-RPC calls all go to one path, and records are the count.
        None
    }
}

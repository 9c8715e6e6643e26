//! Conformance suites: one set of cases per capability, run against every
//! vendor that declares it, each against its sandbox simulator.
//!
//! A vendor opts in with a [`Fixture`] (its config section, how to break its
//! credentials, how to seed an item or a deal) and one test per suite calling
//! [`system`], [`bounded_body`], [`deal_source`], [`customer_master`],
//! [`order_sink`] or [`order_status_source`]. The connectors are built
//! through [`crate::registry`], so the suites also check the declarations.

use std::time::Duration;

use async_trait::async_trait;
use crmerp_proto::{Account, Address, Deal, LineItem, Money, OrderStatus, RecordRef, SalesOrder};
use serde_json::{Value, json};

use crate::field_maps::FlowMaps;
use crate::ports::Role;
use crate::registry::{DEAL_TO_ORDER, build_crm, build_erp};
use crate::test_support::{Simulator, serve, simulator};
use crate::{CallLog, Capabilities, ErrorCategory, ErrorKind, OrderRequest};

/// How one vendor is set up for the suites.
#[async_trait]
pub(crate) trait Fixture: Sync {
    /// The sandbox simulator's name, which is also the connector's kind.
    const VENDOR: &'static str;
    /// CRM or ERP.
    const ROLE: Role;
    /// JSON pointer to a secret in [`Fixture::section`]; a wrong value there
    /// makes the vendor answer 401.
    const SECRET: &'static str;
    /// The section key holding the vendor API's base URL; `None` when the
    /// vendor names its API host in the login answer (Salesforce).
    const API_URL_KEY: Option<&'static str> = Some("base_url");
    /// A well-formed deal id for the CRM that a fresh simulator does not hold.
    const DEAL_ID: &'static str = "1";
    /// A well-formed ERP order id that a fresh simulator does not hold.
    const ORDER_ID: &'static str = "00000000-0000-4000-8000-0000000000ff";

    /// A working configuration section for the simulator at `url`: by
    /// default the one `make run` uses (`config/dev.toml`), re-pointed.
    fn section(&self, url: &str) -> Value {
        dev_section(Self::ROLE, Self::VENDOR, url)
    }

    /// Creates an item (product, material) `sku` the ERP can sell; CRMs need none.
    async fn seed_item(&self, _url: &str, _sku: &str) {}

    /// True when the ERP refuses a second customer with the same key, so a
    /// repeated create resolves to the first record by look-up. Where the
    /// ERP does not (the flow's claims then keep the create single), a second
    /// create is not part of the contract.
    fn refuses_duplicate_customers(&self) -> bool {
        true
    }

    /// Creates `deal` through the CRM simulator's own API (the account with
    /// its address, the deal, its one line) and returns the CRM's deal id.
    /// Only CRMs have deals.
    async fn seed_won_deal(&self, _url: &str, _deal: &WonDeal) -> String {
        panic!(
            "{} has no deals: only a CRM's fixture implements seed_won_deal",
            Self::VENDOR
        )
    }

    /// The ERP order number on deal `deal_id`, read through the CRM
    /// simulator's own API from the field the connector's configuration
    /// writes back to. Only CRMs have deals.
    async fn order_number_on_deal(&self, _url: &str, _deal_id: &str) -> String {
        panic!(
            "{} has no deals: only a CRM's fixture implements order_number_on_deal",
            Self::VENDOR
        )
    }
}

/// What [`Fixture::seed_won_deal`] creates: one account with an address and a
/// won deal for it with one line. Quantity and price are written the way a
/// user types them; the connector reads them back as canonical decimals.
pub(crate) struct WonDeal {
    /// The deal's name.
    pub(crate) name: &'static str,
    /// The account's (company, organization) name.
    pub(crate) account: &'static str,
    /// The account's street line, street name then house number.
    pub(crate) street: &'static str,
    /// The account's city.
    pub(crate) city: &'static str,
    /// The account's postal code.
    pub(crate) postal_code: &'static str,
    /// The account's two-letter country code.
    pub(crate) country_code: &'static str,
    /// The deal's currency (ISO 4217).
    pub(crate) currency: &'static str,
    /// The line's product code.
    pub(crate) sku: &'static str,
    /// The line's product name.
    pub(crate) product: &'static str,
    /// The line's quantity.
    pub(crate) quantity: &'static str,
    /// The line's unit price.
    pub(crate) unit_price: &'static str,
}

/// The deal the [`deal_source`] suite seeds.
pub(crate) const WON_DEAL: WonDeal = WonDeal {
    name: "Conformance won deal",
    account: "Conformance Buyer Ltd",
    street: "Lagerstrasse 7",
    city: "Hamburg",
    postal_code: "20095",
    country_code: "DE",
    currency: "EUR",
    sku: "CONF-SKU-1",
    product: "Conformance widget",
    quantity: "3",
    unit_price: "19.99",
};

/// This crate's folder; the run-time value wins over a stale cached build's.
pub(crate) fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::path::PathBuf::from,
    )
}

/// `config/dev.toml`, the configuration `make run` uses.
fn dev_config() -> Value {
    config::Config::builder()
        .add_source(config::File::from(
            manifest_dir().join("../../config/dev.toml"),
        ))
        .build()
        .and_then(config::Config::try_deserialize)
        .expect("config/dev.toml parses")
}

/// The flows' field maps of `config/dev.toml` (`[deal_to_order.<role>.<vendor>]`).
pub(crate) fn dev_maps() -> FlowMaps {
    let dev = dev_config();
    FlowMaps::new().with(DEAL_TO_ORDER, dev.get(DEAL_TO_ORDER).cloned())
}

/// Deal-to-order's field maps for `vendor` as `config/dev.toml` sets them.
pub(crate) fn dev_fields<T: serde::de::DeserializeOwned>(role: Role, vendor: &str) -> T {
    dev_maps()
        .read(
            DEAL_TO_ORDER,
            role,
            vendor,
            &mut serde_json::Map::new(),
            &[],
        )
        .expect("config/dev.toml's field maps parse")
}

/// `[<role>.<vendor>]` of `config/dev.toml` with every loopback URL moved to `url`.
pub(crate) fn dev_section(role: Role, vendor: &str, url: &str) -> Value {
    let dev = dev_config();
    let mut section = dev
        .get(role.as_str())
        .and_then(|side| side.get(vendor))
        .cloned()
        .unwrap_or_else(|| panic!("config/dev.toml has [{}.{vendor}]", role.as_str()));
    repoint(&mut section, url);
    section
}

fn repoint(value: &mut Value, url: &str) {
    match value {
        Value::String(text) if text.starts_with("http://127.0.0.1:") => {
            let rest = text["http://127.0.0.1:".len()..]
                .find('/')
                .map_or("", |slash| &text["http://127.0.0.1:".len() + slash..]);
            *text = format!("{url}{rest}");
        }
        Value::Object(map) => map.values_mut().for_each(|v| repoint(v, url)),
        _ => {}
    }
}

/// A running simulator and the vendor's ports built over it.
pub(crate) struct Subject {
    /// Keeps the simulator alive for the test.
    pub(crate) sim: Simulator,
    /// The vendor's ports, built by the registry.
    pub(crate) ports: Capabilities,
}

fn build<F: Fixture>(section: Value) -> Capabilities {
    let built = match F::ROLE {
        Role::Crm => build_crm(F::VENDOR, Some(section), &dev_maps()),
        Role::Erp => build_erp(F::VENDOR, Some(section), &dev_maps()),
    };
    built.unwrap_or_else(|e| panic!("{} builds: {e}", F::VENDOR))
}

/// Starts the vendor's simulator and builds its ports.
pub(crate) async fn start<F: Fixture>(fixture: &F) -> Subject {
    let sim = simulator(F::VENDOR).await;
    let ports = build::<F>(fixture.section(&sim.url));
    Subject { sim, ports }
}

/// Arms a sandbox fault on the simulator (see the sandbox's `FaultSpec`).
async fn fault(sim: &Simulator, spec: Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/__sandbox/faults", sim.url))
        .json(&spec)
        .send()
        .await
        .expect("fault request");
    assert!(response.status().is_success(), "fault armed: {spec}");
}

/// Arms `spec` on the simulator and probes once; the probe must fail.
async fn probe_under_fault(
    sim: &Simulator,
    base: &dyn crate::System,
    spec: Value,
) -> crate::ConnectorError {
    fault(sim, spec.clone()).await;
    match base.probe().await {
        Ok(()) => panic!("the probe succeeded under the fault {spec}"),
        Err(err) => err,
    }
}

/// The base every port shares: probe, transport failures, throttling, credentials.
pub(crate) async fn system<F: Fixture>(fixture: &F) {
    let subject = start(fixture).await;
    let base = subject.ports.base();
    assert_eq!(base.system(), F::VENDOR);
    base.probe().await.expect("probe answers");

    // 5xx: transient.
    let err = probe_under_fault(&subject.sim, &*base, json!({"status": 503, "count": 1})).await;
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_ne!(err.category, ErrorCategory::RateLimited, "{err}");

    // No answer at all: transient.
    let err = probe_under_fault(&subject.sim, &*base, json!({"status": 0, "count": 1})).await;
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    base.probe().await.expect("recovered after the faults");

    // 429 with Retry-After: transient, the vendor's wait is kept, and calls
    // work again once it is over.
    let throttled = json!({"status": 429, "retry_after_secs": 1, "count": 1});
    let err = probe_under_fault(&subject.sim, &*base, throttled).await;
    assert_eq!(err.category, ErrorCategory::RateLimited, "{err}");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_eq!(err.retry_after, Some(Duration::from_secs(1)), "{err}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    base.probe().await.expect("calls resume after Retry-After");

    // An answer slower than the client's timeout: transient, category timeout.
    let mut slow = fixture.section(&subject.sim.url);
    slow["timeouts"] = json!({"connect_timeout_ms": 1000, "request_timeout_ms": 300});
    let slow = build::<F>(slow).base();
    slow.probe().await.expect("warm-up");
    let stalled = json!({"status": 200, "latency_ms": 1500, "count": 1});
    let err = probe_under_fault(&subject.sim, &*slow, stalled).await;
    assert_eq!(err.category, ErrorCategory::Timeout, "{err}");
    assert!(err.is_transient(), "{err}");

    // Wrong credentials: an auth error that pauses the flow, never transient.
    let mut wrong = fixture.section(&subject.sim.url);
    *wrong
        .pointer_mut(F::SECRET)
        .unwrap_or_else(|| panic!("{} is in the section", F::SECRET)) = json!("wrong-secret");
    let err = build::<F>(wrong)
        .base()
        .probe()
        .await
        .expect_err("credentials refused");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert_eq!(err.category, ErrorCategory::Unauthorized, "{err}");
}

/// A body larger than the connector reads is an error, not an allocation.
/// Skipped where the vendor names its API host in the login answer
/// ([`Fixture::API_URL_KEY`] is `None`).
pub(crate) async fn bounded_body<F: Fixture>(fixture: &F) {
    let sim = simulator(F::VENDOR).await;
    // Everything the vendor API serves is one oversized JSON document; the
    // token endpoint (if any) stays on the simulator.
    let huge = format!(
        "{{\"value\":\"{}\"}}",
        "x".repeat(crate::http_client::MAX_BODY_BYTES * 2)
    );
    let router = axum::Router::new().fallback(move || {
        let body = huge.clone();
        async move { ([("content-type", "application/json")], body) }
    });
    let addr = serve(router).await;
    let Some(key) = F::API_URL_KEY else {
        return;
    };
    let mut section = fixture.section(&sim.url);
    section[key] = json!(format!("http://{addr}"));
    let ports = build::<F>(section);
    let calls = CallLog::new();
    // A read whose answer is parsed (a probe may ignore its body).
    let err = match F::ROLE {
        Role::Crm => ports
            .deal_source("conformance")
            .expect("a CRM declares deal source")
            .fetch_deal(F::DEAL_ID, &calls)
            .await
            .map(drop),
        Role::Erp => ports
            .customer_master("conformance")
            .expect("an ERP declares customer master")
            .find_customer(&account("1"), &calls)
            .await
            .map(drop),
    }
    .expect_err("oversized body refused");
    assert_eq!(err.category, ErrorCategory::Protocol, "{err}");
}

fn account(id: &str) -> Account {
    Account {
        r#ref: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "company".into(),
            id: id.into(),
        }),
        name: format!("Conformance {id} Ltd"),
        email: format!("ap-{id}@conformance.example"),
        billing_address: Some(address()),
        ..Account::default()
    }
}

fn address() -> Address {
    Address {
        line1: "1 Conformance Way".into(),
        city: "Atlanta".into(),
        postal_code: "30301".into(),
        region: "GA".into(),
        country_code: "US".into(),
        ..Address::default()
    }
}

fn deal(id: &str, sku: &str) -> Deal {
    Deal {
        r#ref: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "deal".into(),
            id: id.into(),
        }),
        name: format!("Conformance deal {id}"),
        line_items: vec![LineItem {
            sku: sku.into(),
            name: format!("Line {sku}"),
            quantity: "2".into(),
            unit_price: Some(Money {
                currency_code: "USD".into(),
                amount: "19.99".into(),
            }),
            ..LineItem::default()
        }],
        shipping_address: Some(address()),
        ..Deal::default()
    }
}

/// Find-before-create for customers, and a repeated create resolved by look-up.
pub(crate) async fn customer_master<F: Fixture>(fixture: &F) {
    let subject = start(fixture).await;
    let customers = subject
        .ports
        .customer_master("conformance")
        .expect("declares customer master");
    let calls = CallLog::new();
    let account = account("4711");
    assert_eq!(
        customers
            .find_customer(&account, &calls)
            .await
            .expect("find"),
        None,
        "a new account has no customer yet"
    );
    let created = customers
        .create_customer(&account, &calls)
        .await
        .expect("create");
    assert_eq!(created.system, F::VENDOR);
    assert_eq!(
        customers
            .find_customer(&account, &calls)
            .await
            .expect("find"),
        Some(created.clone()),
        "the created customer is found by the account's reference"
    );
    if fixture.refuses_duplicate_customers() {
        let again = customers
            .create_customer(&account, &calls)
            .await
            .expect("a repeated create resolves to the first customer");
        assert_eq!(again, created);
    }
    let other = customers
        .find_customer(&self::account("4712"), &calls)
        .await
        .expect("find");
    assert_eq!(other, None, "another account does not match");
}

/// Find-before-create for orders, and an unknown item is permanent with a resolution.
pub(crate) async fn order_sink<F: Fixture>(fixture: &F) {
    let subject = start(fixture).await;
    let customers = subject
        .ports
        .customer_master("conformance")
        .expect("declares customer master");
    let orders = subject
        .ports
        .order_sink("conformance")
        .expect("declares order sink");
    fixture.seed_item(&subject.sim.url, "CONF-1").await;
    let calls = CallLog::new();
    let customer = customers
        .create_customer(&account("4711"), &calls)
        .await
        .expect("customer");
    let external_ref = "hubspot-deal-99";
    assert_eq!(
        orders.find_order(external_ref, &calls).await.expect("find"),
        None
    );
    let deal = deal("99", "CONF-1");
    let request = OrderRequest {
        external_ref,
        customer: &customer,
        deal: &deal,
    };
    let created = orders.create_order(&request, &calls).await.expect("create");
    assert!(!created.order_number.is_empty(), "{created:?}");
    let found = orders
        .find_order(external_ref, &calls)
        .await
        .expect("find")
        .expect("the created order is found by its reference");
    assert_eq!(found.order_number, created.order_number);
    assert_eq!(
        orders
            .find_order("hubspot-deal-100", &calls)
            .await
            .expect("find"),
        None,
        "another reference does not match"
    );

    let unknown = self::deal("100", "NO-SUCH-ITEM");
    let request = OrderRequest {
        external_ref: "hubspot-deal-100",
        customer: &customer,
        deal: &unknown,
    };
    let err = orders
        .create_order(&request, &calls)
        .await
        .expect_err("unknown item refused");
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
    assert!(
        err.resolution.is_some(),
        "an unknown item tells operations what to do: {err}"
    );
    assert_eq!(
        orders
            .find_order("hubspot-deal-100", &calls)
            .await
            .expect("find"),
        None,
        "a refused order leaves nothing behind"
    );
}

/// A won deal is read with its line, account and address; an unknown deal is
/// a permanent not-found; the ERP order is written back idempotently and
/// visibly in the CRM; a sync error can be flagged.
pub(crate) async fn deal_source<F: Fixture>(fixture: &F) {
    let subject = start(fixture).await;
    let deals = subject
        .ports
        .deal_source("conformance")
        .expect("declares deal source");
    let calls = CallLog::new();

    // Before anything is seeded, so the well-formed id names no deal.
    let err = deals
        .fetch_deal(F::DEAL_ID, &calls)
        .await
        .expect_err("a fresh simulator has no deals");
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Permanent, ErrorCategory::NotFound),
        "{err}"
    );

    let order = SalesOrder {
        r#ref: Some(RecordRef {
            system: "conformance-erp".into(),
            object_type: "salesOrder".into(),
            id: "4242".into(),
        }),
        order_number: "SO-CONF-1".into(),
        ..SalesOrder::default()
    };
    // Writing back onto a deal that does not exist never creates one.
    let err = deals
        .write_back_order(F::DEAL_ID, &order, &calls)
        .await
        .expect_err("no deal to write back onto");
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Permanent, ErrorCategory::NotFound),
        "{err}"
    );
    let err = deals
        .fetch_deal(F::DEAL_ID, &calls)
        .await
        .expect_err("still no deal");
    assert_eq!(err.category, ErrorCategory::NotFound, "{err}");

    let seeded = &WON_DEAL;
    let id = fixture.seed_won_deal(&subject.sim.url, seeded).await;
    let deal = deals.fetch_deal(&id, &calls).await.expect("fetch deal");
    assert_eq!(
        deal.r#ref,
        Some(RecordRef {
            system: F::VENDOR.into(),
            object_type: "deal".into(),
            id: id.clone(),
        })
    );
    assert_eq!(deal.name, seeded.name);
    let lines: Vec<_> = deal
        .line_items
        .iter()
        .map(|line| {
            (
                line.sku.as_str(),
                line.quantity.as_str(),
                line.unit_price
                    .as_ref()
                    .map(|p| (p.currency_code.as_str(), p.amount.as_str())),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [(
            seeded.sku,
            seeded.quantity,
            Some((seeded.currency, seeded.unit_price))
        )],
        "{deal:?}"
    );
    assert_eq!(
        deal.account.as_ref().map(|a| a.name.as_str()),
        Some(seeded.account),
        "{deal:?}"
    );
    // No address on the deal itself: every CRM ships to the account's.
    let shipping = deal.shipping_address.as_ref().expect("a shipping address");
    assert_eq!(
        (
            shipping.line1.as_str(),
            shipping.city.as_str(),
            shipping.postal_code.as_str(),
            shipping.country_code.as_str()
        ),
        (
            seeded.street,
            seeded.city,
            seeded.postal_code,
            seeded.country_code
        ),
        "{deal:?}"
    );
    assert_eq!(deal.erp_order_number, "", "not written back yet");

    deals
        .write_back_order(&id, &order, &calls)
        .await
        .expect("write back");
    deals
        .write_back_order(&id, &order, &calls)
        .await
        .expect("a repeated write-back succeeds");
    assert_eq!(
        fixture.order_number_on_deal(&subject.sim.url, &id).await,
        "SO-CONF-1",
        "the CRM shows the order number"
    );
    assert_eq!(
        deals
            .fetch_deal(&id, &calls)
            .await
            .expect("fetch deal")
            .erp_order_number,
        "SO-CONF-1"
    );

    deals
        .flag_sync_error(
            &id,
            "Conformance: SKU CONF-SKU-9 is unknown to the ERP",
            &calls,
        )
        .await
        .expect("flag sync error");
}

/// Moves `order` (by number) one fulfilment step on through the sandbox's
/// shared control endpoint, as the ERP's warehouse would.
async fn fulfil(sim: &Simulator, order_number: &str, step: Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/__sandbox/orders/{order_number}/fulfilment",
            sim.url
        ))
        .json(&step)
        .send()
        .await
        .expect("fulfilment request");
    assert!(response.status().is_success(), "fulfilment step {step}");
}

/// Reads `order`'s status, checks it is `expected` and names the order.
async fn expect_status(
    statuses: &dyn crate::OrderStatusSource,
    order: &crmerp_proto::SalesOrder,
    calls: &CallLog,
    expected: OrderStatus,
) -> crmerp_proto::OrderStatusChanged {
    let order_ref = order.r#ref.clone().expect("an order has a reference");
    let now = statuses
        .order_status(&order_ref, calls)
        .await
        .expect("status read")
        .expect("the order exists");
    assert_eq!(now.status(), expected, "{now:?}");
    assert_eq!(now.order_number, order.order_number);
    assert_eq!(now.order.as_ref(), Some(&order_ref));
    assert!(now.changed_at.is_some(), "the ERP's change time: {now:?}");
    now
}

/// An order's status follows the warehouse: received, picking, packed,
/// dispatched with carrier and tracking number, delivered; an unknown order
/// is `None`, not an error.
pub(crate) async fn order_status_source<F: Fixture>(fixture: &F) {
    let subject = start(fixture).await;
    let statuses = subject
        .ports
        .order_status_source("conformance")
        .expect("declares order status source");
    let customers = subject
        .ports
        .customer_master("conformance")
        .expect("an order status source also takes orders (customer master)");
    let orders = subject
        .ports
        .order_sink("conformance")
        .expect("an order status source also takes orders (order sink)");
    fixture.seed_item(&subject.sim.url, "CONF-1").await;
    let calls = CallLog::new();
    let customer = customers
        .create_customer(&account("4711"), &calls)
        .await
        .expect("customer");
    let deal = deal("99", "CONF-1");
    let order = orders
        .create_order(
            &OrderRequest {
                external_ref: "hubspot-deal-99",
                customer: &customer,
                deal: &deal,
            },
            &calls,
        )
        .await
        .expect("order");
    let order_ref = order.r#ref.clone().expect("an order has a reference");
    expect_status(&*statuses, &order, &calls, OrderStatus::Received).await;
    fulfil(
        &subject.sim,
        &order.order_number,
        json!({"status": "picking"}),
    )
    .await;
    expect_status(&*statuses, &order, &calls, OrderStatus::Picking).await;
    fulfil(
        &subject.sim,
        &order.order_number,
        json!({"status": "packed"}),
    )
    .await;
    expect_status(&*statuses, &order, &calls, OrderStatus::Packed).await;
    fulfil(
        &subject.sim,
        &order.order_number,
        json!({"status": "dispatched", "carrier": "DHL", "tracking_number": "JD014600003"}),
    )
    .await;
    let dispatched = expect_status(&*statuses, &order, &calls, OrderStatus::Dispatched).await;
    let shipment = dispatched
        .shipments
        .first()
        .expect("a shipment once dispatched");
    assert_eq!(
        (shipment.carrier.as_str(), shipment.tracking_number.as_str()),
        ("DHL", "JD014600003")
    );
    assert!(shipment.delivered_at.is_none(), "{shipment:?}");
    fulfil(
        &subject.sim,
        &order.order_number,
        json!({"status": "delivered"}),
    )
    .await;
    let delivered = expect_status(&*statuses, &order, &calls, OrderStatus::Delivered).await;
    assert!(
        delivered.shipments.iter().all(|s| s.delivered_at.is_some()),
        "{delivered:?}"
    );

    let unknown = RecordRef {
        id: F::ORDER_ID.into(),
        ..order_ref.clone()
    };
    assert_eq!(
        statuses.order_status(&unknown, &calls).await.expect("read"),
        None,
        "an unknown order is None"
    );
}

/// One test per suite for a vendor's [`Fixture`]: the whole opt-in.
macro_rules! conformance_tests {
    ($fixture:expr => $($suite:ident),+ $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $suite() {
                    crate::conformance::$suite(&$fixture).await;
                }
            )+
        }
    };
}
pub(crate) use conformance_tests;

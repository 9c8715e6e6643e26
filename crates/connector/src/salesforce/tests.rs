//! The connector against the sandbox's Salesforce simulator, served in-process
//! on 127.0.0.1: both OAuth flows, composite hydration with pagination,
//! write-back, the sync-error Task, session refresh and the API allowance.

use std::time::Duration;

use crmerp_proto::SalesOrder;
use crmerp_sandbox::{
    DEV_SALESFORCE_CLIENT_ID, DEV_SALESFORCE_CLIENT_SECRET, DEV_SALESFORCE_USERNAME, SandboxConfig,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::http_client::{HttpTimeouts, build_client};

const DEV_KEY: &str = include_str!("../../../../config/dev-keys/salesforce-jwt-dev-private.pem");

struct Org {
    base: String,
    http: reqwest::Client,
    token: String,
    _shutdown: tokio_util::sync::DropGuard,
}

impl Org {
    async fn start(page_size: usize, daily_api_limit: u64) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = SandboxConfig::default();
        config.salesforce.page_size = page_size;
        config.salesforce.daily_api_limit = daily_api_limit;
        let shutdown = CancellationToken::new();
        tokio::spawn(crmerp_sandbox::serve(
            config,
            vec![("salesforce", listener)],
            shutdown.clone(),
        ));
        Self::attach(&base, shutdown.drop_guard()).await
    }

    /// A client of the org at `base` with a session of its own; dropping it
    /// drops `shutdown`.
    async fn attach(base: &str, shutdown: tokio_util::sync::DropGuard) -> Self {
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!("{base}/services/oauth2/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=client_credentials&client_id={DEV_SALESFORCE_CLIENT_ID}&client_secret={DEV_SALESFORCE_CLIENT_SECRET}"))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let token = token["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        Self {
            base: base.to_owned(),
            http,
            token,
            _shutdown: shutdown,
        }
    }

    async fn create(&self, object: &str, fields: Value) -> String {
        let response: Value = self
            .http
            .post(format!(
                "{}/services/data/v62.0/sobjects/{object}",
                self.base
            ))
            .bearer_auth(&self.token)
            .json(&fields)
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        response["id"]
            .as_str()
            .unwrap_or_else(|| panic!("created {object}: {response}"))
            .to_owned()
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/services/data/v62.0/{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    /// An account with a shipping address, an opportunity and three lines.
    async fn seed(&self) -> String {
        let account = self.create("Account", json!({"Name": "Acme GmbH", "ShippingStreet": "Lagerstrasse 7", "ShippingCity": "Hamburg", "ShippingPostalCode": "20095", "ShippingCountry": "DE"})).await;
        let opp = self.create("Opportunity", json!({"Name": "Acme 3 lines", "StageName": "Closed Won", "CloseDate": "2026-11-20", "AccountId": account, "CurrencyIsoCode": "EUR"})).await;
        for (i, (sku, qty, price)) in [
            ("SKU-1", 2.0, 10.0),
            ("SKU-2", 1.0, 5.5),
            ("SKU-3", 3.0, 1.0),
        ]
        .into_iter()
        .enumerate()
        {
            let product = self
                .create(
                    "Product2",
                    json!({"Name": format!("Product {sku}"), "ProductCode": sku}),
                )
                .await;
            self.create("OpportunityLineItem", json!({"OpportunityId": opp, "Product2Id": product, "Quantity": qty, "UnitPrice": price, "SortOrder": i + 1})).await;
        }
        opp
    }

    fn connector(&self, flow: AuthFlow) -> SalesforceCrm {
        let config = SalesforceConfig {
            login_url: self.base.clone(),
            auth_flow: flow,
            client_id: DEV_SALESFORCE_CLIENT_ID.into(),
            client_secret: DEV_SALESFORCE_CLIENT_SECRET.into(),
            username: DEV_SALESFORCE_USERNAME.into(),
            private_key: DEV_KEY.into(),
            deal_to_order: DealToOrderFields {
                currency_field: "CurrencyIsoCode".into(),
                ..DealToOrderFields::default()
            },
            ..SalesforceConfig::default()
        };
        SalesforceCrm::new(
            config,
            build_client(&HttpTimeouts::default()).expect("client"),
        )
        .expect("valid")
    }
}

/// Issue 11: client credentials only on the My Domain host; the JWT audience
/// is the login host, never a My Domain URL. The simulator answers as the
/// generic login host at `localhost` and as the org's My Domain at 127.0.0.1.
#[tokio::test]
async fn the_simulator_refuses_client_credentials_on_the_login_host_and_my_domain_audiences() {
    let org = Org::start(200, 1_000_000).await;
    let opp = org.seed().await;
    let login_host = org.base.replace("127.0.0.1", "localhost");
    let at = |flow: AuthFlow, login_url: &str, audience: Option<String>| {
        let mut config = org.connector(flow).config;
        config.login_url = login_url.to_owned();
        config.audience = audience;
        SalesforceCrm::new(config, reqwest::Client::new()).expect("valid")
    };
    let err = at(AuthFlow::ClientCredentials, &login_host, None)
        .fetch_deal(&opp, &CallLog::new())
        .await
        .expect_err("no client credentials on the generic login host");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(
        err.to_string().contains("not supported on this domain"),
        "{err}"
    );
    // The My Domain host grants them.
    at(AuthFlow::ClientCredentials, &org.base, None)
        .fetch_deal(&opp, &CallLog::new())
        .await
        .expect("granted on My Domain");
    // JWT bearer works on either host with the login host as audience...
    for login_url in [&login_host, &org.base] {
        at(AuthFlow::JwtBearer, login_url, None)
            .fetch_deal(&opp, &CallLog::new())
            .await
            .expect("JWT with aud = https://login.salesforce.com");
    }
    // ... and never with the org's My Domain as audience.
    let err = at(AuthFlow::JwtBearer, &org.base, Some(org.base.clone()))
        .fetch_deal(&opp, &CallLog::new())
        .await
        .expect_err("a My Domain audience is refused");
    assert!(err.to_string().contains("audience is invalid"), "{err}");
}

#[test]
fn start_up_refuses_client_credentials_on_the_generic_login_host() {
    let config = |login_url: &str| SalesforceConfig {
        login_url: login_url.into(),
        client_id: DEV_SALESFORCE_CLIENT_ID.into(),
        client_secret: DEV_SALESFORCE_CLIENT_SECRET.into(),
        ..SalesforceConfig::default()
    };
    for generic in [
        "https://login.salesforce.com",
        "https://test.salesforce.com/",
    ] {
        let err = config(generic).validate().expect_err("refused");
        assert!(
            matches!(&err, ConfigError::Invalid { key, reason } if key == "crm.salesforce.login_url" && reason.contains("My Domain")),
            "{err}"
        );
    }
    config("https://acme.my.salesforce.com")
        .validate()
        .expect("My Domain grants client credentials");
    let jwt = |login_url: &str, audience: Option<&str>| SalesforceConfig {
        auth_flow: AuthFlow::JwtBearer,
        username: DEV_SALESFORCE_USERNAME.into(),
        private_key: DEV_KEY.into(),
        audience: audience.map(str::to_owned),
        ..config(login_url)
    };
    let err = jwt(
        "https://acme.my.salesforce.com",
        Some("https://acme.my.salesforce.com"),
    )
    .validate()
    .expect_err("a My Domain audience");
    assert!(
        matches!(&err, ConfigError::Invalid { key, .. } if key == "crm.salesforce.audience"),
        "{err}"
    );
    for (login_url, audience) in [
        (
            "https://acme.my.salesforce.com",
            "https://login.salesforce.com",
        ),
        (
            "https://acme--uat.sandbox.my.salesforce.com",
            "https://test.salesforce.com",
        ),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        (
            "https://login.salesforce.com",
            "https://login.salesforce.com",
        ),
    ] {
        let cfg = jwt(login_url, None);
        cfg.validate().expect("valid");
        assert_eq!(cfg.jwt_audience(), audience, "{login_url}");
    }
    let site = jwt(
        "https://acme.my.site.com",
        Some("https://acme.my.site.com/"),
    );
    site.validate().expect("an Experience Cloud site");
    assert_eq!(site.jwt_audience(), "https://acme.my.site.com");
}

#[tokio::test]
async fn hydrates_writes_back_and_flags_with_either_flow() {
    let org = Org::start(2, 1_000_000).await;
    let opp = org.seed().await;
    for flow in [AuthFlow::JwtBearer, AuthFlow::ClientCredentials] {
        let crm = org.connector(flow);
        let calls = CallLog::new();
        let deal = crm.fetch_deal(&opp, &calls).await.expect("hydrated");
        let skus: Vec<_> = deal.line_items.iter().map(|l| l.sku.as_str()).collect();
        assert_eq!(
            skus,
            ["SKU-1", "SKU-2", "SKU-3"],
            "{flow:?}: every page followed, in order"
        );
        assert_eq!(
            deal.amount
                .as_ref()
                .map(|m| (m.currency_code.as_str(), m.amount.as_str())),
            Some(("EUR", "28.5"))
        );
        assert_eq!(
            deal.shipping_address.as_ref().map(|a| a.city.as_str()),
            Some("Hamburg")
        );
        assert_eq!(
            deal.account.as_ref().map(|a| a.name.as_str()),
            Some("Acme GmbH")
        );
        let endpoints: Vec<String> = calls.snapshot().into_iter().map(|c| c.endpoint).collect();
        assert_eq!(
            endpoints
                .iter()
                .filter(|e| e.as_str() == auth::ENDPOINT_TOKEN.label())
                .count(),
            1
        );
        assert!(
            endpoints.iter().any(|e| e == ENDPOINT_NEXT_LINES.label()),
            "{endpoints:?}"
        );
    }

    let crm = org.connector(AuthFlow::JwtBearer);
    let calls = CallLog::new();
    let order = SalesOrder {
        order_number: "SO-1001".into(),
        ..SalesOrder::default()
    };
    crm.write_back_order(&opp, &order, &calls)
        .await
        .expect("written");
    crm.write_back_order(&opp, &order, &calls)
        .await
        .expect("idempotent");
    let record = org
        .get(&format!(
            "sobjects/Opportunity/{opp}?fields=ERP_Order_Number__c,ERP_Sync_Status__c"
        ))
        .await;
    assert_eq!(record["ERP_Order_Number__c"], "SO-1001");
    assert_eq!(record["ERP_Sync_Status__c"], "synced");

    // A retry flags the same reason again: still one task.
    for _ in 0..2 {
        crm.flag_sync_error(&opp, "SKU-9 is unknown to the ERP", &calls)
            .await
            .expect("flagged");
    }
    let state: Value = org
        .http
        .get(format!("{}/__sandbox/state", org.base))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let tasks: Vec<&Value> = state["records"]["Task"]
        .as_object()
        .map(|t| t.values().collect())
        .unwrap_or_default();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["WhatId"], opp.as_str());
    assert_eq!(tasks[0]["Description"], "SKU-9 is unknown to the ERP");
    crm.flag_sync_error(&opp, "credit limit", &calls)
        .await
        .expect("another reason, another task");
    let related = org
        .get(&format!(
            "sobjects/Opportunity/{opp}/Tasks?fields=Description"
        ))
        .await;
    assert_eq!(related["totalSize"], 2, "{related}");
    crm.probe().await.expect("probe");
}

#[tokio::test]
async fn a_revoked_session_is_renewed_once_and_bad_credentials_are_auth_errors() {
    let org = Org::start(200, 1_000_000).await;
    let opp = org.seed().await;
    let crm = org.connector(AuthFlow::JwtBearer);
    crm.fetch_deal(&opp, &CallLog::new()).await.expect("first");
    // Resetting the org ends every session (and the records).
    org.http
        .post(format!("{}/__sandbox/reset", org.base))
        .send()
        .await
        .expect("reset");
    let calls = CallLog::new();
    let err = crm.fetch_deal(&opp, &calls).await.expect_err("record gone");
    assert_eq!(err.category, ErrorCategory::NotFound, "{err}");
    let tokens = calls
        .snapshot()
        .into_iter()
        .filter(|c| c.endpoint == auth::ENDPOINT_TOKEN.label())
        .count();
    assert_eq!(tokens, 1, "one new session after the 401");

    // The token grant holds the settings it was built with: build one with a wrong secret.
    let mut config = org.connector(AuthFlow::ClientCredentials).config;
    config.client_secret = "wrong".into();
    let wrong = SalesforceCrm::new(
        config,
        build_client(&HttpTimeouts::default()).expect("client"),
    )
    .expect("valid");
    let err = wrong
        .fetch_deal(&opp, &CallLog::new())
        .await
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(check_id("006'; DROP--xxxx", "x").is_err());
}

#[tokio::test]
async fn a_spent_api_allowance_is_transient_and_holds_calls_back() {
    let org = Org::start(200, 8).await;
    let opp = org.seed().await;
    let crm = org.connector(AuthFlow::ClientCredentials);
    let err = crm
        .fetch_deal(&opp, &CallLog::new())
        .await
        .expect_err("limit");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_eq!(err.category, ErrorCategory::RateLimited);
    assert_eq!(err.http_status, 403);
    let calls = CallLog::new();
    let again = crm.fetch_deal(&opp, &calls).await.expect_err("held back");
    assert!(
        again
            .retry_after
            .is_some_and(|d| d > Duration::from_secs(60))
    );
    assert!(
        calls.snapshot().is_empty(),
        "no call while the allowance is spent"
    );
}

struct Fixture;

#[async_trait]
impl crate::conformance::Fixture for Fixture {
    const VENDOR: &'static str = SYSTEM;
    const ROLE: Role = Role::Crm;
    const SECRET: &'static str = "/client_secret";
    const API_URL_KEY: Option<&'static str> = None;
    /// Well-formed (opportunity prefix, case checksum), never issued by a fresh org.
    const DEAL_ID: &'static str = "0065g0000099999AAA";

    async fn seed_won_deal(&self, url: &str, deal: &crate::conformance::WonDeal) -> String {
        // The suite owns the simulator: this client's guard stops nothing.
        let org = Org::attach(url, CancellationToken::new().drop_guard()).await;
        let account = org
            .create(
                "Account",
                json!({"Name": deal.account, "BillingStreet": deal.street, "BillingCity": deal.city,
                       "BillingPostalCode": deal.postal_code, "BillingCountry": deal.country_code}),
            )
            .await;
        let opp = org
            .create(
                "Opportunity",
                json!({"Name": deal.name, "StageName": "Closed Won", "CloseDate": "2026-11-20",
                       "AccountId": account, "CurrencyIsoCode": deal.currency}),
            )
            .await;
        let product = org
            .create(
                "Product2",
                json!({"Name": deal.product, "ProductCode": deal.sku}),
            )
            .await;
        let number = |text: &str| text.parse::<f64>().expect("a decimal");
        org.create(
            "OpportunityLineItem",
            json!({"OpportunityId": opp, "Product2Id": product, "Quantity": number(deal.quantity),
                   "UnitPrice": number(deal.unit_price), "SortOrder": 1}),
        )
        .await;
        opp
    }

    async fn order_number_on_deal(&self, url: &str, deal_id: &str) -> String {
        let fields: DealToOrderFields = crate::conformance::dev_fields(crate::Role::Crm, SYSTEM);
        let field = fields.write_back_field;
        let record = Org::attach(url, CancellationToken::new().drop_guard())
            .await
            .get(&format!("sobjects/Opportunity/{deal_id}?fields={field}"))
            .await;
        record[&field].as_str().unwrap_or_default().to_owned()
    }
}

crate::conformance::conformance_tests!(Fixture => system, bounded_body, deal_source);

/// Fulfilment on the opportunity: completed Tasks as timeline entries, an
/// open Task for the account's owner, and the fulfilment fields.
mod fulfilment {
    use crmerp_proto::OrderStatus;

    use super::*;
    use crate::crm_fulfilment::fixtures::{activity, at, task};
    use crate::ports::{ActivityTimeline, DealFulfilment, FollowUpTasks, FulfilmentUpdate};

    impl Org {
        async fn tasks(&self, opp: &str) -> Vec<Value> {
            let list = self
                .get(&format!(
                    "sobjects/Opportunity/{opp}/Tasks?fields=Id,Subject,Description,Status,IsClosed,ActivityDate,AccountId,OwnerId,Priority,CrmErp_Key__c"
                ))
                .await;
            list["records"].as_array().cloned().unwrap_or_default()
        }

        async fn patch(&self, object: &str, id: &str, fields: Value) {
            let response = self
                .http
                .patch(format!(
                    "{}/services/data/v62.0/sobjects/{object}/{id}",
                    self.base
                ))
                .bearer_auth(&self.token)
                .json(&fields)
                .send()
                .await
                .expect("patch");
            assert_eq!(response.status(), 204, "{object} {id} updated");
        }

        async fn user(&self, last_name: &str) -> String {
            self.create(
                "User",
                json!({"LastName": last_name, "Username": format!("{last_name}@acme.example"), "Email": format!("{last_name}@acme.example")}),
            )
            .await
        }
    }

    #[tokio::test]
    async fn timeline_entries_are_completed_tasks_on_the_opportunity_and_its_account_once_per_key()
    {
        let org = Org::start(200, 1_000_000).await;
        let opp = org.seed().await;
        let account = org
            .get(&format!("sobjects/Opportunity/{opp}?fields=AccountId"))
            .await["AccountId"]
            .as_str()
            .expect("account")
            .to_owned();
        let crm = org.connector(AuthFlow::ClientCredentials);
        let calls = CallLog::new();
        let packed = activity(
            &opp,
            "netsuite-salesOrder-77-packed-e1",
            "2026-12-01T08:00:00Z",
        );
        let first = crm.record_activity(&packed, &calls).await.expect("written");
        let again = crm.record_activity(&packed, &calls).await.expect("found");
        assert_eq!(first, again, "the same key is the same Task");
        assert_eq!(
            (first.system.as_str(), first.object_type.as_str()),
            ("salesforce", "Task")
        );
        let dispatched = activity(
            &opp,
            "netsuite-salesOrder-77-dispatched-e2",
            "2026-12-02T14:30:05Z",
        );
        crm.record_activity(&dispatched, &calls)
            .await
            .expect("written");

        let tasks = org.tasks(&opp).await;
        assert_eq!(tasks.len(), 2, "{tasks:?}");
        let entry = tasks
            .iter()
            .find(|t| t["CrmErp_Key__c"] == "netsuite-salesOrder-77-dispatched-e2")
            .expect("dispatched entry");
        assert_eq!(entry["Status"], "Completed");
        assert_eq!(entry["IsClosed"], true);
        assert_eq!(entry["ActivityDate"], "2026-12-02", "the ERP's date");
        assert_eq!(entry["AccountId"], json!(account), "on the account too");
        assert_eq!(
            entry["Subject"],
            "Order SO-1042: netsuite-salesOrder-77-dispatched-e2"
        );
        let description = entry["Description"].as_str().unwrap_or_default();
        assert!(
            description.contains("Tracking 00340434")
                && description.contains("2026-12-02T14:30:05Z"),
            "{description}"
        );

        let err = crm
            .record_activity(&activity("not-an-id", "k", "2026-12-01T08:00:00Z"), &calls)
            .await
            .expect_err("a bad id never reaches a URL");
        assert_eq!(err.category, ErrorCategory::Validation);
    }

    #[tokio::test]
    async fn the_csm_task_goes_to_the_active_account_owner_else_the_opportunity_owner() {
        let org = Org::start(200, 1_000_000).await;
        let opp = org.seed().await;
        let account = org
            .get(&format!("sobjects/Opportunity/{opp}?fields=AccountId"))
            .await["AccountId"]
            .as_str()
            .expect("account")
            .to_owned();
        let csm = org.user("Csm").await;
        let rep = org.user("Rep").await;
        org.patch("Account", &account, json!({"OwnerId": csm}))
            .await;
        org.patch("Opportunity", &opp, json!({"OwnerId": rep}))
            .await;
        let crm = org.connector(AuthFlow::ClientCredentials);
        let calls = CallLog::new();

        let first = crm
            .create_task(&task(&opp, "exception-1"), &calls)
            .await
            .expect("created");
        let again = crm
            .create_task(&task(&opp, "exception-1"), &calls)
            .await
            .expect("found");
        assert_eq!(first, again, "one task per key");
        let tasks = org.tasks(&opp).await;
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(tasks[0]["OwnerId"], json!(csm), "the account's owner");
        assert_eq!(tasks[0]["Status"], "Not Started");
        assert_eq!(tasks[0]["IsClosed"], false);
        assert_eq!(tasks[0]["Priority"], "High");
        assert_eq!(tasks[0]["ActivityDate"], "2026-12-07");

        // An inactive account owner cannot be assigned: the opportunity's owner is.
        org.patch("User", &csm, json!({"IsActive": false})).await;
        crm.create_task(&task(&opp, "exception-2"), &calls)
            .await
            .expect("created");
        let tasks = org.tasks(&opp).await;
        let second = tasks
            .iter()
            .find(|t| t["CrmErp_Key__c"] == "exception-2")
            .expect("second task");
        assert_eq!(second["OwnerId"], json!(rep), "the opportunity's owner");

        // An opportunity without an account: its owner.
        org.patch("Opportunity", &opp, json!({"AccountId": null}))
            .await;
        crm.create_task(&task(&opp, "exception-3"), &calls)
            .await
            .expect("created");
        let tasks = org.tasks(&opp).await;
        let third = tasks
            .iter()
            .find(|t| t["CrmErp_Key__c"] == "exception-3")
            .expect("third task");
        assert_eq!(third["OwnerId"], json!(rep));
    }

    #[tokio::test]
    async fn fulfilment_fields_are_written_to_the_opportunity_and_rewriting_changes_nothing() {
        let org = Org::start(200, 1_000_000).await;
        let opp = org.seed().await;
        let crm = org.connector(AuthFlow::ClientCredentials);
        let calls = CallLog::new();
        let dispatched = FulfilmentUpdate {
            status: OrderStatus::Dispatched,
            order_number: "SO-1042".into(),
            carrier: Some("DHL".into()),
            tracking_number: Some("00340434".into()),
            tracking_url: Some("https://www.dhl.com/track?id=00340434".into()),
            delivered_at: None,
        };
        crm.write_fulfilment(&opp, &dispatched, &calls)
            .await
            .expect("written");
        let fields =
            "Fulfilment_Status__c,Carrier__c,Tracking_Number__c,Tracking_URL__c,Delivered_At__c";
        let path = format!("sobjects/Opportunity/{opp}?fields={fields}");
        let read = || org.get(&path);
        let after = read().await;
        assert_eq!(after["Fulfilment_Status__c"], "dispatched");
        assert_eq!(after["Carrier__c"], "DHL");
        assert_eq!(after["Tracking_Number__c"], "00340434");
        assert_eq!(
            after["Tracking_URL__c"],
            "https://www.dhl.com/track?id=00340434"
        );
        assert_eq!(after["Delivered_At__c"], Value::Null);
        crm.write_fulfilment(&opp, &dispatched, &calls)
            .await
            .expect("rewritten");
        assert_eq!(read().await, after, "idempotent");

        let delivered = FulfilmentUpdate {
            status: OrderStatus::Delivered,
            carrier: None,
            tracking_number: None,
            tracking_url: None,
            delivered_at: Some(at("2026-12-04T11:02:00Z")),
            ..dispatched
        };
        crm.write_fulfilment(&opp, &delivered, &calls)
            .await
            .expect("written");
        let after = read().await;
        assert_eq!(after["Fulfilment_Status__c"], "delivered");
        assert_eq!(after["Carrier__c"], "DHL", "kept when the update has none");
        assert_eq!(after["Delivered_At__c"], "2026-12-04T11:02:00.000Z");
    }

    #[test]
    fn the_registry_reads_the_flow_section_and_refuses_bad_names() {
        use crate::field_maps::FlowMaps;
        use crate::registry::{FULFILMENT_SYNC, build_crm};
        let section =
            crate::conformance::dev_section(crate::Role::Crm, SYSTEM, "http://127.0.0.1:1");
        let maps = FlowMaps::new().with(
            FULFILMENT_SYNC,
            Some(json!({"crm": {"salesforce": {"carrier_field": "Shipping Carrier"}}})),
        );
        let err = build_crm(SYSTEM, Some(section.clone()), &maps).expect_err("bad name");
        assert!(
            err.to_string()
                .contains("fulfilment_sync.crm.salesforce.carrier_field"),
            "{err}"
        );
        let maps = FlowMaps::new().with(
            FULFILMENT_SYNC,
            Some(json!({"crm": {"salesforce": {"status_feild": "X__c"}}})),
        );
        assert!(
            build_crm(SYSTEM, Some(section.clone()), &maps).is_err(),
            "unknown key"
        );
        let ports = build_crm(SYSTEM, Some(section), &FlowMaps::new()).expect("defaults");
        for capability in [
            crate::Capability::ActivityTimeline,
            crate::Capability::FollowUpTasks,
            crate::Capability::DealFulfilment,
        ] {
            assert!(ports.has(capability), "{capability}");
        }
    }
}

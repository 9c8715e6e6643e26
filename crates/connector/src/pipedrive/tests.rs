//! The connector against the sandbox's Pipedrive simulator, served in-process:
//! API token and OAuth, deal-product paging, write-back, note and activity.

use crmerp_proto::SalesOrder;
use crmerp_sandbox::{
    DEV_PIPEDRIVE_API_TOKEN, DEV_PIPEDRIVE_CLIENT_ID, DEV_PIPEDRIVE_CLIENT_SECRET,
    DEV_PIPEDRIVE_ORDER_FIELD, DEV_PIPEDRIVE_REFRESH_TOKEN, DEV_PIPEDRIVE_STATUS_FIELD,
    SandboxConfig,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::http_client::{HttpTimeouts, build_client};

struct Company {
    base: String,
    http: reqwest::Client,
    _shutdown: tokio_util::sync::DropGuard,
}

impl Company {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        tokio::spawn(crmerp_sandbox::serve(
            SandboxConfig::default(),
            vec![("pipedrive", listener)],
            shutdown.clone(),
        ));
        Self::attach(&base, shutdown.drop_guard())
    }

    /// A client of the company at `base`; dropping it drops `shutdown`.
    fn attach(base: &str, shutdown: tokio_util::sync::DropGuard) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::new(),
            _shutdown: shutdown,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response: Value = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-api-token", DEV_PIPEDRIVE_API_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("post")
            .json()
            .await
            .expect("json");
        assert_eq!(response["success"], true, "{path}: {response}");
        response["data"].clone()
    }

    async fn get(&self, path: &str) -> Value {
        let response: Value = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-api-token", DEV_PIPEDRIVE_API_TOKEN)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        response["data"].clone()
    }

    /// A deal with an organization, a person and 600 attached products (two pages).
    async fn seed(&self) -> String {
        let org = self.post("/api/v2/organizations", json!({"name": "Acme GmbH", "address": {"route": "Lagerstrasse", "street_number": "7", "locality": "Hamburg", "postal_code": "20095", "country": "DE"}})).await;
        let person = self
            .post(
                "/api/v2/persons",
                json!({"name": "Ann", "emails": [{"value": "ann@acme.example", "primary": true}]}),
            )
            .await;
        let deal = self.post("/api/v2/deals", json!({"title": "Big", "currency": "EUR", "org_id": org["id"], "person_id": person["id"]})).await;
        let product = self
            .post(
                "/api/v2/products",
                json!({"name": "Widget", "code": "SKU-100"}),
            )
            .await;
        for _ in 0..600 {
            self.post(
                &format!("/api/v2/deals/{}/products", deal["id"]),
                json!({"product_id": product["id"], "item_price": 1.5, "quantity": 2}),
            )
            .await;
        }
        deal["id"].to_string()
    }

    fn connector(&self, oauth: bool) -> PipedriveCrm {
        let mut config = PipedriveConfig {
            base_url: self.base.clone(),
            deal_to_order: DealToOrderFields {
                write_back_field: DEV_PIPEDRIVE_ORDER_FIELD.into(),
                sync_status_field: DEV_PIPEDRIVE_STATUS_FIELD.into(),
                ..DealToOrderFields::default()
            },
            ..PipedriveConfig::default()
        };
        if oauth {
            config.oauth = Some(PipedriveOAuth {
                token_url: format!("{}/oauth/token", self.base),
                client_id: DEV_PIPEDRIVE_CLIENT_ID.into(),
                client_secret: DEV_PIPEDRIVE_CLIENT_SECRET.into(),
                refresh_token: DEV_PIPEDRIVE_REFRESH_TOKEN.into(),
            });
        } else {
            config.api_token = DEV_PIPEDRIVE_API_TOKEN.into();
        }
        PipedriveCrm::new(
            config,
            build_client(&HttpTimeouts::default()).expect("client"),
        )
        .expect("valid")
    }
}

#[tokio::test]
async fn hydrates_every_page_writes_back_and_flags_with_token_or_oauth() {
    let company = Company::start().await;
    let deal_id = company.seed().await;
    for oauth in [false, true] {
        let crm = company.connector(oauth);
        let calls = CallLog::new();
        let deal = crm.fetch_deal(&deal_id, &calls).await.expect("hydrated");
        assert_eq!(deal.line_items.len(), 600, "oauth={oauth}: both pages");
        assert_eq!(deal.line_items[0].sku, "SKU-100");
        assert_eq!(deal.amount.map(|m| m.amount), Some("1800".to_owned()));
        assert_eq!(
            deal.account.map(|a| a.email),
            Some("ann@acme.example".to_owned())
        );
        assert_eq!(
            deal.shipping_address.map(|a| a.line1),
            Some("Lagerstrasse 7".to_owned())
        );
        let tokens = calls
            .snapshot()
            .iter()
            .filter(|c| c.endpoint == ENDPOINT_TOKEN.label())
            .count();
        assert_eq!(tokens, usize::from(oauth));
    }
    let crm = company.connector(true);
    let calls = CallLog::new();
    crm.write_back_order(
        &deal_id,
        &SalesOrder {
            order_number: "SO-7".into(),
            ..SalesOrder::default()
        },
        &calls,
    )
    .await
    .expect("written");
    let deal = company.get(&format!("/api/v2/deals/{deal_id}")).await;
    assert_eq!(deal["custom_fields"][DEV_PIPEDRIVE_ORDER_FIELD], "SO-7");
    // A retry flags the same reason again: still one note and one to-do.
    for _ in 0..2 {
        crm.flag_sync_error(&deal_id, "SKU <9> unknown", &calls)
            .await
            .expect("flagged");
    }
    let notes = company
        .get(&format!("/api/v1/notes?deal_id={deal_id}"))
        .await;
    assert_eq!(
        notes[0]["content"],
        "ERP sync failed: SKU &lt;9&gt; unknown"
    );
    assert_eq!(notes.as_array().map(Vec::len), Some(1), "{notes}");
    let activities = company
        .get(&format!("/api/v2/activities?deal_id={deal_id}"))
        .await;
    assert_eq!(activities[0]["type"], "task");
    assert_eq!(activities.as_array().map(Vec::len), Some(1), "{activities}");
    // Another reason is another flag.
    crm.flag_sync_error(&deal_id, "credit limit", &calls)
        .await
        .expect("flagged");
    let notes = company
        .get(&format!("/api/v1/notes?deal_id={deal_id}"))
        .await;
    assert_eq!(notes.as_array().map(Vec::len), Some(2), "{notes}");
    crm.probe().await.expect("probe");
}

/// Issue 11: the order carries what was sold, not the list price of every attached product.
#[tokio::test]
async fn discounts_taxes_and_disabled_products_become_net_unit_prices() {
    let company = Company::start().await;
    let org = company
        .post(
            "/api/v2/organizations",
            json!({"name": "Acme GmbH", "address": {"route": "Lagerstrasse", "street_number": "7", "locality": "Hamburg", "country": "DE"}}),
        )
        .await;
    let deal = company
        .post(
            "/api/v2/deals",
            json!({"title": "Discounted", "currency": "EUR", "org_id": org["id"]}),
        )
        .await;
    let product = company
        .post(
            "/api/v2/products",
            json!({"name": "Widget", "code": "SKU-100"}),
        )
        .await;
    let path = format!("/api/v2/deals/{}/products", deal["id"]);
    let lines = [
        // 10 % off the line: 2 x 100 -> 180.
        json!({"product_id": product["id"], "item_price": 100, "quantity": 2, "discount": 10, "discount_type": "percentage"}),
        // 30 off the line: 3 x 50 -> 120.
        json!({"product_id": product["id"], "item_price": 50, "quantity": 3, "discount": 30, "discount_type": "amount", "tax_method": "none"}),
        // A price with 19 % tax in it: 100 before tax.
        json!({"product_id": product["id"], "item_price": 119, "quantity": 1, "tax": 19, "tax_method": "inclusive"}),
        // On the deal, out of its value.
        json!({"product_id": product["id"], "item_price": 999, "quantity": 1, "is_enabled": false}),
    ];
    let mut sums = Vec::new();
    for line in lines {
        sums.push(company.post(&path, line).await["sum"].clone());
    }
    assert_eq!(
        sums,
        [json!(180.0), json!(120.0), json!(119.0), json!(999.0)]
    );
    let stored = company.get(&format!("/api/v2/deals/{}", deal["id"])).await;
    assert_eq!(
        stored["value"],
        json!(419.0),
        "disabled products do not count"
    );

    let deal = company
        .connector(false)
        .fetch_deal(&deal["id"].to_string(), &CallLog::new())
        .await
        .expect("hydrated");
    let prices: Vec<(&str, &str)> = deal
        .line_items
        .iter()
        .map(|l| {
            let price = l.unit_price.as_ref().map(|p| p.amount.as_str());
            (l.quantity.as_str(), price.unwrap_or_default())
        })
        .collect();
    assert_eq!(prices, [("2", "90"), ("3", "40"), ("1", "100")]);
    let total: rust_decimal::Decimal = deal
        .line_items
        .iter()
        .map(|l| {
            let price = l
                .unit_price
                .as_ref()
                .expect("price")
                .amount
                .parse::<rust_decimal::Decimal>();
            price.expect("decimal")
                * l.quantity
                    .parse::<rust_decimal::Decimal>()
                    .expect("decimal")
        })
        .sum();
    assert_eq!(
        total,
        rust_decimal::Decimal::from(400),
        "the deal's discounted net sum"
    );
}

#[tokio::test]
async fn a_discount_no_unit_price_can_carry_is_a_permanent_line_error() {
    let company = Company::start().await;
    let deal = company
        .post("/api/v2/deals", json!({"title": "Odd", "currency": "EUR"}))
        .await;
    let product = company
        .post(
            "/api/v2/products",
            json!({"name": "Widget", "code": "SKU-100"}),
        )
        .await;
    company
        .post(
            &format!("/api/v2/deals/{}/products", deal["id"]),
            json!({"product_id": product["id"], "item_price": 1, "quantity": 1000, "discount": 0.01, "discount_type": "amount"}),
        )
        .await;
    let err = company
        .connector(false)
        .fetch_deal(&deal["id"].to_string(), &CallLog::new())
        .await
        .expect_err("999.99 over 1000 units has no 4-decimal price");
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Permanent, ErrorCategory::Validation)
    );
    assert_eq!(
        err.resolution.as_deref(),
        Some("fix_line_item:discount"),
        "{err}"
    );
}

/// Pipedrive's token response names the company's API host; calls with that
/// token go there, whatever `base_url` says.
#[tokio::test]
async fn oauth_calls_go_to_the_api_domain_of_the_token() {
    let company = Company::start().await;
    let deal_id = company.seed().await;
    let mut config = company.connector(true).config;
    // Nothing listens here: only the token's api_domain can serve the calls.
    config.base_url = "http://127.0.0.1:9".into();
    let crm = PipedriveCrm::new(config, reqwest::Client::new()).expect("valid");
    let deal = crm
        .fetch_deal(&deal_id, &CallLog::new())
        .await
        .expect("served by the api_domain");
    assert_eq!(deal.line_items.len(), 600);
}

#[tokio::test]
async fn bad_credentials_are_auth_errors_and_ids_are_checked() {
    let company = Company::start().await;
    // The credentials are fixed when the connector is built: build one with a wrong token.
    let mut config = company.connector(false).config;
    config.api_token = "wrong".into();
    let crm = PipedriveCrm::new(config, reqwest::Client::new()).expect("valid");
    let err = crm
        .fetch_deal("1", &CallLog::new())
        .await
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    let err = company
        .connector(false)
        .fetch_deal("../1", &CallLog::new())
        .await
        .expect_err("bad id");
    assert_eq!(err.category, ErrorCategory::Validation);
    let err = company
        .connector(false)
        .fetch_deal("999", &CallLog::new())
        .await
        .expect_err("missing");
    assert_eq!(err.category, ErrorCategory::NotFound);
}

struct Fixture;

#[async_trait]
impl crate::conformance::Fixture for Fixture {
    const VENDOR: &'static str = SYSTEM;
    const ROLE: Role = Role::Crm;
    const SECRET: &'static str = "/api_token";

    async fn seed_won_deal(&self, url: &str, deal: &crate::conformance::WonDeal) -> String {
        // The suite owns the simulator: this client's guard stops nothing.
        let company = Company::attach(url, CancellationToken::new().drop_guard());
        // Pipedrive keeps a geocoded address: street name and number apart.
        let (route, street_number) = deal.street.rsplit_once(' ').expect("name and number");
        let org = company
            .post(
                "/api/v2/organizations",
                json!({"name": deal.account, "address": {"route": route, "street_number": street_number,
                       "locality": deal.city, "postal_code": deal.postal_code, "country": deal.country_code}}),
            )
            .await;
        let created = company
            .post(
                "/api/v2/deals",
                json!({"title": deal.name, "currency": deal.currency, "org_id": org["id"], "status": "won"}),
            )
            .await;
        let product = company
            .post(
                "/api/v2/products",
                json!({"name": deal.product, "code": deal.sku}),
            )
            .await;
        let number = |text: &str| text.parse::<f64>().expect("a decimal");
        company
            .post(
                &format!("/api/v2/deals/{}/products", created["id"]),
                json!({"product_id": product["id"], "item_price": number(deal.unit_price),
                       "quantity": number(deal.quantity)}),
            )
            .await;
        created["id"].to_string()
    }

    async fn order_number_on_deal(&self, url: &str, deal_id: &str) -> String {
        let fields: DealToOrderFields = crate::conformance::dev_fields(crate::Role::Crm, SYSTEM);
        let field = fields.write_back_field;
        let deal = Company::attach(url, CancellationToken::new().drop_guard())
            .get(&format!("/api/v2/deals/{deal_id}"))
            .await;
        deal["custom_fields"][&field]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

crate::conformance::conformance_tests!(Fixture => system, bounded_body, deal_source);

/// An in-memory credential store, standing in for the service's KV bucket.
#[derive(Default)]
struct MemoryCredentials(std::sync::Mutex<std::collections::HashMap<String, String>>);

#[async_trait::async_trait]
impl crate::credentials::CredentialStore for MemoryCredentials {
    async fn load(
        &self,
        key: &str,
    ) -> Result<Option<secrecy::SecretString>, crate::credentials::CredentialStoreError> {
        let map = self.0.lock().expect("lock");
        Ok(map.get(key).map(|v| v.clone().into()))
    }
    async fn save(
        &self,
        key: &str,
        value: &secrecy::SecretString,
    ) -> Result<(), crate::credentials::CredentialStoreError> {
        use secrecy::ExposeSecret as _;
        let mut map = self.0.lock().expect("lock");
        map.insert(key.to_owned(), value.expose_secret().to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn a_rotated_refresh_token_is_stored_and_a_refused_stored_one_falls_back_to_the_configured() {
    let company = Company::start().await;
    let deal_id = company.seed().await;
    let rotation = company
        .http
        .put(format!("{}/__sandbox/oauth", company.base))
        .json(&json!({"rotate_refresh_tokens": true}))
        .send()
        .await
        .expect("rotation on");
    assert!(rotation.status().is_success(), "{rotation:?}");
    let store = std::sync::Arc::new(MemoryCredentials::default());
    let key = format!("pipedrive.refresh_token.{DEV_PIPEDRIVE_CLIENT_ID}");
    // A token from an earlier installation, since revoked: an operator
    // re-authorised the app and configured the new refresh token.
    store
        .0
        .lock()
        .expect("lock")
        .insert(key.clone(), "revoked-long-ago".into());
    let mut config = company.connector(true).config;
    config.credentials = crate::credentials::CredentialSlot::new();
    assert!(config.credentials.attach(store.clone()));
    let crm = PipedriveCrm::new(config, reqwest::Client::new()).expect("valid");
    crm.fetch_deal(&deal_id, &CallLog::new())
        .await
        .expect("the configured token is used after the stored one is refused");

    let state: Value = company
        .http
        .get(format!("{}/__sandbox/oauth", company.base))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let stored = store.0.lock().expect("lock").get(&key).cloned();
    assert_eq!(
        stored.as_deref(),
        state["refresh_token"].as_str(),
        "the rotated token replaced the stored one"
    );
    assert_ne!(stored.as_deref(), Some(DEV_PIPEDRIVE_REFRESH_TOKEN));
}

/// Fulfilment on the deal: done activities, an open activity for the
/// organization's owner, and the fulfilment custom fields.
mod fulfilment {
    use crmerp_proto::OrderStatus;
    use crmerp_sandbox::{
        DEV_PIPEDRIVE_CARRIER_FIELD, DEV_PIPEDRIVE_DELIVERED_AT_FIELD,
        DEV_PIPEDRIVE_FULFILMENT_STATUS_FIELD, DEV_PIPEDRIVE_TRACKING_NUMBER_FIELD,
        DEV_PIPEDRIVE_TRACKING_URL_FIELD,
    };

    use super::*;
    use crate::crm_fulfilment::fixtures::{activity, at, task};
    use crate::ports::{ActivityTimeline, DealFulfilment, FollowUpTasks, FulfilmentUpdate};

    fn fields() -> FulfilmentFields {
        FulfilmentFields {
            status_field: DEV_PIPEDRIVE_FULFILMENT_STATUS_FIELD.into(),
            carrier_field: DEV_PIPEDRIVE_CARRIER_FIELD.into(),
            tracking_number_field: DEV_PIPEDRIVE_TRACKING_NUMBER_FIELD.into(),
            tracking_url_field: DEV_PIPEDRIVE_TRACKING_URL_FIELD.into(),
            delivered_at_field: DEV_PIPEDRIVE_DELIVERED_AT_FIELD.into(),
            ..FulfilmentFields::default()
        }
    }

    impl Company {
        fn fulfilment(&self, fields: FulfilmentFields) -> PipedriveCrm {
            let mut config = self.connector(false).config;
            config.fulfilment = fields;
            PipedriveCrm::new(
                config,
                build_client(&HttpTimeouts::default()).expect("client"),
            )
            .expect("valid")
        }

        async fn activities(&self, deal: &str) -> Vec<Value> {
            self.get(&format!("/api/v2/activities?deal_id={deal}&limit=500"))
                .await
                .as_array()
                .cloned()
                .unwrap_or_default()
        }

        async fn put(&self, path: &str, body: Value) {
            let response = self
                .http
                .put(format!("{}{path}", self.base))
                .header("x-api-token", DEV_PIPEDRIVE_API_TOKEN)
                .json(&body)
                .send()
                .await
                .expect("put");
            assert!(response.status().is_success(), "{path}");
        }

        /// A deal of an organization, each owned by a user of its own.
        async fn owned_deal(&self) -> (String, u64, u64, u64) {
            let csm = self
                .post(
                    "/api/v1/users",
                    json!({"name": "Csm", "email": "csm@acme.example"}),
                )
                .await["id"]
                .as_u64()
                .expect("user");
            let rep = self
                .post(
                    "/api/v1/users",
                    json!({"name": "Rep", "email": "rep@acme.example"}),
                )
                .await["id"]
                .as_u64()
                .expect("user");
            let org = self
                .post(
                    "/api/v2/organizations",
                    json!({"name": "Acme", "owner_id": csm}),
                )
                .await["id"]
                .as_u64()
                .expect("org");
            let deal = self
                .post(
                    "/api/v2/deals",
                    json!({"title": "Big", "org_id": org, "owner_id": rep}),
                )
                .await;
            (deal["id"].to_string(), org, csm, rep)
        }
    }

    #[tokio::test]
    async fn timeline_entries_are_done_activities_on_the_deal_and_its_organization_once_per_key() {
        let company = Company::start().await;
        let (deal, org, _, _) = company.owned_deal().await;
        let crm = company.fulfilment(fields());
        let calls = CallLog::new();
        let packed = activity(&deal, "tryton-sale-7-packed-e1", "2026-12-01T08:05:09Z");
        let first = crm.record_activity(&packed, &calls).await.expect("written");
        let again = crm.record_activity(&packed, &calls).await.expect("found");
        assert_eq!(first, again);
        assert_eq!(
            (first.system.as_str(), first.object_type.as_str()),
            ("pipedrive", "activity")
        );
        // A key that is a prefix of another is its own entry.
        crm.record_activity(
            &activity(&deal, "tryton-sale-7-packed-e10", "2026-12-01T09:00:00Z"),
            &calls,
        )
        .await
        .expect("written");
        let all = company.activities(&deal).await;
        assert_eq!(all.len(), 2, "{all:?}");
        let entry = all
            .iter()
            .find(|a| a["id"].as_u64() == first.id.parse().ok())
            .expect("entry");
        assert_eq!(entry["done"], true);
        assert!(entry["marked_as_done_time"].is_string(), "{entry}");
        assert_eq!(entry["type"], "task");
        assert_eq!(entry["org_id"], json!(org), "on the organization too");
        assert_eq!(entry["due_date"], "2026-12-01", "the ERP's time");
        assert_eq!(entry["due_time"], "08:05");
        let note = entry["note"].as_str().unwrap_or_default();
        assert!(
            note.starts_with("<p>Carrier DHL</p><p>Tracking 00340434</p>")
                && note.contains("2026-12-01T08:05:09Z")
                && note.ends_with("<p>[crmerp-key:tryton-sale-7-packed-e1]</p>"),
            "{note}"
        );

        let err = crm
            .record_activity(&activity("12a", "k", "2026-12-01T08:00:00Z"), &calls)
            .await
            .expect_err("not an id");
        assert_eq!(err.category, ErrorCategory::Validation);
        let err = crm
            .record_activity(&activity("999999", "k", "2026-12-01T08:00:00Z"), &calls)
            .await
            .expect_err("no such deal");
        assert_eq!(err.category, ErrorCategory::NotFound, "{err}");
    }

    #[tokio::test]
    async fn the_csm_task_goes_to_the_active_organization_owner_else_the_deal_owner() {
        let company = Company::start().await;
        let (deal, _, csm, rep) = company.owned_deal().await;
        let crm = company.fulfilment(fields());
        let calls = CallLog::new();
        let first = crm
            .create_task(&task(&deal, "exception-1"), &calls)
            .await
            .expect("created");
        let again = crm
            .create_task(&task(&deal, "exception-1"), &calls)
            .await
            .expect("found");
        assert_eq!(first, again);
        let all = company.activities(&deal).await;
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0]["owner_id"], json!(csm), "the organization's owner");
        assert_eq!(all[0]["done"], false);
        assert_eq!(all[0]["due_date"], "2026-12-07");
        assert_eq!(all[0]["due_time"], "09:30");
        assert_eq!(all[0]["subject"], "Delivery failed: SO-1042");

        company
            .put(
                &format!("/api/v1/users/{csm}"),
                json!({"active_flag": false}),
            )
            .await;
        let second = crm
            .create_task(&task(&deal, "exception-2"), &calls)
            .await
            .expect("created");
        let row = company
            .get(&format!("/api/v2/activities/{}", second.id))
            .await;
        assert_eq!(row["owner_id"], json!(rep), "the deal's owner");

        // A deal without an organization: the deal's owner.
        let lone = company
            .post("/api/v2/deals", json!({"title": "Lone", "owner_id": rep}))
            .await["id"]
            .to_string();
        let third = crm
            .create_task(&task(&lone, "exception-3"), &calls)
            .await
            .expect("created");
        let row = company
            .get(&format!("/api/v2/activities/{}", third.id))
            .await;
        assert_eq!(row["owner_id"], json!(rep));
        assert_eq!(row["org_id"], Value::Null);
    }

    #[tokio::test]
    async fn fulfilment_custom_fields_are_written_and_an_unmapped_status_is_refused() {
        let company = Company::start().await;
        let (deal, _, _, _) = company.owned_deal().await;
        let calls = CallLog::new();
        let dispatched = FulfilmentUpdate {
            status: OrderStatus::Dispatched,
            order_number: "SO-1042".into(),
            carrier: Some("DHL".into()),
            tracking_number: Some("00340434".into()),
            tracking_url: Some("https://www.dhl.com/track?id=00340434".into()),
            delivered_at: None,
        };
        let err = company
            .fulfilment(FulfilmentFields::default())
            .write_fulfilment(&deal, &dispatched, &calls)
            .await
            .expect_err("no status field configured");
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert!(
            err.to_string()
                .contains("fulfilment_sync.crm.pipedrive.status_field"),
            "{err}"
        );
        let crm = company.fulfilment(fields());
        crm.write_fulfilment(&deal, &dispatched, &calls)
            .await
            .expect("written");
        crm.write_fulfilment(
            &deal,
            &FulfilmentUpdate {
                status: OrderStatus::Delivered,
                carrier: None,
                tracking_number: None,
                tracking_url: None,
                delivered_at: Some(at("2026-12-04T23:30:00Z")),
                ..dispatched.clone()
            },
            &calls,
        )
        .await
        .expect("written");
        let row = company.get(&format!("/api/v2/deals/{deal}")).await;
        let custom = &row["custom_fields"];
        assert_eq!(custom[DEV_PIPEDRIVE_FULFILMENT_STATUS_FIELD], "delivered");
        assert_eq!(custom[DEV_PIPEDRIVE_CARRIER_FIELD], "DHL");
        assert_eq!(custom[DEV_PIPEDRIVE_TRACKING_NUMBER_FIELD], "00340434");
        assert_eq!(
            custom[DEV_PIPEDRIVE_TRACKING_URL_FIELD],
            "https://www.dhl.com/track?id=00340434"
        );
        assert_eq!(custom[DEV_PIPEDRIVE_DELIVERED_AT_FIELD], "2026-12-04");
    }

    #[test]
    fn the_registry_refuses_a_field_that_is_not_a_key() {
        use crate::field_maps::FlowMaps;
        use crate::registry::{DEAL_TO_ORDER, FULFILMENT_SYNC, build_crm};
        let section =
            crate::conformance::dev_section(crate::Role::Crm, SYSTEM, "http://127.0.0.1:1");
        let deal_to_order = crate::conformance::dev_maps();
        let d2o: Value =
            json!({"crm": {"pipedrive": {"write_back_field": DEV_PIPEDRIVE_ORDER_FIELD}}});
        let maps = FlowMaps::new().with(DEAL_TO_ORDER, Some(d2o)).with(
            FULFILMENT_SYNC,
            Some(json!({"crm": {"pipedrive": {"status_field": "Fulfilment status"}}})),
        );
        let err = build_crm(SYSTEM, Some(section.clone()), &maps).expect_err("not a key");
        assert!(
            err.to_string()
                .contains("fulfilment_sync.crm.pipedrive.status_field"),
            "{err}"
        );
        assert!(build_crm(SYSTEM, Some(section), &deal_to_order).is_ok());
    }
}

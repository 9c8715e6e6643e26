//! The connector against the sandbox's Dataverse simulator, served in-process:
//! Entra ID client credentials, `@odata.nextLink` paging, write-back with
//! `If-Match: *`, the sync-error task and error classification.

use crmerp_proto::SalesOrder;
use crmerp_sandbox::{
    DEV_DYNAMICS_CLIENT_ID, DEV_DYNAMICS_CLIENT_SECRET, DEV_DYNAMICS_TENANT_ID, SandboxConfig,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::http_client::{HttpTimeouts, build_client};
use crate::oauth2::ClientCredentialsConfig;

struct Env {
    base: String,
    http: reqwest::Client,
    token: String,
    _shutdown: tokio_util::sync::DropGuard,
}

impl Env {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        tokio::spawn(crmerp_sandbox::serve(
            SandboxConfig::default(),
            vec![("dynamics365", listener)],
            shutdown.clone(),
        ));
        Self::attach(&base, shutdown.drop_guard()).await
    }

    /// A client of the environment at `base` with a token of its own;
    /// dropping it drops `shutdown`.
    async fn attach(base: &str, shutdown: tokio_util::sync::DropGuard) -> Self {
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!("{base}/{DEV_DYNAMICS_TENANT_ID}/oauth2/v2.0/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=client_credentials&client_id={DEV_DYNAMICS_CLIENT_ID}&client_secret={DEV_DYNAMICS_CLIENT_SECRET}&scope=x%2F.default"))
            .send().await.expect("token").json().await.expect("json");
        Self {
            base: base.to_owned(),
            http,
            token: token["access_token"].as_str().expect("token").to_owned(),
            _shutdown: shutdown,
        }
    }

    async fn create(&self, set: &str, body: Value) -> String {
        let response = self
            .http
            .post(format!("{}/api/data/v9.2/{set}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("create");
        let id = response
            .headers()
            .get("OData-EntityId")
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.rsplit_once('('))
            .map(|(_, id)| id.trim_end_matches(')').to_owned());
        id.unwrap_or_else(|| panic!("created {set}"))
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/api/data/v9.2/{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    fn connector(&self, secret: &str) -> Dynamics365Crm {
        let config = Dynamics365Config {
            base_url: self.base.clone(),
            api_version: "v9.2".into(),
            oauth: ClientCredentialsConfig {
                token_url: format!("{}/{DEV_DYNAMICS_TENANT_ID}/oauth2/v2.0/token", self.base),
                client_id: DEV_DYNAMICS_CLIENT_ID.into(),
                client_secret: secret.into(),
                scope: Some("https://sandbox.crm.dynamics.com/.default".into()),
                refresh_margin_secs: 120,
            },
            deal_to_order: DealToOrderFields {
                write_back_field: "new_erpordernumber".into(),
                sync_status_field: "new_erpsyncstatus".into(),
                default_currency: "USD".into(),
            },
            fulfilment: FulfilmentFields::default(),
            webhook: Default::default(),
            timeouts: HttpTimeouts::default(),
        };
        Dynamics365Crm::new(
            config,
            build_client(&HttpTimeouts::default()).expect("client"),
        )
        .expect("valid")
    }
}

#[tokio::test]
async fn hydrates_every_page_writes_back_and_creates_a_task() {
    let env = Env::start().await;
    let currency = env
        .create("transactioncurrencies", json!({"isocurrencycode": "EUR"}))
        .await;
    let account = env.create("accounts", json!({"name": "Acme", "address2_line1": "Lagerstrasse 7", "address2_city": "Hamburg", "address2_country": "DE"})).await;
    let opp = env.create("opportunities", json!({"name": "Big", "parentaccountid@odata.bind": format!("/accounts({account})"), "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({currency})")})).await;
    let product = env
        .create(
            "products",
            json!({"name": "Widget", "productnumber": "SKU-100"}),
        )
        .await;
    for i in 0..501 {
        env.create("opportunityproducts", json!({"opportunityid@odata.bind": format!("/opportunities({opp})"), "productid@odata.bind": format!("/products({product})"), "quantity": 1, "priceperunit": 2.5, "sequencenumber": i})).await;
    }
    let crm = env.connector(DEV_DYNAMICS_CLIENT_SECRET);
    let calls = CallLog::new();
    let deal = crm.fetch_deal(&opp, &calls).await.expect("hydrated");
    assert_eq!(deal.line_items.len(), 501, "nextLink followed");
    assert_eq!(deal.line_items[0].sku, "SKU-100");
    assert_eq!(
        deal.amount.map(|m| (m.currency_code, m.amount)),
        Some(("EUR".into(), "1252.5".into()))
    );
    assert_eq!(
        deal.shipping_address.map(|a| a.city),
        Some("Hamburg".to_owned())
    );
    assert_eq!(
        calls
            .snapshot()
            .iter()
            .filter(|c| c.endpoint == ENDPOINT_LINES.label())
            .count(),
        2
    );

    crm.write_back_order(
        &opp,
        &SalesOrder {
            order_number: "SO-9".into(),
            ..SalesOrder::default()
        },
        &calls,
    )
    .await
    .expect("written");
    let row = env
        .get(&format!(
            "opportunities({opp})?$select=new_erpordernumber,new_erpsyncstatus"
        ))
        .await;
    assert_eq!(row["new_erpordernumber"], "SO-9");
    crm.flag_sync_error(&opp, "SKU-9 unknown", &calls)
        .await
        .expect("flagged");
    let tasks = env.get("tasks").await;
    assert_eq!(tasks["value"][0]["_regardingobjectid_value"], opp.as_str());
    crm.probe().await.expect("probe");

    let missing = "00000000-0000-4000-8000-000000000000";
    let err = crm
        .write_back_order(missing, &SalesOrder::default(), &calls)
        .await
        .expect_err("If-Match refuses to create");
    assert_eq!(err.category, ErrorCategory::NotFound, "{err}");
    assert!(
        env.get(&format!("opportunities({missing})")).await["error"].is_object(),
        "no row was created"
    );
}

/// Issue 11: Dataverse binds only the navigation properties a table declares;
/// the task's lookup to an opportunity is `regardingobjectid_opportunity_task`.
#[tokio::test]
async fn the_task_binds_the_declared_navigation_property() {
    let env = Env::start().await;
    let opp = env
        .create("opportunities", json!({"name": "Flagged"}))
        .await;
    let response = env
        .http
        .post(format!("{}/api/data/v9.2/tasks", env.base))
        .bearer_auth(&env.token)
        .json(&json!({"subject": "x", "regardingobjectid_opportunity@odata.bind": format!("/opportunities({opp})")}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "0x80060888", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("undeclared property 'regardingobjectid_opportunity'")),
        "{body}"
    );
    // Flagged twice for one reason (a retry): one task.
    for _ in 0..2 {
        env.connector(DEV_DYNAMICS_CLIENT_SECRET)
            .flag_sync_error(&opp, "SKU-9 unknown", &CallLog::new())
            .await
            .expect("flagged with the declared property");
    }
    let tasks = env.get("tasks").await;
    assert_eq!(tasks["value"].as_array().map(Vec::len), Some(1), "{tasks}");
    assert_eq!(tasks["value"][0]["_regardingobjectid_value"], opp.as_str());
    env.connector(DEV_DYNAMICS_CLIENT_SECRET)
        .flag_sync_error(&opp, "credit limit", &CallLog::new())
        .await
        .expect("another reason");
    let tasks = env.get("tasks").await;
    assert_eq!(tasks["value"].as_array().map(Vec::len), Some(2), "{tasks}");
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_and_ids_are_checked() {
    let env = Env::start().await;
    let err = env
        .connector("wrong")
        .fetch_deal("00000000-0000-4000-8000-000000000000", &CallLog::new())
        .await
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    let err = env
        .connector(DEV_DYNAMICS_CLIENT_SECRET)
        .fetch_deal("x')/accounts(", &CallLog::new())
        .await
        .expect_err("bad id");
    assert_eq!(err.category, ErrorCategory::Validation);
}

struct Fixture;

#[async_trait]
impl crate::conformance::Fixture for Fixture {
    const VENDOR: &'static str = SYSTEM;
    const ROLE: Role = Role::Crm;
    const SECRET: &'static str = "/oauth/client_secret";
    const DEAL_ID: &'static str = "00000000-0000-4000-8000-000000000001";

    async fn seed_won_deal(&self, url: &str, deal: &crate::conformance::WonDeal) -> String {
        // The suite owns the simulator: this client's guard stops nothing.
        let env = Env::attach(url, CancellationToken::new().drop_guard()).await;
        let currency = env
            .create(
                "transactioncurrencies",
                json!({"isocurrencycode": deal.currency}),
            )
            .await;
        let account = env
            .create(
                "accounts",
                json!({"name": deal.account, "address1_line1": deal.street, "address1_city": deal.city,
                       "address1_postalcode": deal.postal_code, "address1_country": deal.country_code}),
            )
            .await;
        let opp = env
            .create(
                "opportunities",
                json!({"name": deal.name, "parentaccountid@odata.bind": format!("/accounts({account})"),
                       "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({currency})")}),
            )
            .await;
        let product = env
            .create(
                "products",
                json!({"name": deal.product, "productnumber": deal.sku}),
            )
            .await;
        let number = |text: &str| text.parse::<f64>().expect("a decimal");
        env.create(
            "opportunityproducts",
            json!({"opportunityid@odata.bind": format!("/opportunities({opp})"),
                   "productid@odata.bind": format!("/products({product})"),
                   "quantity": number(deal.quantity), "priceperunit": number(deal.unit_price),
                   "sequencenumber": 1}),
        )
        .await;
        opp
    }

    async fn order_number_on_deal(&self, url: &str, deal_id: &str) -> String {
        let fields: DealToOrderFields = crate::conformance::dev_fields(crate::Role::Crm, SYSTEM);
        let field = fields.write_back_field;
        let row = Env::attach(url, CancellationToken::new().drop_guard())
            .await
            .get(&format!("opportunities({deal_id})?$select={field}"))
            .await;
        row[&field].as_str().unwrap_or_default().to_owned()
    }
}

crate::conformance::conformance_tests!(Fixture => system, bounded_body, deal_source);

/// Fulfilment on the opportunity: completed tasks regarding it, an open task
/// owned by the account's owner, and the fulfilment columns.
mod fulfilment {
    use crmerp_proto::OrderStatus;

    use super::*;
    use crate::crm_fulfilment::fixtures::{activity, at, task};
    use crate::ports::{ActivityTimeline, DealFulfilment, FollowUpTasks, FulfilmentUpdate};

    impl Env {
        async fn patch(&self, path: &str, body: Value) -> reqwest::StatusCode {
            self.http
                .patch(format!("{}/api/data/v9.2/{path}", self.base))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await
                .expect("patch")
                .status()
        }

        /// The tasks regarding `opp`.
        async fn tasks(&self, opp: &str) -> Vec<Value> {
            let all = self.get("tasks").await;
            all["value"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["_regardingobjectid_value"] == json!(opp))
                .cloned()
                .collect()
        }

        async fn deal(&self) -> (String, String) {
            let account = self.create("accounts", json!({"name": "Acme"})).await;
            let opp = self
                .create(
                    "opportunities",
                    json!({"name": "Big", "parentaccountid@odata.bind": format!("/accounts({account})")}),
                )
                .await;
            (account, opp)
        }
    }

    #[tokio::test]
    async fn timeline_entries_are_completed_tasks_regarding_the_opportunity_once_per_key() {
        let env = Env::start().await;
        let (_, opp) = env.deal().await;
        let crm = env.connector(DEV_DYNAMICS_CLIENT_SECRET);
        let calls = CallLog::new();
        let packed = activity(&opp, "bc-SO1042-packed-e1", "2026-12-01T08:00:00Z");
        let first = crm.record_activity(&packed, &calls).await.expect("written");
        let again = crm.record_activity(&packed, &calls).await.expect("found");
        assert_eq!(first, again);
        assert_eq!(
            (first.system.as_str(), first.object_type.as_str()),
            ("dynamics365", "task")
        );
        let tasks = env.tasks(&opp).await;
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(tasks[0]["activityid"], json!(first.id));
        assert_eq!(tasks[0]["statecode"], 1, "completed");
        assert_eq!(tasks[0]["statuscode"], 5);
        assert_eq!(
            tasks[0]["actualend"], "2026-12-01T08:00:00Z",
            "the ERP's time"
        );
        assert_eq!(tasks[0]["subject"], "Order SO-1042: bc-SO1042-packed-e1");

        // A write interrupted after the create leaves an open task; the retry completes it.
        let key = "bc-SO1042-dispatched-e2";
        let id = name_guid(&format!("crmerp-activity\n{key}"));
        let created = env
            .patch(
                &format!("tasks({id})"),
                json!({"subject": "interrupted", "regardingobjectid_opportunity_task@odata.bind": format!("/opportunities({opp})")}),
            )
            .await;
        assert_eq!(created, 204);
        crm.record_activity(&activity(&opp, key, "2026-12-02T10:00:00Z"), &calls)
            .await
            .expect("completed");
        let row = env.get(&format!("tasks({id})")).await;
        assert_eq!(row["statecode"], 1, "{row}");

        // A task someone cancelled in the CRM stays cancelled.
        let key = "bc-SO1042-delivered-e3";
        let delivered = activity(&opp, key, "2026-12-03T10:00:00Z");
        let written = crm
            .record_activity(&delivered, &calls)
            .await
            .expect("written");
        let status = env
            .patch(
                &format!("tasks({})", written.id),
                json!({"statecode": 2, "statuscode": 6}),
            )
            .await;
        assert_eq!(status, 204);
        crm.record_activity(&delivered, &calls)
            .await
            .expect("found");
        let row = env.get(&format!("tasks({})", written.id)).await;
        assert_eq!(row["statecode"], 2);
        assert_eq!(env.tasks(&opp).await.len(), 3);
    }

    #[tokio::test]
    async fn the_csm_task_is_owned_by_the_account_owner_else_the_opportunity_owner() {
        let env = Env::start().await;
        let csm = env.create("systemusers", json!({"lastname": "Csm"})).await;
        let rep = env.create("systemusers", json!({"lastname": "Rep"})).await;
        let account = env
            .create(
                "accounts",
                json!({"name": "Acme", "ownerid@odata.bind": format!("/systemusers({csm})")}),
            )
            .await;
        let opp = env
            .create(
                "opportunities",
                json!({"name": "Big", "parentaccountid@odata.bind": format!("/accounts({account})"),
                       "ownerid@odata.bind": format!("/systemusers({rep})")}),
            )
            .await;
        let crm = env.connector(DEV_DYNAMICS_CLIENT_SECRET);
        let calls = CallLog::new();
        let first = crm
            .create_task(&task(&opp, "exception-1"), &calls)
            .await
            .expect("created");
        let again = crm
            .create_task(&task(&opp, "exception-1"), &calls)
            .await
            .expect("found");
        assert_eq!(first, again);
        let tasks = env.tasks(&opp).await;
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(tasks[0]["_ownerid_value"], json!(csm));
        assert_eq!(tasks[0]["statecode"], 0, "open");
        assert_eq!(tasks[0]["prioritycode"], 2);
        assert_eq!(tasks[0]["scheduledend"], "2026-12-07T09:30:00Z");

        // A disabled account owner: the opportunity's owner.
        assert_eq!(
            env.patch(&format!("systemusers({csm})"), json!({"isdisabled": true}))
                .await,
            204
        );
        let second = crm
            .create_task(&task(&opp, "exception-2"), &calls)
            .await
            .expect("created");
        let row = env.get(&format!("tasks({})", second.id)).await;
        assert_eq!(row["_ownerid_value"], json!(rep));

        // A team-owned account: the team.
        let team = env.create("teams", json!({"name": "Key accounts"})).await;
        assert_eq!(
            env.patch(
                &format!("accounts({account})"),
                json!({"ownerid@odata.bind": format!("/teams({team})")})
            )
            .await,
            204
        );
        let third = crm
            .create_task(&task(&opp, "exception-3"), &calls)
            .await
            .expect("created");
        let row = env.get(&format!("tasks({})", third.id)).await;
        assert_eq!(row["_ownerid_value"], json!(team));
        assert_eq!(row["_owningteam_value"], json!(team));
    }

    #[tokio::test]
    async fn fulfilment_columns_are_written_to_the_opportunity() {
        let env = Env::start().await;
        let (_, opp) = env.deal().await;
        let crm = env.connector(DEV_DYNAMICS_CLIENT_SECRET);
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
        crm.write_fulfilment(
            &opp,
            &FulfilmentUpdate {
                status: OrderStatus::Delivered,
                carrier: None,
                tracking_number: None,
                tracking_url: None,
                delivered_at: Some(at("2026-12-04T11:02:00Z")),
                ..dispatched.clone()
            },
            &calls,
        )
        .await
        .expect("written");
        let row = env.get(&format!("opportunities({opp})?$select=crmerp_fulfilmentstatus,crmerp_carrier,crmerp_trackingnumber,crmerp_trackingurl,crmerp_deliveredon")).await;
        assert_eq!(row["crmerp_fulfilmentstatus"], "delivered");
        assert_eq!(row["crmerp_carrier"], "DHL");
        assert_eq!(row["crmerp_trackingnumber"], "00340434");
        assert_eq!(
            row["crmerp_trackingurl"],
            "https://www.dhl.com/track?id=00340434"
        );
        assert_eq!(row["crmerp_deliveredon"], "2026-12-04T11:02:00Z");
        let missing = "00000000-0000-4000-8000-000000000000";
        let err = crm
            .write_fulfilment(missing, &dispatched, &calls)
            .await
            .expect_err("no such opportunity");
        assert_eq!(err.category, ErrorCategory::NotFound, "{err}");
    }
}

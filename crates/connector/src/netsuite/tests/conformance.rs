//! The capability suites against the NetSuite simulator of the sandbox.

use super::*;
use crate::conformance::dev_section;

struct Fixture;

#[async_trait]
impl crate::conformance::Fixture for Fixture {
    const VENDOR: &'static str = SYSTEM;
    const ROLE: Role = Role::Erp;
    const SECRET: &'static str = "/token_secret";
    const ORDER_ID: &'static str = "999999";

    async fn seed_item(&self, url: &str, sku: &str) {
        let config: NetSuiteConfig =
            serde_json::from_value(dev_section(Role::Erp, SYSTEM, url)).expect("config");
        let erp = NetSuiteErp::new(config, reqwest::Client::new()).expect("valid");
        let body = json!({"itemId": sku, "displayName": format!("Item {sku}"), "basePrice": 19.99});
        erp.call(
            &CallLog::new(),
            &crate::endpoint!(POST "/inventoryItem"),
            &format!("{RECORD_PATH}/inventoryItem"),
            &[],
            Some(&body),
        )
        .await
        .expect("item created");
    }
}

crate::conformance::conformance_tests!(Fixture => system, bounded_body, customer_master, order_sink, order_status_source);

//! Connector selection by name: the one place that maps `crm.kind` / `erp.kind`
//! to an implementation and its configuration section.
//!
//! A deployment's configuration has `[crm] kind = "<name>"` and a section
//! `[crm.<name>]` (likewise for `[erp]`). Each vendor adds one match arm here.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::config::ConfigError;
use crate::http_client::{HttpTimeouts, build_client};
use crate::{
    CrmConnector, ErpConnector, businesscentral, dynamics365, hubspot, netsuite, oraclefusion,
    pipedrive, s4hana, salesforce, tryton,
};

/// Every CRM connector name.
pub const CRM_KINDS: &[&str] = &[
    hubspot::SYSTEM,
    salesforce::SYSTEM,
    pipedrive::SYSTEM,
    dynamics365::SYSTEM,
];
/// Every ERP connector name.
pub const ERP_KINDS: &[&str] = &[
    netsuite::SYSTEM,
    tryton::SYSTEM,
    businesscentral::SYSTEM,
    s4hana::SYSTEM,
    oraclefusion::SYSTEM,
];

/// Builds the CRM connector `kind` from its section (`section` is `None` when
/// `[crm.<kind>]` is absent). Errors name the missing or invalid setting.
pub fn build_crm(
    kind: &str,
    section: Option<serde_json::Value>,
) -> Result<Arc<dyn CrmConnector>, ConfigError> {
    match kind {
        hubspot::SYSTEM => {
            let config: hubspot::HubSpotConfig = parse("crm", kind, section)?;
            let client = client("crm", kind, &config.timeouts)?;
            Ok(Arc::new(hubspot::HubSpotCrm::new(config, client)?))
        }
        dynamics365::SYSTEM => {
            let config: dynamics365::Dynamics365Config = parse("crm", kind, section)?;
            let client = client("crm", kind, &config.timeouts)?;
            Ok(Arc::new(dynamics365::Dynamics365Crm::new(config, client)?))
        }
        pipedrive::SYSTEM => {
            let config: pipedrive::PipedriveConfig = parse("crm", kind, section)?;
            let client = client("crm", kind, &config.timeouts)?;
            Ok(Arc::new(pipedrive::PipedriveCrm::new(config, client)?))
        }
        salesforce::SYSTEM => {
            let config: salesforce::SalesforceConfig = parse("crm", kind, section)?;
            let client = client("crm", kind, &config.timeouts)?;
            Ok(Arc::new(salesforce::SalesforceCrm::new(config, client)?))
        }
        other => Err(ConfigError::invalid(
            "crm.kind",
            format!(
                "\"{other}\" is not a supported CRM (supported: {})",
                CRM_KINDS.join(", ")
            ),
        )),
    }
}

/// Builds the ERP connector `kind` from its section (`section` is `None` when
/// `[erp.<kind>]` is absent). Errors name the missing or invalid setting.
pub fn build_erp(
    kind: &str,
    section: Option<serde_json::Value>,
) -> Result<Arc<dyn ErpConnector>, ConfigError> {
    match kind {
        netsuite::SYSTEM => {
            let config: netsuite::NetSuiteConfig = parse("erp", kind, section)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(netsuite::NetSuiteErp::new(config, client)?))
        }
        tryton::SYSTEM => {
            let config: tryton::TrytonConfig = parse("erp", kind, section)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(tryton::TrytonErp::new(config, client)?))
        }
        businesscentral::SYSTEM => {
            let config: businesscentral::BusinessCentralConfig = parse("erp", kind, section)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(businesscentral::BusinessCentralErp::new(
                config, client,
            )?))
        }
        s4hana::SYSTEM => {
            let config: s4hana::S4HanaConfig = parse("erp", kind, section)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(s4hana::S4HanaErp::new(config, client)?))
        }
        oraclefusion::SYSTEM => {
            let config: oraclefusion::OracleFusionConfig = parse("erp", kind, section)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(oraclefusion::OracleFusionErp::new(
                config, client,
            )?))
        }
        other => Err(ConfigError::invalid(
            "erp.kind",
            format!(
                "\"{other}\" is not a supported ERP (supported: {})",
                ERP_KINDS.join(", ")
            ),
        )),
    }
}

/// Deserialises `[<side>.<kind>]`, naming the section in every error.
pub fn parse<T: DeserializeOwned>(
    side: &str,
    kind: &str,
    section: Option<serde_json::Value>,
) -> Result<T, ConfigError> {
    let key = format!("{side}.{kind}");
    let section = section.ok_or_else(|| ConfigError::missing(format!("[{key}] section")))?;
    serde_json::from_value(section).map_err(|e| ConfigError::invalid(key, e.to_string()))
}

fn client(side: &str, kind: &str, timeouts: &HttpTimeouts) -> Result<reqwest::Client, ConfigError> {
    build_client(timeouts)
        .map_err(|e| ConfigError::invalid(format!("{side}.{kind}.timeouts"), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_kind_names_the_supported_ones() {
        let err = build_crm("nope", None).err().expect("rejected");
        assert!(err.to_string().contains("crm.kind"), "{err}");
        assert!(err.to_string().contains("hubspot"), "{err}");
        assert!(build_erp("nope", None).is_err());
    }

    #[test]
    fn missing_section_and_missing_keys_are_named() {
        let err = build_erp("netsuite", None).err().expect("rejected");
        assert!(err.to_string().contains("[erp.netsuite] section"), "{err}");
        let err = build_crm("hubspot", Some(json!({"base_url": "http://127.0.0.1:1"})))
            .err()
            .expect("rejected");
        assert!(
            err.to_string().contains("crm.hubspot") || err.to_string().contains("hubspot."),
            "{err}"
        );
    }

    #[test]
    fn a_complete_section_builds() {
        let crm = build_crm(
            "hubspot",
            Some(
                json!({"base_url": "http://127.0.0.1:9101", "access_token": "t", "client_secret": "s"}),
            ),
        );
        assert!(crm.is_ok(), "{:?}", crm.err());
        let erp = build_erp(
            "netsuite",
            Some(
                json!({"base_url": "http://127.0.0.1:9201", "account_id": "1234567_SB1", "consumer_key": "k",
                        "consumer_secret": "s", "token_id": "t", "token_secret": "ts"}),
            ),
        );
        assert!(erp.is_ok(), "{:?}", erp.err());
    }
}

//! Connector selection by name: the one place that maps `crm.kind` / `erp.kind`
//! to an implementation and its configuration section, returning the vendor's
//! [`Capabilities`] (which ports it provides is declared in its own module).
//!
//! A deployment's configuration has `[crm] kind = "<name>"` and a section
//! `[crm.<name>]` (likewise for `[erp]`). Each vendor adds one match arm here.

use std::sync::Arc;

use schemars::{Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

use crate::config::ConfigError;
use crate::field_maps::FlowMaps;
use crate::http_client::HttpTimeouts;
use crate::outbound::{NetworkPolicy, build_guarded_client};
use crate::ports::Role;
use crate::{
    Capabilities, businesscentral, dynamics365, hubspot, netsuite, oraclefusion, pipedrive, s4hana,
    salesforce, tryton,
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
/// `[crm.<kind>]` is absent) and the flows' field maps for it. Errors name the
/// missing or invalid setting.
pub fn build_crm(
    kind: &str,
    section: Option<serde_json::Value>,
    maps: &FlowMaps,
) -> Result<Capabilities, ConfigError> {
    let (section, network) = take_network(Role::Crm, kind, section)?;
    // Checked when the client is built, after the vendor's own settings parsed.
    let urls = section.clone();
    let client = |side: &str, kind: &str, timeouts: &HttpTimeouts| {
        guarded_client(side, kind, timeouts, network, urls.as_ref())
    };
    match kind {
        hubspot::SYSTEM => {
            let (mut config, fields): (hubspot::HubSpotConfig, _) =
                configure(Role::Crm, kind, section, maps, hubspot::MOVED)?;
            config.deal_to_order = fields;
            config.fulfilment = flow_fields(maps, FULFILMENT_SYNC, Role::Crm, kind)?;
            let client = client("crm", kind, &config.timeouts)?;
            Ok(Arc::new(hubspot::HubSpotCrm::new(config, client)?).capabilities())
        }
        dynamics365::SYSTEM => {
            let (mut config, fields): (dynamics365::Dynamics365Config, _) =
                configure(Role::Crm, kind, section, maps, dynamics365::MOVED)?;
            config.deal_to_order = fields;
            config.fulfilment = flow_fields(maps, FULFILMENT_SYNC, Role::Crm, kind)?;
            let client = client("crm", kind, &config.timeouts)?;
            Ok(Arc::new(dynamics365::Dynamics365Crm::new(config, client)?).capabilities())
        }
        pipedrive::SYSTEM => {
            let (mut config, fields): (pipedrive::PipedriveConfig, _) =
                configure(Role::Crm, kind, section, maps, pipedrive::MOVED)?;
            config.deal_to_order = fields;
            config.credentials = maps.credentials();
            config.fulfilment = flow_fields(maps, FULFILMENT_SYNC, Role::Crm, kind)?;
            let client = client("crm", kind, &config.timeouts)?;
            Ok(Arc::new(pipedrive::PipedriveCrm::new(config, client)?).capabilities())
        }
        salesforce::SYSTEM => {
            let (mut config, fields): (salesforce::SalesforceConfig, _) =
                configure(Role::Crm, kind, section, maps, salesforce::MOVED)?;
            config.deal_to_order = fields;
            config.fulfilment = flow_fields(maps, FULFILMENT_SYNC, Role::Crm, kind)?;
            let client = client("crm", kind, &config.timeouts)?;
            Ok(Arc::new(salesforce::SalesforceCrm::new(config, client)?).capabilities())
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
/// `[erp.<kind>]` is absent) and the flows' field maps for it. Errors name the
/// missing or invalid setting.
pub fn build_erp(
    kind: &str,
    section: Option<serde_json::Value>,
    maps: &FlowMaps,
) -> Result<Capabilities, ConfigError> {
    let (section, network) = take_network(Role::Erp, kind, section)?;
    // Checked when the client is built, after the vendor's own settings parsed.
    let urls = section.clone();
    let client = |side: &str, kind: &str, timeouts: &HttpTimeouts| {
        guarded_client(side, kind, timeouts, network, urls.as_ref())
    };
    match kind {
        netsuite::SYSTEM => {
            let (mut config, fields): (netsuite::NetSuiteConfig, _) =
                configure(Role::Erp, kind, section, maps, netsuite::MOVED)?;
            config.deal_to_order = fields;
            config.fulfilment = flow_fields(maps, FULFILMENT_SYNC, Role::Erp, kind)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(netsuite::NetSuiteErp::new(config, client)?).capabilities())
        }
        tryton::SYSTEM => {
            let (mut config, fields): (tryton::TrytonConfig, _) =
                configure(Role::Erp, kind, section, maps, tryton::MOVED)?;
            config.deal_to_order = fields;
            config.fulfilment = flow_fields(maps, FULFILMENT_SYNC, Role::Erp, kind)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(tryton::TrytonErp::new(config, client)?).capabilities())
        }
        businesscentral::SYSTEM => {
            let config: businesscentral::BusinessCentralConfig = parse("erp", kind, section)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(businesscentral::BusinessCentralErp::new(config, client)?).capabilities())
        }
        s4hana::SYSTEM => {
            let (mut config, fields): (s4hana::S4HanaConfig, _) =
                configure(Role::Erp, kind, section, maps, s4hana::MOVED)?;
            config.deal_to_order = fields;
            config.fulfilment = flow_fields(maps, FULFILMENT_SYNC, Role::Erp, kind)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(s4hana::S4HanaErp::new(config, client)?).capabilities())
        }
        oraclefusion::SYSTEM => {
            let (mut config, fields): (oraclefusion::OracleFusionConfig, _) =
                configure(Role::Erp, kind, section, maps, oraclefusion::MOVED)?;
            config.deal_to_order = fields;
            config.fulfilment = flow_fields(maps, FULFILMENT_SYNC, Role::Erp, kind)?;
            let client = client("erp", kind, &config.timeouts)?;
            Ok(Arc::new(oraclefusion::OracleFusionErp::new(config, client)?).capabilities())
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

/// The flow whose field maps the connectors carry: deal-to-order, the one
/// flow built today (see [`crate::field_maps`]).
pub const DEAL_TO_ORDER: &str = "deal_to_order";

/// The fulfilment flow, whose CRM field maps (which deal properties receive the
/// status, carrier and tracking number) sit in `[fulfilment_sync.crm.<kind>]`.
pub const FULFILMENT_SYNC: &str = "fulfilment_sync";

/// Reads `flow`'s field maps for one vendor (`[<flow>.<role>.<kind>]`), for
/// flows that never had keys in the vendor section (nothing moved).
pub fn flow_fields<F: DeserializeOwned>(
    maps: &FlowMaps,
    flow: &str,
    role: Role,
    kind: &str,
) -> Result<F, ConfigError> {
    maps.read(flow, role, kind, &mut serde_json::Map::new(), &[])
}

/// Splits a vendor's section into its connection settings `C` (from
/// `[<role>.<kind>]`) and deal-to-order's field maps `F` for it (from
/// `[deal_to_order.<role>.<kind>]`, or the `moved` keys still at their old place).
fn configure<C: DeserializeOwned, F: DeserializeOwned>(
    role: Role,
    kind: &str,
    section: Option<serde_json::Value>,
    maps: &FlowMaps,
    moved: &[&str],
) -> Result<(C, F), ConfigError> {
    let key = format!("{}.{kind}", role.as_str());
    let mut section = match section {
        Some(serde_json::Value::Object(map)) => map,
        Some(_) => return Err(ConfigError::invalid(key, "must be a table")),
        None => return Err(ConfigError::missing(format!("[{key}] section"))),
    };
    let fields = maps.read(DEAL_TO_ORDER, role, kind, &mut section, moved)?;
    let config = from_section(&key, &serde_json::Value::Object(section))?;
    Ok((config, fields))
}

/// Deserialises `[<side>.<kind>]`, naming the section in every error.
pub fn parse<T: DeserializeOwned>(
    side: &str,
    kind: &str,
    section: Option<serde_json::Value>,
) -> Result<T, ConfigError> {
    let key = format!("{side}.{kind}");
    let section = section.ok_or_else(|| ConfigError::missing(format!("[{key}] section")))?;
    from_section(&key, &section)
}

/// Deserialises one configuration section leniently, as the service settings
/// are: a number where a string is expected (an all-digit id set by
/// environment) or a numeric string where a number is expected converts.
pub fn from_section<T: DeserializeOwned>(
    key: &str,
    section: &serde_json::Value,
) -> Result<T, ConfigError> {
    config::Config::try_from(section)
        .and_then(config::Config::try_deserialize)
        .map_err(|e| ConfigError::invalid(key, e.to_string()))
}

/// Takes `[<role>.<kind>.network]` out of a vendor's section (the vendor's own
/// settings type never sees it).
fn take_network(
    role: Role,
    kind: &str,
    section: Option<serde_json::Value>,
) -> Result<(Option<serde_json::Value>, NetworkPolicy), ConfigError> {
    let key = format!("{}.{kind}", role.as_str());
    let Some(serde_json::Value::Object(mut map)) = section else {
        return Ok((section, NetworkPolicy::default()));
    };
    let network = match map.remove("network") {
        Some(value) => from_section::<NetworkPolicy>(&format!("{key}.network"), &value)?,
        None => NetworkPolicy::default(),
    };
    Ok((Some(serde_json::Value::Object(map)), network))
}

/// The vendor's client under `network`, once the section's literal-IP URLs
/// pass it (names are checked by the client's resolver at connect time).
fn guarded_client(
    side: &str,
    kind: &str,
    timeouts: &HttpTimeouts,
    network: NetworkPolicy,
    section: Option<&serde_json::Value>,
) -> Result<reqwest::Client, ConfigError> {
    if let Some(section) = section {
        network.check_section(&format!("{side}.{kind}"), section)?;
    }
    build_guarded_client(timeouts, network)
        .map_err(|e| ConfigError::invalid(format!("{side}.{kind}.timeouts"), e.to_string()))
}

/// Builds one configuration section's schema.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One vendor's configuration sections, for the generated configuration
/// reference (`docs/configuration.md`).
#[derive(Debug, Clone, Copy)]
pub struct VendorSchema {
    /// CRM or ERP.
    pub role: Role,
    /// The connector name, the value of `crm.kind` / `erp.kind`.
    pub kind: &'static str,
    /// `[<role>.<kind>]`: how to reach and authenticate to the vendor.
    pub section: SchemaFn,
    /// `[deal_to_order.<role>.<kind>]`: deal-to-order's field maps, for the
    /// vendors that have any.
    pub deal_to_order: Option<SchemaFn>,
    /// `[fulfilment_sync.<role>.<kind>]`: fulfilment-sync's field maps, for
    /// the vendors that have any.
    pub fulfilment_sync: Option<SchemaFn>,
}

/// Every vendor's configuration sections, CRMs then ERPs in [`CRM_KINDS`] and
/// [`ERP_KINDS`] order: the types [`build_crm`] and [`build_erp`] read.
pub fn vendor_schemas() -> Vec<VendorSchema> {
    fn vendor(
        role: Role,
        kind: &'static str,
        section: SchemaFn,
        deal_to_order: Option<SchemaFn>,
    ) -> VendorSchema {
        VendorSchema {
            role,
            kind,
            section,
            deal_to_order,
            fulfilment_sync: None,
        }
    }
    vec![
        VendorSchema {
            fulfilment_sync: Some(|g| g.subschema_for::<hubspot::FulfilmentFields>()),
            ..vendor(
                Role::Crm,
                hubspot::SYSTEM,
                |g| g.subschema_for::<hubspot::HubSpotConfig>(),
                Some(|g| g.subschema_for::<hubspot::DealToOrderFields>()),
            )
        },
        VendorSchema {
            fulfilment_sync: Some(|g| g.subschema_for::<salesforce::FulfilmentFields>()),
            ..vendor(
                Role::Crm,
                salesforce::SYSTEM,
                |g| g.subschema_for::<salesforce::SalesforceConfig>(),
                Some(|g| g.subschema_for::<salesforce::DealToOrderFields>()),
            )
        },
        VendorSchema {
            fulfilment_sync: Some(|g| g.subschema_for::<pipedrive::FulfilmentFields>()),
            ..vendor(
                Role::Crm,
                pipedrive::SYSTEM,
                |g| g.subschema_for::<pipedrive::PipedriveConfig>(),
                Some(|g| g.subschema_for::<pipedrive::DealToOrderFields>()),
            )
        },
        VendorSchema {
            fulfilment_sync: Some(|g| g.subschema_for::<dynamics365::FulfilmentFields>()),
            ..vendor(
                Role::Crm,
                dynamics365::SYSTEM,
                |g| g.subschema_for::<dynamics365::Dynamics365Config>(),
                Some(|g| g.subschema_for::<dynamics365::DealToOrderFields>()),
            )
        },
        VendorSchema {
            fulfilment_sync: Some(|g| g.subschema_for::<netsuite::FulfilmentFields>()),
            ..vendor(
                Role::Erp,
                netsuite::SYSTEM,
                |g| g.subschema_for::<netsuite::NetSuiteConfig>(),
                Some(|g| g.subschema_for::<netsuite::DealToOrderFields>()),
            )
        },
        VendorSchema {
            fulfilment_sync: Some(|g| g.subschema_for::<tryton::FulfilmentFields>()),
            ..vendor(
                Role::Erp,
                tryton::SYSTEM,
                |g| g.subschema_for::<tryton::TrytonConfig>(),
                Some(|g| g.subschema_for::<tryton::DealToOrderFields>()),
            )
        },
        vendor(
            Role::Erp,
            businesscentral::SYSTEM,
            |g| g.subschema_for::<businesscentral::BusinessCentralConfig>(),
            None,
        ),
        VendorSchema {
            fulfilment_sync: Some(|g| g.subschema_for::<s4hana::FulfilmentFields>()),
            ..vendor(
                Role::Erp,
                s4hana::SYSTEM,
                |g| g.subschema_for::<s4hana::S4HanaConfig>(),
                Some(|g| g.subschema_for::<s4hana::DealToOrderFields>()),
            )
        },
        VendorSchema {
            fulfilment_sync: Some(|g| g.subschema_for::<oraclefusion::FulfilmentFields>()),
            ..vendor(
                Role::Erp,
                oraclefusion::SYSTEM,
                |g| g.subschema_for::<oraclefusion::OracleFusionConfig>(),
                Some(|g| g.subschema_for::<oraclefusion::DealToOrderFields>()),
            )
        },
    ]
}

/// Schema of `[crm]`: `kind` and every CRM's section; for a settings field
/// holding the CRM selection (`#[schemars(schema_with = ...)]`).
pub fn crm_selection_schema(generator: &mut SchemaGenerator) -> Schema {
    selection_schema(Role::Crm, generator)
}

/// Schema of `[erp]`: `kind` and every ERP's section.
pub fn erp_selection_schema(generator: &mut SchemaGenerator) -> Schema {
    selection_schema(Role::Erp, generator)
}

/// Schema of `[deal_to_order.crm]`: every CRM's field maps.
pub fn deal_to_order_crm_schema(generator: &mut SchemaGenerator) -> Schema {
    field_maps_schema(Role::Crm, generator)
}

/// Schema of `[deal_to_order.erp]`: every ERP's field maps.
pub fn deal_to_order_erp_schema(generator: &mut SchemaGenerator) -> Schema {
    field_maps_schema(Role::Erp, generator)
}

fn selection_schema(role: Role, generator: &mut SchemaGenerator) -> Schema {
    let side = role.as_str();
    let vendors: Vec<VendorSchema> = vendor_schemas()
        .into_iter()
        .filter(|v| v.role == role)
        .collect();
    let kinds: Vec<&str> = vendors.iter().map(|v| v.kind).collect();
    let mut properties = serde_json::Map::new();
    properties.insert(
        "kind".into(),
        serde_json::json!({
            "type": "string",
            "enum": kinds,
            "description": format!(
                "The {} connector in use; its section `[{side}.<kind>]` configures it.",
                side.to_ascii_uppercase()
            ),
        }),
    );
    let network = generator.subschema_for::<NetworkPolicy>().to_value();
    for vendor in &vendors {
        let mut section = (vendor.section)(generator).to_value();
        // Every vendor section takes `network` (read here, not by the vendor's type).
        if let Some(properties) = section
            .get_mut("properties")
            .and_then(serde_json::Value::as_object_mut)
        {
            properties.insert("network".into(), network.clone());
        }
        properties.insert(vendor.kind.into(), section);
    }
    schemars::json_schema!({"type": "object", "properties": properties, "required": ["kind"]})
}

/// Schema of `[fulfilment_sync.crm]`: every CRM's fulfilment-sync field maps.
pub fn fulfilment_sync_crm_schema(generator: &mut SchemaGenerator) -> Schema {
    fulfilment_maps_schema(Role::Crm, generator)
}

/// Schema of `[fulfilment_sync.erp]`: every ERP's fulfilment-sync field maps.
pub fn fulfilment_sync_erp_schema(generator: &mut SchemaGenerator) -> Schema {
    fulfilment_maps_schema(Role::Erp, generator)
}

fn fulfilment_maps_schema(role: Role, generator: &mut SchemaGenerator) -> Schema {
    let mut properties = serde_json::Map::new();
    for vendor in vendor_schemas().into_iter().filter(|v| v.role == role) {
        if let Some(maps) = vendor.fulfilment_sync {
            properties.insert(vendor.kind.into(), maps(generator).to_value());
        }
    }
    schemars::json_schema!({"type": "object", "properties": properties})
}

fn field_maps_schema(role: Role, generator: &mut SchemaGenerator) -> Schema {
    let mut properties = serde_json::Map::new();
    for vendor in vendor_schemas().into_iter().filter(|v| v.role == role) {
        if let Some(maps) = vendor.deal_to_order {
            properties.insert(vendor.kind.into(), maps(generator).to_value());
        }
    }
    schemars::json_schema!({"type": "object", "properties": properties})
}

/// The README's capability table for `bundles` (one row per vendor, one column
/// per [`crate::Capability`]), kept in step with the declarations by a test.
pub fn capability_table(bundles: &[Capabilities]) -> String {
    use std::fmt::Write as _;

    let mut table = String::from("| system | role |");
    for capability in crate::Capability::ALL {
        let _ = write!(table, " {capability} |");
    }
    table.push_str("\n|---|---|");
    table.push_str(&"---|".repeat(crate::Capability::ALL.len()));
    for bundle in bundles {
        let _ = write!(
            table,
            "\n| {} | {} |",
            bundle.system(),
            bundle.role().as_str()
        );
        for capability in crate::Capability::ALL {
            table.push_str(if bundle.has(*capability) {
                " yes |"
            } else {
                " |"
            });
        }
    }
    table.push('\n');
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use crate::conformance::{dev_maps, dev_section, manifest_dir};
    use serde_json::json;

    const TABLE_BEGIN: &str = "<!-- capability-table:begin -->\n";
    const TABLE_END: &str = "<!-- capability-table:end -->";

    /// Every vendor built from `config/dev.toml` (Tryton, not in it because
    /// `make run` starts no Tryton server, from a minimal section).
    fn every_vendor() -> Vec<Capabilities> {
        let url = "http://127.0.0.1:1";
        let crms = CRM_KINDS
            .iter()
            .map(|kind| build_crm(kind, Some(dev_section(Role::Crm, kind, url)), &dev_maps()));
        let erps = ERP_KINDS.iter().map(|kind| {
            let section = if *kind == tryton::SYSTEM {
                json!({"base_url": url, "database": "tryton", "username": "admin", "password": "admin", "network": {"allow_loopback": true}})
            } else {
                dev_section(Role::Erp, kind, url)
            };
            build_erp(kind, Some(section), &dev_maps())
        });
        crms.chain(erps)
            .collect::<Result<Vec<_>, _>>()
            .expect("every vendor builds from its dev section")
    }

    #[test]
    fn a_literal_non_public_vendor_url_is_refused_at_start_up_unless_allowed() {
        let section = |url: &str, network: serde_json::Value| {
            let mut section = dev_section(Role::Erp, netsuite::SYSTEM, url);
            section["network"] = network;
            section
        };
        for (url, class) in [
            ("http://169.254.169.254", "link-local"),
            ("http://10.1.2.3:8080", "private"),
            ("http://[::ffff:192.168.0.1]", "private"),
        ] {
            let err = build_erp(
                netsuite::SYSTEM,
                Some(section(url, json!({"allow_loopback": true}))),
                &dev_maps(),
            )
            .expect_err("refused");
            let text = err.to_string();
            assert!(
                text.contains("erp.netsuite.base_url") && text.contains(class),
                "{url}: {text}"
            );
        }
        let private = json!({"allow_private": true});
        assert!(
            build_erp(
                netsuite::SYSTEM,
                Some(section("http://10.1.2.3:8080", private)),
                &dev_maps()
            )
            .is_ok()
        );
        let err = build_erp(
            netsuite::SYSTEM,
            Some(section(
                "http://127.0.0.1:1",
                json!({"allow_everything": true}),
            )),
            &dev_maps(),
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("erp.netsuite.network"), "{err}");
    }

    #[test]
    fn the_readme_capability_table_matches_the_declarations() {
        let path = manifest_dir().join("../../README.md");
        let readme = std::fs::read_to_string(&path).expect("README.md");
        let expected = capability_table(&every_vendor());
        let start = readme
            .find(TABLE_BEGIN)
            .expect("README has the table markers")
            + TABLE_BEGIN.len();
        let end = readme.find(TABLE_END).expect("README has the end marker");
        if readme[start..end] != expected {
            if std::env::var_os("CRMERP_BLESS").is_some() {
                let updated = format!("{}{expected}{}", &readme[..start], &readme[end..]);
                std::fs::write(&path, updated).expect("README.md written");
            } else {
                panic!(
                    "README.md's capability table is out of date (rerun with CRMERP_BLESS=1 to rewrite it); expected:\n{expected}"
                );
            }
        }
    }

    #[test]
    fn every_vendor_declares_what_its_role_needs_for_deal_to_order() {
        for bundle in every_vendor() {
            let ok = match bundle.role() {
                Role::Crm => bundle.deal_source("deal-to-order").is_ok(),
                Role::Erp => {
                    bundle.customer_master("deal-to-order").is_ok()
                        && bundle.order_sink("deal-to-order").is_ok()
                }
            };
            assert!(ok, "{bundle:?}");
        }
    }

    #[test]
    fn the_reference_lists_every_vendor_in_the_selection_order() {
        let kinds: Vec<&str> = vendor_schemas().iter().map(|v| v.kind).collect();
        let expected: Vec<&str> = CRM_KINDS.iter().chain(ERP_KINDS).copied().collect();
        assert_eq!(kinds, expected);
        for vendor in vendor_schemas() {
            let listed = match vendor.role {
                Role::Crm => CRM_KINDS,
                Role::Erp => ERP_KINDS,
            };
            assert!(
                listed.contains(&vendor.kind),
                "{} is not a {:?}",
                vendor.kind,
                vendor.role
            );
        }
    }

    #[test]
    fn unknown_kind_names_the_supported_ones() {
        let err = build_crm("nope", None, &FlowMaps::new()).expect_err("rejected");
        assert!(err.to_string().contains("crm.kind"), "{err}");
        assert!(err.to_string().contains("hubspot"), "{err}");
        assert!(build_erp("nope", None, &FlowMaps::new()).is_err());
    }

    #[test]
    fn missing_section_and_missing_keys_are_named() {
        let err = build_erp("netsuite", None, &FlowMaps::new()).expect_err("rejected");
        assert!(err.to_string().contains("[erp.netsuite] section"), "{err}");
        let err = build_crm(
            "hubspot",
            Some(json!({"base_url": "http://127.0.0.1:1"})),
            &FlowMaps::new(),
        )
        .expect_err("rejected");
        assert!(
            err.to_string().contains("crm.hubspot") || err.to_string().contains("hubspot."),
            "{err}"
        );
    }

    #[test]
    fn sections_set_by_environment_convert_where_the_type_asks() {
        let erp = build_erp(
            "netsuite",
            Some(
                json!({"base_url": "http://localhost:9201", "account_id": 1234567,
                "consumer_key": "k", "consumer_secret": "s", "token_id": 42, "token_secret": "ts",
                "timeouts": {"request_timeout_ms": "2500"}}),
            ),
            &FlowMaps::new(),
        );
        assert!(erp.is_ok(), "{:?}", erp.err());
        let err = build_erp(
            "netsuite",
            Some(
                json!({"base_url": "http://localhost:9201", "account_id": "1",
                "consumer_key": "k", "consumer_secret": "s", "token_id": "t", "token_secret": "ts",
                "timeouts": {"request_timeout_ms": "soon"}}),
            ),
            &FlowMaps::new(),
        )
        .expect_err("not a number");
        assert!(err.to_string().contains("erp.netsuite"), "{err}");
    }

    #[test]
    fn a_complete_section_builds() {
        let crm = build_crm(
            "hubspot",
            Some(
                json!({"base_url": "http://localhost:9101", "access_token": "t", "client_secret": "s"}),
            ),
            &FlowMaps::new(),
        );
        assert!(crm.is_ok(), "{:?}", crm.err());
        let erp = build_erp(
            "netsuite",
            Some(
                json!({"base_url": "http://localhost:9201", "account_id": "1234567_SB1", "consumer_key": "k",
                        "consumer_secret": "s", "token_id": "t", "token_secret": "ts"}),
            ),
            &FlowMaps::new(),
        );
        assert!(erp.is_ok(), "{:?}", erp.err());
    }

    #[test]
    fn field_maps_come_from_the_flow_section_or_their_old_place() {
        let section = json!({"base_url": "http://localhost:9203", "auth": {"kind": "basic", "username": "u", "password": "p"}});
        let maps = FlowMaps::new().with(
            DEAL_TO_ORDER,
            Some(json!({"erp": {"s4hana": {"sales_organization": "1010",
                "distribution_channel": "10", "organization_division": "00"}}})),
        );
        let built = build_erp("s4hana", Some(section.clone()), &maps);
        assert!(built.is_ok(), "{:?}", built.err());
        // Without the flow's maps the error names the key in the flow's section.
        let err = build_erp("s4hana", Some(section.clone()), &FlowMaps::new())
            .expect_err("no sales organisation");
        assert!(
            err.to_string()
                .contains("deal_to_order.erp.s4hana.sales_organization"),
            "{err}"
        );
        // A pre-split section (maps inside the vendor section) still builds,
        // even for vendors whose sections refuse unknown keys.
        let mut legacy = section.clone();
        legacy["sales_organization"] = json!("1010");
        legacy["distribution_channel"] = json!("10");
        legacy["organization_division"] = json!("00");
        let built = build_erp("s4hana", Some(legacy.clone()), &FlowMaps::new());
        assert!(built.is_ok(), "{:?}", built.err());
        // The same key in both places with different values is refused.
        legacy["sales_organization"] = json!("1710");
        let err = build_erp("s4hana", Some(legacy), &maps).expect_err("conflict");
        assert!(
            err.to_string().contains("erp.s4hana.sales_organization"),
            "{err}"
        );
        // Connection keys are refused in the flow's section.
        let maps = FlowMaps::new().with(
            DEAL_TO_ORDER,
            Some(json!({"erp": {"s4hana": {"sales_organization": "1010",
                "distribution_channel": "10", "organization_division": "00", "base_url": "x"}}})),
        );
        let err = build_erp("s4hana", Some(section), &maps).expect_err("not a field map");
        assert!(
            err.to_string().contains("deal_to_order.erp.s4hana"),
            "{err}"
        );
    }
}

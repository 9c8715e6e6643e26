//! The table of simulators: the one place a simulator is registered. The
//! `crmerp-sandbox` binary derives its `--<name>-addr` flags from it, [`crate::serve`]
//! builds simulators from it, and [`VENDORS`] (read by the connector tests and
//! the bench) lists its names. Adding a simulator is one [`SimulatorSpec`] here.

use crate::error::SandboxError;
use crate::kit::{Context, Simulator};
use crate::{
    businesscentral, dynamics365, hubspot, netsuite, oraclefusion, pipedrive, s4hana, salesforce,
};

/// Builds one simulator, loading its persisted state.
type Build = fn(&Context<'_>) -> Result<Simulator, SandboxError>;

/// One simulated vendor.
#[derive(Clone, Copy)]
pub struct SimulatorSpec {
    /// Listener name, the `<name>` of `--<name>-addr` and of `<state_dir>/<name>.json`.
    pub name: &'static str,
    /// The `--<name>-addr` flag, without the dashes.
    pub addr_flag: &'static str,
    /// The environment variable setting the same address.
    pub addr_env: &'static str,
    /// The address the binary binds by default.
    pub default_addr: &'static str,
    /// Where the vendor's API is mounted on its listener (besides token endpoints).
    pub mount: &'static str,
    build: Build,
}

impl std::fmt::Debug for SimulatorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorSpec")
            .field("name", &self.name)
            .field("default_addr", &self.default_addr)
            .field("mount", &self.mount)
            .finish_non_exhaustive()
    }
}

/// Every simulator, in the order the binary binds them.
pub const SIMULATORS: &[SimulatorSpec] = &[
    SimulatorSpec {
        name: "hubspot",
        addr_flag: "hubspot-addr",
        addr_env: "SANDBOX_HUBSPOT_ADDR",
        default_addr: "127.0.0.1:9101",
        mount: "/crm/v3, /crm/v4",
        build: hubspot::build,
    },
    SimulatorSpec {
        name: "netsuite",
        addr_flag: "netsuite-addr",
        addr_env: "SANDBOX_NETSUITE_ADDR",
        default_addr: "127.0.0.1:9201",
        mount: "/services/rest/record/v1",
        build: netsuite::build,
    },
    SimulatorSpec {
        name: "salesforce",
        addr_flag: "salesforce-addr",
        addr_env: "SANDBOX_SALESFORCE_ADDR",
        default_addr: "127.0.0.1:9102",
        mount: "/services/data/{version}",
        build: salesforce::build,
    },
    SimulatorSpec {
        name: "businesscentral",
        addr_flag: "businesscentral-addr",
        addr_env: "SANDBOX_BUSINESSCENTRAL_ADDR",
        default_addr: "127.0.0.1:9202",
        mount: "/v2.0/{tenant}/{environment}/api/v2.0",
        build: businesscentral::build,
    },
    SimulatorSpec {
        name: "pipedrive",
        addr_flag: "pipedrive-addr",
        addr_env: "SANDBOX_PIPEDRIVE_ADDR",
        default_addr: "127.0.0.1:9103",
        mount: "/api/v2, /api/v1",
        build: pipedrive::build,
    },
    SimulatorSpec {
        name: "s4hana",
        addr_flag: "s4hana-addr",
        addr_env: "SANDBOX_S4HANA_ADDR",
        default_addr: "127.0.0.1:9203",
        mount: "/sap/opu/odata/sap/{service}",
        build: s4hana::build,
    },
    SimulatorSpec {
        name: "dynamics365",
        addr_flag: "dynamics365-addr",
        addr_env: "SANDBOX_DYNAMICS365_ADDR",
        default_addr: "127.0.0.1:9104",
        mount: "/api/data/{version}",
        build: dynamics365::build,
    },
    SimulatorSpec {
        name: "oraclefusion",
        addr_flag: "oraclefusion-addr",
        addr_env: "SANDBOX_ORACLEFUSION_ADDR",
        default_addr: "127.0.0.1:9204",
        mount: "/{api}/resources/{version}",
        build: oraclefusion::build,
    },
];

const NAMES: [&str; SIMULATORS.len()] = {
    let mut names = [""; SIMULATORS.len()];
    let mut i = 0;
    while i < SIMULATORS.len() {
        names[i] = SIMULATORS[i].name;
        i += 1;
    }
    names
};

/// Every simulated vendor, by the name of its listener and `--<name>-addr` flag.
pub const VENDORS: &[&str] = &NAMES;

/// Builds the simulator called `name`, loading its persisted state.
pub(crate) fn build(name: &str, ctx: &Context<'_>) -> Result<Simulator, SandboxError> {
    let spec = SIMULATORS
        .iter()
        .find(|spec| spec.name == name)
        .ok_or_else(|| SandboxError::UnknownVendor(name.to_owned()))?;
    (spec.build)(ctx)
}

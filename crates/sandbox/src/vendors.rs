//! The simulators by vendor name: the one place that maps a listener name to a
//! simulator. Each vendor adds its name to [`VENDORS`] and one arm to [`build`].

use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::config::SandboxConfig;
use crate::error::SandboxError;
use crate::persist::Persister;
use crate::{
    businesscentral, dynamics365, hubspot, netsuite, oraclefusion, pipedrive, s4hana, salesforce,
};

/// Every simulated vendor, by the name of its listener and `--<name>-addr` flag.
pub const VENDORS: &[&str] = &[
    "hubspot",
    "netsuite",
    "salesforce",
    "businesscentral",
    "pipedrive",
    "s4hana",
    "dynamics365",
    "oraclefusion",
];

/// One vendor simulator, ready to serve.
pub(crate) struct Simulator {
    /// Listener name.
    pub(crate) name: &'static str,
    /// Vendor paths plus the `/__sandbox/` control endpoints.
    pub(crate) router: Router,
    /// Saves its state to the state directory, when one is configured.
    pub(crate) persister: Option<Persister>,
}

/// Builds the simulator called `name`, loading its persisted state.
pub(crate) fn build(
    name: &'static str,
    config: &SandboxConfig,
    shutdown: &CancellationToken,
) -> Result<Simulator, SandboxError> {
    let state_dir = config.state_dir.as_deref();
    let (router, persister) = match name {
        "hubspot" => {
            let sim = hubspot::HubSpot::new(config.hubspot.clone(), state_dir, shutdown)?;
            (sim.router(), sim.persister())
        }
        "netsuite" => {
            let sim = netsuite::NetSuite::new(config.netsuite.clone(), state_dir)?;
            (sim.router(), sim.persister())
        }
        "dynamics365" => {
            let sim =
                dynamics365::Dynamics365::new(config.dynamics365.clone(), state_dir, shutdown)?;
            (sim.router(), sim.persister())
        }
        "pipedrive" => {
            let sim = pipedrive::Pipedrive::new(config.pipedrive.clone(), state_dir, shutdown)?;
            (sim.router(), sim.persister())
        }
        "salesforce" => {
            let sim = salesforce::Salesforce::new(config.salesforce.clone(), state_dir, shutdown)?;
            (sim.router(), sim.persister())
        }
        "businesscentral" => {
            let sim =
                businesscentral::BusinessCentral::new(config.businesscentral.clone(), state_dir)?;
            (sim.router(), sim.persister())
        }
        "s4hana" => {
            let sim = s4hana::S4Hana::new(config.s4hana.clone(), state_dir)?;
            (sim.router(), sim.persister())
        }
        "oraclefusion" => {
            let sim = oraclefusion::OracleFusion::new(config.oraclefusion.clone(), state_dir)?;
            (sim.router(), sim.persister())
        }
        other => return Err(SandboxError::UnknownVendor(other.to_owned())),
    };
    Ok(Simulator {
        name,
        router,
        persister,
    })
}

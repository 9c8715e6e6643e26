//! The simulators by vendor name: the one place that maps a listener name to a
//! simulator. Each vendor adds its name to [`VENDORS`] and one arm to [`build`].

use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::config::SandboxConfig;
use crate::error::SandboxError;
use crate::persist::Persister;
use crate::{hubspot, netsuite};

/// Every simulated vendor, by the name of its listener and `--<name>-addr` flag.
pub const VENDORS: &[&str] = &["hubspot", "netsuite"];

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
        other => return Err(SandboxError::UnknownVendor(other.to_owned())),
    };
    Ok(Simulator {
        name,
        router,
        persister,
    })
}

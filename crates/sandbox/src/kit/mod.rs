//! The simulator kit: what every vendor simulator is made of, written once.
//!
//! - [`SimState`]: the vendor's data behind a lock, loaded from and saved to
//!   `<state_dir>/<vendor>.json` (debounced, atomic), replaced on reset.
//! - [`assemble`]: wraps a simulator's router with the `/__sandbox/` control
//!   plane (faults, request log, state, reset) and returns the ready
//!   [`Simulator`]: the table entry's constructor ends with it.
//! - [`oauth`]: issued bearer tokens, Basic and bearer header parsing, and the
//!   client-credentials form, for every token endpoint.
//! - [`emitter`]: outbound webhooks with retries and a delivery log, plus the
//!   `/__sandbox/webhooks` control endpoints.
//!
//! The table of simulators is [`crate::vendors::SIMULATORS`].

pub(crate) mod emitter;
pub(crate) mod entra;
pub(crate) mod fulfilment;
pub(crate) mod oauth;
pub(crate) mod persist;
mod state;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::SandboxConfig;
use crate::control::{self, ControlPlane, FaultRenderer, VendorControl};
pub(crate) use persist::Persister;
pub(crate) use state::SimState;

/// What a simulator's constructor gets.
pub(crate) struct Context<'a> {
    /// The whole sandbox configuration; each simulator reads its own section.
    pub(crate) config: &'a SandboxConfig,
    /// Where state files live, if anywhere.
    pub(crate) state_dir: Option<&'a Path>,
    /// Cancelled when the sandbox stops; background deliveries end with it.
    pub(crate) shutdown: &'a CancellationToken,
}

/// One vendor simulator, ready to serve.
pub(crate) struct Simulator {
    /// Vendor paths plus the `/__sandbox/` control endpoints.
    pub(crate) router: Router,
    /// Saves its state to the state directory, when one is configured.
    pub(crate) persister: Option<Persister>,
}

/// The control plane's view of a simulator: its state and what else a reset forgets.
struct Control<S, T> {
    shared: Arc<S>,
    state: fn(&S) -> &SimState<T>,
    forget: fn(&S),
}

impl<S, T> VendorControl for Control<S, T>
where
    S: Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn dump_state(&self) -> Result<Value, serde_json::Error> {
        (self.state)(&self.shared).dump()
    }

    fn reset(&self) {
        (self.state)(&self.shared).reset();
        (self.forget)(&self.shared);
    }
}

/// Wraps `vendor_router` (already given its state) with the control plane: the
/// `/__sandbox/` state and reset endpoints use `state(shared)` and call
/// `forget(shared)` on reset (tokens, delivery logs); injected faults are answered
/// by `render_fault` in the vendor's own error shape.
pub(crate) fn assemble<S, T>(
    shared: Arc<S>,
    state: fn(&S) -> &SimState<T>,
    forget: fn(&S),
    vendor_router: Router,
    render_fault: FaultRenderer,
) -> Simulator
where
    S: Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let persister = state(&shared).persister();
    let control = Arc::new(Control {
        shared,
        state,
        forget,
    });
    let router = control::wrap(vendor_router, ControlPlane::new(render_fault), control);
    Simulator { router, persister }
}

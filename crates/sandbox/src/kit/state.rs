//! [`SimState`]: a simulator's data behind a lock, loaded from and saved to
//! `<state_dir>/<vendor>.json`, and reset on demand.

use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::persist::{self, DirtyFlag, Persister};
use crate::error::SandboxError;
use crate::util;

/// One simulator's persistent state.
pub(crate) struct SimState<T> {
    vendor: &'static str,
    data: Arc<RwLock<T>>,
    dirty: DirtyFlag,
    file: Option<std::path::PathBuf>,
    /// The data a reset starts from.
    fresh: fn() -> T,
}

impl<T> SimState<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Loads `<state_dir>/<vendor>.json`, or starts from `fresh()` when there is no
    /// directory or no file yet; a reset starts from `fresh()` too.
    pub(crate) fn load(
        vendor: &'static str,
        state_dir: Option<&Path>,
        fresh: fn() -> T,
    ) -> Result<Self, SandboxError> {
        Self::load_with(vendor, state_dir, fresh, |_| {})
    }

    /// [`SimState::load`], then `prepare` (e.g. rebuilding indexes that are not saved).
    pub(crate) fn load_with(
        vendor: &'static str,
        state_dir: Option<&Path>,
        fresh: fn() -> T,
        prepare: impl FnOnce(&mut T),
    ) -> Result<Self, SandboxError> {
        let file = state_dir.map(|dir| dir.join(format!("{vendor}.json")));
        let mut data = match &file {
            Some(path) => persist::load(path)?.unwrap_or_else(fresh),
            None => fresh(),
        };
        prepare(&mut data);
        Ok(Self {
            vendor,
            data: Arc::new(RwLock::new(data)),
            dirty: DirtyFlag::default(),
            file,
            fresh,
        })
    }

    /// Read access.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        util::read(&self.data)
    }

    /// Write access; marks the state dirty for persistence.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.dirty.mark();
        util::write(&self.data)
    }

    /// Starts over from the fresh state (`POST /__sandbox/reset`).
    pub(crate) fn reset(&self) {
        *self.write() = (self.fresh)();
    }

    /// The state as JSON (`GET /__sandbox/state`).
    pub(crate) fn dump(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(&*self.read())
    }

    /// Saves the state file after changes, when a state directory is configured.
    pub(crate) fn persister(&self) -> Option<Persister> {
        let path = self.file.clone()?;
        let data = Arc::clone(&self.data);
        Some(Persister::new(
            self.vendor,
            path,
            self.dirty.clone(),
            Arc::new(move || serde_json::to_vec(&*util::read(&data))),
        ))
    }
}

//! Debounced, atomic persistence of a vendor's state as one JSON file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::SandboxError;

/// At most one write per this interval while the state keeps changing.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Records that the state changed and wakes the persister.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirtyFlag {
    inner: Arc<DirtyInner>,
}

#[derive(Debug, Default)]
struct DirtyInner {
    dirty: AtomicBool,
    notify: Notify,
}

impl DirtyFlag {
    /// Marks the state as changed. Cheap enough to call on every mutation.
    pub(crate) fn mark(&self) {
        if !self.inner.dirty.swap(true, Ordering::AcqRel) {
            self.inner.notify.notify_one();
        }
    }

    fn take(&self) -> bool {
        self.inner.dirty.swap(false, Ordering::AcqRel)
    }
}

/// Produces the JSON bytes of the current state.
pub(crate) type SnapshotFn = dyn Fn() -> Result<Vec<u8>, serde_json::Error> + Send + Sync;

/// Writes one vendor's state file whenever it is dirty, at most every [`DEBOUNCE`].
#[derive(Clone)]
pub(crate) struct Persister {
    vendor: &'static str,
    path: PathBuf,
    flag: DirtyFlag,
    snapshot: Arc<SnapshotFn>,
}

impl Persister {
    /// Creates a persister writing `path` from `snapshot` whenever `flag` is marked.
    pub(crate) fn new(
        vendor: &'static str,
        path: PathBuf,
        flag: DirtyFlag,
        snapshot: Arc<SnapshotFn>,
    ) -> Self {
        Self {
            vendor,
            path,
            flag,
            snapshot,
        }
    }

    /// Runs until `shutdown`, writing the state after changes. The final write is [`flush`].
    ///
    /// [`flush`]: Persister::flush
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = self.flag.inner.notify.notified() => {}
                () = shutdown.cancelled() => return,
            }
            // Coalesce a burst of changes into one write.
            tokio::select! {
                () = tokio::time::sleep(DEBOUNCE) => {}
                () = shutdown.cancelled() => return,
            }
            if let Err(error) = self.write_if_dirty().await {
                tracing::error!(vendor = self.vendor, error = %error, "Failed to save state.");
            }
        }
    }

    /// Writes the state now if it changed since the last write.
    pub(crate) async fn flush(&self) -> Result<(), SandboxError> {
        self.write_if_dirty().await
    }

    async fn write_if_dirty(&self) -> Result<(), SandboxError> {
        if !self.flag.take() {
            return Ok(());
        }
        let bytes = (self.snapshot)().map_err(|source| SandboxError::SerializeState {
            vendor: self.vendor,
            source,
        })?;
        let path = self.path.clone();
        let result = tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
            .await
            .map_err(SandboxError::Task)?;
        if result.is_err() {
            // Try again on the next change or at shutdown.
            self.flag.inner.dirty.store(true, Ordering::Release);
        }
        result
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    let error = |source| SandboxError::WriteState {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&tmp).map_err(error)?;
        file.write_all(bytes).map_err(error)?;
        file.sync_all().map_err(error)?;
    }
    std::fs::rename(&tmp, path).map_err(error)
}

/// Loads a state file, or `None` when it does not exist.
pub(crate) fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, SandboxError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SandboxError::ReadState {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| SandboxError::ParseState {
            path: path.to_path_buf(),
            source,
        })
}

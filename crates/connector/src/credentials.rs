//! Credentials a vendor hands back and that must outlive the process: e.g. a
//! rotated OAuth refresh token, which replaces the configured one. Connectors
//! are built before the service reaches its store (JetStream KV), so they get
//! a [`CredentialSlot`] the service fills once the store is up; until then (and
//! in processes without a store) the newest value lives in memory only.

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use secrecy::SecretString;

/// The credential store did not answer or refused the write.
#[derive(Debug, thiserror::Error)]
#[error("credential store: {0}")]
pub struct CredentialStoreError(pub String);

/// A durable, shared place for credentials, keyed by a name such as
/// `pipedrive.refresh_token.<client id>`; every replica reads the same value.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// The stored value of `key`, if any.
    async fn load(&self, key: &str) -> Result<Option<SecretString>, CredentialStoreError>;

    /// Replaces the value of `key`.
    async fn save(&self, key: &str, value: &SecretString) -> Result<(), CredentialStoreError>;
}

/// Where a connector finds the [`CredentialStore`] once the service attached
/// it; cheap to clone, every clone sees the same store.
#[derive(Clone, Default)]
pub struct CredentialSlot(Arc<OnceLock<Arc<dyn CredentialStore>>>);

impl fmt::Debug for CredentialSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSlot")
            .field("attached", &self.0.get().is_some())
            .finish()
    }
}

impl CredentialSlot {
    /// An empty slot: credentials stay in memory until a store is attached.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches `store`; false when one was attached already (the first stays).
    pub fn attach(&self, store: Arc<dyn CredentialStore>) -> bool {
        self.0.set(store).is_ok()
    }

    /// The attached store, if any.
    pub fn store(&self) -> Option<Arc<dyn CredentialStore>> {
        self.0.get().cloned()
    }
}

//! The durable [`CredentialStore`] of a service: one JetStream KV bucket
//! (`CONNECTOR_CREDENTIALS`), so a credential a vendor rotated (a Pipedrive
//! refresh token) survives restarts and reaches every replica.
//!
//! The bucket holds live credentials: NATS accounts and permissions must keep
//! it to the crmerp services, as they do for the streams.

use async_nats::jetstream::{self, kv};
use async_trait::async_trait;
use crmerp_connector::credentials::{CredentialStore, CredentialStoreError};
use secrecy::{ExposeSecret, SecretString};

use crate::claims::encode_key_part;

/// Credentials in a JetStream KV bucket; cheap to clone.
#[derive(Clone)]
pub struct KvCredentialStore {
    store: kv::Store,
}

impl std::fmt::Debug for KvCredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCredentialStore").finish_non_exhaustive()
    }
}

impl KvCredentialStore {
    /// The credentials in `bucket` (declared by the service kit's topology).
    pub async fn bind(js: &jetstream::Context, bucket: &str) -> Result<Self, CredentialStoreError> {
        let store = js
            .get_key_value(bucket)
            .await
            .map_err(|e| CredentialStoreError(e.to_string()))?;
        Ok(Self { store })
    }
}

#[async_trait]
impl CredentialStore for KvCredentialStore {
    async fn load(&self, key: &str) -> Result<Option<SecretString>, CredentialStoreError> {
        let value = self
            .store
            .get(encode_key_part(key))
            .await
            .map_err(|e| CredentialStoreError(e.to_string()))?;
        value
            .map(|bytes| {
                String::from_utf8(bytes.to_vec())
                    .map(SecretString::from)
                    .map_err(|_| CredentialStoreError(format!("stored {key} is not UTF-8")))
            })
            .transpose()
    }

    async fn save(&self, key: &str, value: &SecretString) -> Result<(), CredentialStoreError> {
        self.store
            .put(
                encode_key_part(key),
                value.expose_secret().as_bytes().to_vec().into(),
            )
            .await
            .map(drop)
            .map_err(|e| CredentialStoreError(e.to_string()))
    }
}

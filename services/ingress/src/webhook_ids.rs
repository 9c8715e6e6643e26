//! Re-used webhook ids. JetStream de-duplicates by `Nats-Msg-Id`, which only
//! says "seen"; a Standard Webhooks `webhook-id` re-sent with a different
//! body is either a sender bug or a forgery with a leaked key, and must not
//! pass as a re-send (nor as a new event). The `INGRESS_WEBHOOK_IDS` bucket
//! keeps, per source and id, the SHA-256 of the first payload for the
//! de-duplication window: same digest is a re-send, another is a conflict.

use async_nats::jetstream::kv;
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use crate::Publisher;
use crate::error::IngressError;
use crmerp_service_kit::topology::WEBHOOK_IDS_BUCKET;

/// The webhook-id ledger.
#[derive(Clone)]
pub(crate) struct WebhookIds {
    publisher: Publisher,
    store: std::sync::Arc<OnceCell<kv::Store>>,
}

impl WebhookIds {
    /// A ledger over the publisher's connection; the bucket is bound on first use.
    pub(crate) fn new(publisher: Publisher) -> Self {
        Self {
            publisher,
            store: std::sync::Arc::default(),
        }
    }

    /// Records `id` from `source` with the digest of `body` (a new id, or a
    /// re-send with the same body, passes); 409 when the id was seen with
    /// another body (the original stays), 503 when NATS is down.
    pub(crate) async fn check(
        &self,
        source: &'static str,
        id: &str,
        body: &[u8],
    ) -> Result<(), IngressError> {
        self.publisher.ensure_available()?;
        let store = self.store().await?;
        // Ids are the sender's strings; hashed, they are always a valid key.
        let key = format!("{source}.{}", hex::encode(Sha256::digest(id.as_bytes())));
        let digest = hex::encode(Sha256::digest(body));
        match store.create(&key, digest.clone().into()).await {
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(error) => return Err(unavailable(&error)),
        }
        let first = store.get(&key).await.map_err(|e| unavailable(&e))?;
        match first {
            Some(first) if first.as_ref() == digest.as_bytes() => Ok(()),
            // Expired between the two calls: the window is over, so it is new.
            None => Ok(()),
            Some(_) => {
                self.report_conflict(&store, source, id, &key).await;
                Err(IngressError::IdConflict)
            }
        }
    }

    /// Warns once per conflicting id (across replicas: the first to create the
    /// marker key logs), and counts every conflicting request.
    async fn report_conflict(&self, store: &kv::Store, source: &'static str, id: &str, key: &str) {
        metrics::counter!("crmerp_ingress_webhook_id_conflicts_total", "source" => source)
            .increment(1);
        if store
            .create(&format!("{key}.conflict"), "1".into())
            .await
            .is_ok()
        {
            let id: String = id.chars().take(200).collect();
            tracing::warn!(
                source,
                webhook_id = %id,
                "A webhook id was re-used with a different payload; kept the original and answered 409."
            );
        }
    }

    async fn store(&self) -> Result<kv::Store, IngressError> {
        let js = self.publisher.jetstream();
        self.store
            .get_or_try_init(|| async { js.get_key_value(WEBHOOK_IDS_BUCKET).await })
            .await
            .cloned()
            .map_err(|e| unavailable(&e))
    }
}

fn unavailable(error: &dyn std::fmt::Display) -> IngressError {
    tracing::error!(%error, "Cannot read or write the webhook-id bucket.");
    IngressError::Unavailable
}

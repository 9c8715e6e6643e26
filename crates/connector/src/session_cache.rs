//! A session cache for token flows that return more than a bearer token (the
//! Salesforce `instance_url`) or need a custom grant (JWT bearer); plain client
//! credentials use [`crate::oauth2`]. One refresh at a time, refreshed a margin
//! before expiry, and dropped when the vendor rejects it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::ConnectorError;

/// An access token and what came with it.
#[derive(Debug)]
pub struct Token {
    /// The bearer token.
    pub access_token: SecretString,
    /// The API host the token is for, when the vendor names one (Salesforce `instance_url`).
    pub instance_url: Option<String>,
    /// When the token stops working (as the vendor said, or as configured).
    pub expires_at: Instant,
}

impl Token {
    /// True when `token` is this token (compared without logging either).
    fn is(&self, token: &str) -> bool {
        self.access_token.expose_secret() == token
    }
}

/// The cache. Cheap to share: every clone of the connector's `Arc` sees one token.
#[derive(Debug)]
pub struct SessionCache {
    slot: Mutex<Option<Arc<Token>>>,
    margin: Duration,
}

impl SessionCache {
    /// A cache refreshing `margin` before a token's expiry.
    pub fn new(margin: Duration) -> Self {
        Self {
            slot: Mutex::new(None),
            margin,
        }
    }

    /// The cached token, or a new one from `fetch`. The lock is held while
    /// fetching, so concurrent callers wait for one refresh instead of each
    /// asking the vendor (which would also revoke each other's sessions).
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Arc<Token>, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, ConnectorError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(token) = slot.as_ref()
            && Instant::now() + self.margin < token.expires_at
        {
            return Ok(Arc::clone(token));
        }
        let token = Arc::new(fetch().await?);
        *slot = Some(Arc::clone(&token));
        Ok(token)
    }

    /// Forgets `rejected` (the vendor answered 401 to it). A newer token that
    /// another task already fetched is kept.
    pub async fn invalidate(&self, rejected: &Token) {
        let mut slot = self.slot.lock().await;
        if slot
            .as_ref()
            .is_some_and(|t| t.is(rejected.access_token.expose_secret()))
        {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn token(name: &str, ttl: Duration) -> Token {
        Token {
            access_token: name.into(),
            instance_url: None,
            expires_at: Instant::now() + ttl,
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh() {
        let cache = Arc::new(SessionCache::new(Duration::from_secs(60)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, fetches) = (Arc::clone(&cache), Arc::clone(&fetches));
                tokio::spawn(async move {
                    cache
                        .get(|| async {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok(token("t1", Duration::from_secs(3600)))
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            let got = task.await.expect("join").expect("token");
            assert_eq!(got.access_token.expose_secret(), "t1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refreshes_within_the_margin_and_after_invalidation() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let first = cache
            .get(|| async { Ok(token("near", Duration::from_secs(30))) })
            .await
            .expect("token");
        // 30 s left is inside the 60 s margin: refreshed before it can expire mid-call.
        let second = cache
            .get(|| async { Ok(token("fresh", Duration::from_secs(3600))) })
            .await
            .expect("token");
        assert_eq!(second.access_token.expose_secret(), "fresh");
        cache.invalidate(&first).await;
        let kept = cache
            .get(|| async { Ok(token("unused", Duration::from_secs(3600))) })
            .await
            .expect("token");
        assert_eq!(kept.access_token.expose_secret(), "fresh");
        cache.invalidate(&kept).await;
        let third = cache
            .get(|| async { Ok(token("third", Duration::from_secs(3600))) })
            .await
            .expect("token");
        assert_eq!(third.access_token.expose_secret(), "third");
    }
}

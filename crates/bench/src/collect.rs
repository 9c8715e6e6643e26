//! Reads what the product recorded: stream positions before and after a phase,
//! and the INBOUND and OUTCOMES messages of a phase with their store times.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};

/// How long to wait for the next message of a range before giving up.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a stream stood at one moment.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Mark {
    /// Last sequence (counts every write, even of messages deleted since).
    pub last_seq: u64,
    /// Bytes stored.
    pub bytes: u64,
}

/// Positions of every stream (INBOUND, OUTCOMES, DLQ, KV buckets, ...).
pub async fn marks(js: &jetstream::Context) -> anyhow::Result<BTreeMap<String, Mark>> {
    let infos: Vec<jetstream::stream::Info> = js.streams().try_collect().await?;
    Ok(infos
        .into_iter()
        .map(|info| {
            (
                info.config.name.clone(),
                Mark {
                    last_seq: info.state.last_sequence,
                    bytes: info.state.bytes,
                },
            )
        })
        .collect())
}

/// One stored message.
pub struct Stored {
    /// When JetStream stored it, microseconds since the epoch.
    pub stored_us: i64,
    /// Payload.
    pub payload: Bytes,
}

/// Every message of `stream` with a sequence in `(after, up_to]`.
pub async fn read_range(
    js: &jetstream::Context,
    stream: &str,
    after: u64,
    up_to: u64,
) -> anyhow::Result<Vec<Stored>> {
    let mut stored = Vec::new();
    if up_to <= after {
        return Ok(stored);
    }
    let stream_handle = js.get_stream(stream).await?;
    let reader = stream_handle
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            ..Default::default()
        })
        .await
        .with_context(|| format!("reading {stream}"))?;
    let mut messages = reader.messages().await?;
    loop {
        let next = tokio::time::timeout(READ_TIMEOUT, messages.next()).await;
        let Ok(Some(message)) = next else {
            // Nothing more arrives (a sequence was deleted): the range is done.
            break;
        };
        let message = message?;
        let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
        let seq = info.stream_sequence;
        let stored_us = i64::try_from(info.published.unix_timestamp_nanos() / 1000).unwrap_or(0);
        if seq > up_to {
            break;
        }
        stored.push(Stored {
            stored_us,
            payload: message.payload.clone(),
        });
        if seq == up_to {
            break;
        }
    }
    Ok(stored)
}

//! Connecting to NATS with JetStream.

use std::time::Duration;

use async_nats::jetstream;

use crate::settings::NatsSettings;

/// Parses `nats.url`: one URL or several, comma-separated (a cluster's seed list).
fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, ConnectError> {
    urls.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            url.parse::<async_nats::ServerAddr>()
                .map_err(|error| ConnectError {
                    url: url.to_owned(),
                    source: async_nats::ConnectError::with_source(
                        async_nats::ConnectErrorKind::ServerParse,
                        error,
                    ),
                })
        })
        .collect()
}

/// The NATS connection could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to NATS at {url}: {source}")]
pub struct ConnectError {
    url: String,
    #[source]
    source: async_nats::ConnectError,
}

/// Connects to NATS and returns the client and a JetStream context.
///
/// The first connection is retried in the background (`retry_on_initial_connect`)
/// so a service can start before NATS and become ready when it appears; later
/// disconnects reconnect automatically with backoff.
pub async fn connect(
    settings: &NatsSettings,
    client_name: &str,
) -> Result<(async_nats::Client, jetstream::Context), ConnectError> {
    let client = async_nats::ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        .event_callback(|event| async move {
            tracing::info!(%event, "NATS connection event.");
        })
        .connect(server_addrs(&settings.url)?)
        .await
        .map_err(|source| ConnectError {
            url: settings.url.clone(),
            source,
        })?;
    let mut context = jetstream::new(client.clone());
    context.set_timeout(settings.request_timeout);
    Ok((client, context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_list_is_split_on_commas() {
        let addrs = server_addrs("nats://127.0.0.1:4222, nats://127.0.0.1:4223,").expect("parses");
        assert_eq!(addrs.len(), 2);
        assert!(server_addrs("nats://127.0.0.1:4222").is_ok());
        assert!(server_addrs("not a url:://").is_err());
    }
}

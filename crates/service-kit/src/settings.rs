//! Layered configuration shared by every service.
//!
//! Layers, lowest precedence first: the service's compiled-in defaults (a TOML
//! string), the file named by `CRMERP_CONFIG` (TOML; `config/dev.toml` for
//! `make run`), then environment variables `CRMERP__SECTION__KEY`.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Configuration could not be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer could not be read or parsed, or a value has the wrong type.
    #[error("configuration could not be loaded: {0}")]
    Load(#[from] config::ConfigError),
    /// A setting is missing or invalid; the message names it.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Environment variable naming the configuration file.
pub const CONFIG_FILE_ENV: &str = "CRMERP_CONFIG";

/// Loads settings of type `T` from the layers described in the module docs.
pub fn load_settings<T: DeserializeOwned>(defaults_toml: &str) -> Result<T, ConfigError> {
    let mut builder = config::Config::builder().add_source(config::File::from_str(
        defaults_toml,
        config::FileFormat::Toml,
    ));
    if let Ok(path) = std::env::var(CONFIG_FILE_ENV) {
        builder = builder.add_source(config::File::new(&path, config::FileFormat::Toml));
    }
    let settings = builder
        .add_source(
            config::Environment::with_prefix("CRMERP")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("hubspot.won_stages")
                .with_list_parse_key("crm.hubspot.won_stages")
                .with_list_parse_key("flow.retry_schedule")
                .try_parsing(true),
        )
        .build()?;
    Ok(settings.try_deserialize()?)
}

/// How a service reaches NATS and shapes its streams.
#[derive(Debug, Clone, Deserialize)]
pub struct NatsSettings {
    /// Server URL(s), comma-separated, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Stream replicas: 1 on one machine, 3 in a cluster.
    #[serde(default = "one")]
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` for de-duplication.
    #[serde(default = "default_duplicate_window", with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// How long inbound events are kept (must exceed the whole retry schedule).
    #[serde(default = "default_inbound_max_age", with = "humantime_serde")]
    pub inbound_max_age: Duration,
    /// How long outcomes are kept in JetStream (monitoring keeps them longer in Postgres).
    #[serde(default = "default_outcome_max_age", with = "humantime_serde")]
    pub outcome_max_age: Duration,
    /// Timeout for one JetStream request (publish ack, API call).
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
}

fn one() -> usize {
    1
}
fn default_duplicate_window() -> Duration {
    Duration::from_secs(3600)
}
fn default_inbound_max_age() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_outcome_max_age() -> Duration {
    Duration::from_secs(3 * 24 * 3600)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Probe {
        nats: NatsSettings,
    }

    #[test]
    fn defaults_parse_with_humane_durations() {
        let probe: Probe = config::Config::builder()
            .add_source(config::File::from_str(
                "[nats]\nurl = \"nats://127.0.0.1:4222\"\nduplicate_window = \"2m\"\n",
                config::FileFormat::Toml,
            ))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("parses");
        assert_eq!(probe.nats.duplicate_window, Duration::from_secs(120));
        assert_eq!(probe.nats.replicas, 1);
    }
}

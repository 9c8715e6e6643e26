//! Layered configuration shared by every service.
//!
//! Layers, lowest precedence first: the service's compiled-in defaults (a TOML
//! string), the file or files named by `CRMERP_CONFIG` (TOML; `config/dev.toml`
//! for `make run`; several are comma-separated and a later one wins, so
//! settings every service shares can live in one file next to each service's
//! own), then environment variables `CRMERP__SECTION__KEY`.
//!
//! An environment value takes the type the key has in the layers below: a
//! string stays a string whatever it looks like (an all-digit account id or
//! secret, a leading zero), a number or a boolean is parsed as one, a list is
//! comma-separated (`a,b,c`) or JSON (`["a","b"]`), and a table or a list of
//! tables is JSON (`[{"name":"ops","role":"operator","sha256":"..."}]`). A
//! key no lower layer sets is a string, unless its value starts with `[` or
//! `{` (then JSON); numbers and booleans still convert where the setting
//! expects one. A value that does not fit names its variable and the reason.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

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

/// Prefix (and level separator) of the environment layer.
const ENV_PREFIX: &str = "CRMERP__";

/// Loads settings of type `T` from the layers described in the module docs.
pub fn load_settings<T: DeserializeOwned>(defaults_toml: &str) -> Result<T, ConfigError> {
    let file = std::env::var(CONFIG_FILE_ENV).ok();
    load_settings_from(defaults_toml, file.as_deref(), std::env::vars())
}

/// [`load_settings`] with the file list (`CRMERP_CONFIG`'s value) and the
/// environment given explicitly.
pub fn load_settings_from<T: DeserializeOwned>(
    defaults_toml: &str,
    file: Option<&str>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut builder = config::Config::builder().add_source(config::File::from_str(
        defaults_toml,
        config::FileFormat::Toml,
    ));
    for path in file
        .into_iter()
        .flat_map(|files| files.split(','))
        .map(str::trim)
        .filter(|path| !path.is_empty())
    {
        builder = builder.add_source(config::File::new(path, config::FileFormat::Toml));
    }
    let mut tree: Value = builder.build()?.try_deserialize()?;
    let mut overrides: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX))
        .collect();
    // Deterministic when one variable sets a table and another a key inside it.
    overrides.sort();
    for (name, value) in overrides {
        overlay(&mut tree, &name, &value)?;
    }
    // config's deserializer converts "5000" to a number or 1234 to a string
    // where the settings type asks for one, so typed fields stay lenient.
    Ok(config::Config::try_from(&tree)?.try_deserialize()?)
}

/// Sets the key named by environment variable `name` in `tree`, typed like the value it replaces.
fn overlay(tree: &mut Value, name: &str, raw: &str) -> Result<(), ConfigError> {
    let path: Vec<String> = name[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if path.iter().any(String::is_empty) {
        return Err(invalid(
            name,
            "empty key segment (levels are separated by a double underscore)",
        ));
    }
    let Some((last, parents)) = path.split_last() else {
        return Err(invalid(name, "no key after the prefix"));
    };
    let mut node = tree;
    for (depth, segment) in parents.iter().enumerate() {
        let Value::Object(object) = node else {
            return Err(not_a_section(name, &path[..depth]));
        };
        node = object
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Value::Object(object) = node else {
        return Err(not_a_section(name, parents));
    };
    let typed = typed_value(name, object.get(last), raw)?;
    object.insert(last.clone(), typed);
    Ok(())
}

/// `raw` as the type of `existing` (the value a lower layer gave the key).
/// Error messages never repeat the value: it may be a secret.
fn typed_value(name: &str, existing: Option<&Value>, raw: &str) -> Result<Value, ConfigError> {
    let trimmed = raw.trim();
    match existing {
        Some(Value::String(_)) => Ok(Value::String(raw.to_owned())),
        Some(Value::Bool(_)) => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Bool(false)),
            _ => Err(invalid(name, "expected true or false")),
        },
        Some(Value::Number(_)) => serde_json::from_str::<serde_json::Number>(trimmed)
            .map(Value::Number)
            .map_err(|_| invalid(name, "expected a number")),
        Some(Value::Array(items)) if !trimmed.starts_with('[') => trimmed
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| typed_value(name, items.first(), item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Some(Value::Array(_)) => match json(name, trimmed)? {
            list @ Value::Array(_) => Ok(list),
            _ => Err(invalid(name, "expected a list (`a,b` or JSON `[...]`)")),
        },
        Some(Value::Object(_)) => match json(name, trimmed)? {
            table @ Value::Object(_) => Ok(table),
            _ => Err(invalid(name, "expected a JSON table `{...}`")),
        },
        None | Some(Value::Null) if trimmed.starts_with('[') || trimmed.starts_with('{') => {
            json(name, trimmed)
        }
        None | Some(Value::Null) => Ok(Value::String(raw.to_owned())),
    }
}

fn json(name: &str, text: &str) -> Result<Value, ConfigError> {
    serde_json::from_str(text).map_err(|e| {
        invalid(
            name,
            &format!("not valid JSON (line {}, column {})", e.line(), e.column()),
        )
    })
}

fn invalid(name: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid(format!("{name}: {reason}"))
}

fn not_a_section(name: &str, path: &[String]) -> ConfigError {
    invalid(
        name,
        &format!("`{}` is a value, not a section", path.join(".")),
    )
}

/// The configuration reference's shape of a duration setting read with
/// `humantime` (`#[schemars(with = "HumanDuration")]`): text such as `250ms`,
/// `30s`, `1h 30m`, shown that way instead of `Duration`'s `{secs, nanos}`.
pub struct HumanDuration;

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HumanDuration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "humantime"})
    }
}

/// How a service reaches NATS and shapes its streams.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct NatsSettings {
    /// Server URL(s), comma-separated, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Stream replicas: 1 on one machine, 3 in a cluster.
    #[serde(default = "one")]
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` for de-duplication.
    #[serde(default = "default_duplicate_window", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub duplicate_window: Duration,
    /// How long inbound events are kept (must exceed the whole retry schedule).
    #[serde(default = "default_inbound_max_age", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub inbound_max_age: Duration,
    /// How long outcomes are kept in JetStream (monitoring keeps them longer in Postgres).
    #[serde(default = "default_outcome_max_age", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub outcome_max_age: Duration,
    /// Timeout for one JetStream request (publish ack, API call).
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
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

    #[derive(Debug, Deserialize)]
    struct Sample {
        erp: Erp,
        flow: Flow,
        #[serde(default)]
        monitoring: Monitoring,
    }

    #[derive(Debug, Deserialize)]
    struct Erp {
        account_id: String,
        token_secret: String,
        timeouts: Timeouts,
    }

    #[derive(Debug, Deserialize)]
    struct Timeouts {
        request_timeout_ms: u64,
    }

    #[derive(Debug, Deserialize)]
    struct Flow {
        concurrency: u32,
        enabled: bool,
        retry_schedule: Vec<String>,
        days: Vec<u8>,
    }

    #[derive(Debug, Default, Deserialize)]
    struct Monitoring {
        tokens: Vec<Token>,
    }

    #[derive(Debug, Deserialize)]
    struct Token {
        name: String,
        sha256: String,
    }

    const SAMPLE: &str = r#"
[erp]
account_id = "TSTDRV1"
token_secret = "x"
[erp.timeouts]
request_timeout_ms = 30000
[flow]
concurrency = 8
enabled = true
retry_schedule = ["1s", "5s"]
days = [1, 2, 3, 4, 5]
"#;

    fn load(env: &[(&str, &str)]) -> Result<Sample, ConfigError> {
        load_settings_from(
            SAMPLE,
            None,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn several_files_layer_in_order_and_the_environment_wins() {
        let dir = std::env::temp_dir().join(format!("crmerp-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let shared = dir.join("shared.toml");
        let own = dir.join("own.toml");
        std::fs::write(
            &shared,
            "[a]\nx = \"shared\"\ny = \"shared\"\nz = \"shared\"\n",
        )
        .expect("write");
        std::fs::write(&own, "[a]\ny = \"own\"\n").expect("write");
        let files = format!("{}, {}", shared.display(), own.display());
        let value: Value = load_settings_from(
            "[a]\nx = \"default\"\n",
            Some(&files),
            [("CRMERP__A__Z".to_owned(), "env".to_owned())],
        )
        .expect("loads");
        assert_eq!(
            value["a"],
            serde_json::json!({"x": "shared", "y": "own", "z": "env"})
        );
        let missing = format!("{},{}", shared.display(), dir.join("absent.toml").display());
        assert!(load_settings_from::<Value>("", Some(&missing), []).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn string_settings_stay_strings_whatever_they_look_like() {
        let sample = load(&[
            ("CRMERP__ERP__ACCOUNT_ID", "1234567"),
            ("CRMERP__ERP__TOKEN_SECRET", "007"),
        ])
        .expect("loads");
        assert_eq!(sample.erp.account_id, "1234567");
        assert_eq!(sample.erp.token_secret, "007");
    }

    #[test]
    fn numbers_booleans_lists_and_tables_come_from_the_environment() {
        let sample = load(&[
            ("CRMERP__FLOW__CONCURRENCY", "32"),
            ("CRMERP__FLOW__ENABLED", "false"),
            ("CRMERP__FLOW__RETRY_SCHEDULE", "2s, 10s,1m"),
            ("CRMERP__FLOW__DAYS", "[6, 7]"),
            ("CRMERP__ERP__TIMEOUTS__REQUEST_TIMEOUT_MS", "2500"),
            (
                "CRMERP__MONITORING__TOKENS",
                r#"[{"name":"ops","sha256":"ab12"}]"#,
            ),
            ("OTHER__FLOW__CONCURRENCY", "1"),
        ])
        .expect("loads");
        assert_eq!(sample.flow.concurrency, 32);
        assert!(!sample.flow.enabled);
        assert_eq!(sample.flow.retry_schedule, ["2s", "10s", "1m"]);
        assert_eq!(sample.flow.days, [6, 7]);
        assert_eq!(sample.erp.timeouts.request_timeout_ms, 2500);
        assert_eq!(sample.monitoring.tokens.len(), 1);
        assert_eq!(sample.monitoring.tokens[0].name, "ops");
        assert_eq!(sample.monitoring.tokens[0].sha256, "ab12");
    }

    #[test]
    fn a_bad_value_names_the_variable_and_the_reason_without_the_value() {
        for (name, value, reason) in [
            (
                "CRMERP__FLOW__CONCURRENCY",
                "many-secret",
                "expected a number",
            ),
            (
                "CRMERP__FLOW__ENABLED",
                "perhaps-secret",
                "expected true or false",
            ),
            ("CRMERP__FLOW__DAYS", "[1,", "not valid JSON"),
            ("CRMERP__FLOW__DAYS", "mon-secret", "expected a number"),
            (
                "CRMERP__FLOW__ENABLED__DEEPER",
                "x",
                "is a value, not a section",
            ),
            ("CRMERP__FLOW____X", "x", "empty key segment"),
        ] {
            let err = load(&[(name, value)]).expect_err(name).to_string();
            assert!(err.contains(name) && err.contains(reason), "{err}");
            assert!(!err.contains("secret"), "the value leaked: {err}");
        }
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

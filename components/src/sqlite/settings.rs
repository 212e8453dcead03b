//! The component's metadata: where the database file lives and how long leases and messages last.

use crate::{BrokerError, ComponentConfig};
use std::path::PathBuf;
use std::time::Duration;

/// The metadata keys this component reads (matched case-insensitively, as daprd does).
const KEY_PATH: &str = "path";
const KEY_PROCESSING_TIMEOUT: &str = "processingTimeout";
const KEY_REDELIVER_INTERVAL: &str = "redeliverInterval";
const KEY_RETENTION: &str = "retention";
const KEY_CONSUMER_ID: &str = "consumerID";

const DEFAULT_PROCESSING_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_REDELIVER_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// The database file every sidecar of this machine shares.
    pub path: PathBuf,
    /// How long a delivered message stays leased before it is redelivered.
    pub processing_timeout: Duration,
    /// How often a subscription looks for expired leases when no doorbell rings.
    pub redeliver_interval: Duration,
    /// The maximum age of a stored message.
    pub retention: Duration,
}

impl Settings {
    pub fn from_config(config: &ComponentConfig) -> Result<Self, BrokerError> {
        for key in config.metadata.keys() {
            let known = [KEY_PATH, KEY_CONSUMER_ID, KEY_PROCESSING_TIMEOUT, KEY_REDELIVER_INTERVAL, KEY_RETENTION];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(key)) && !crate::scope_keys::is_scope_key(key) {
                tracing::warn!(component = %config.name, key = %key, "pubsub.sqlite ignores unknown metadata key");
            }
        }
        let path = match config.value(KEY_PATH) {
            Some(path) => expand_home(path)?,
            None => home_dir()?.join(".dapr-rs").join("pubsub.db"),
        };
        Ok(Self {
            path,
            processing_timeout: config.positive_duration(KEY_PROCESSING_TIMEOUT, DEFAULT_PROCESSING_TIMEOUT)?,
            redeliver_interval: config.positive_duration(KEY_REDELIVER_INTERVAL, DEFAULT_REDELIVER_INTERVAL)?,
            retention: config.positive_duration(KEY_RETENTION, DEFAULT_RETENTION)?,
        })
    }
}

fn home_dir() -> Result<PathBuf, BrokerError> {
    home::home_dir()
        .ok_or_else(|| BrokerError::Config(format!("{KEY_PATH}: no home directory to put the default database in; set {KEY_PATH}")))
}

fn expand_home(path: &str) -> Result<PathBuf, BrokerError> {
    match path.strip_prefix('~') {
        Some("") => home_dir(),
        Some(rest) if rest.starts_with('/') || rest.starts_with('\\') => Ok(home_dir()?.join(&rest[1..])),
        _ => Ok(PathBuf::from(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> ComponentConfig {
        ComponentConfig {
            name: "pubsub".into(),
            component_type: "pubsub.sqlite".into(),
            metadata: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>(),
            app_id: "app".into(),
        }
    }

    #[test]
    fn defaults_apply_when_keys_are_missing_or_empty() {
        let settings = Settings::from_config(&config(&[("path", "/tmp/x.db"), ("retention", "")])).unwrap();
        assert_eq!(settings.path, PathBuf::from("/tmp/x.db"));
        assert_eq!(settings.processing_timeout, DEFAULT_PROCESSING_TIMEOUT);
        assert_eq!(settings.redeliver_interval, DEFAULT_REDELIVER_INTERVAL);
        assert_eq!(settings.retention, DEFAULT_RETENTION);
    }

    #[test]
    fn keys_match_case_insensitively() {
        let settings = Settings::from_config(&config(&[("path", "/tmp/x.db"), ("PROCESSINGTIMEOUT", "2s")])).unwrap();
        assert_eq!(settings.processing_timeout, Duration::from_secs(2));
    }

    #[test]
    fn invalid_values_name_their_key() {
        for key in [KEY_PROCESSING_TIMEOUT, KEY_REDELIVER_INTERVAL, KEY_RETENTION] {
            for bad in ["soon", "0", "0s"] {
                match Settings::from_config(&config(&[("path", "/tmp/x.db"), (key, bad)])) {
                    Err(BrokerError::Config(message)) => assert!(message.contains(key), "{message}"),
                    other => panic!("{key}={bad}: expected a Config error, got {other:?}"),
                }
            }
        }
    }
}

//! The component's metadata, with the key names and defaults of Dapr's `pubsub.kafka` (where
//! components-contrib's code and its metadata.yaml disagree, the code wins), turned into the
//! librdkafka settings of one producer and of each subscription's consumer.

use crate::{BrokerError, ComponentConfig};
use rdkafka::ClientConfig;
use regex::Regex;
use std::time::Duration;

const KEY_BROKERS: &str = "brokers";
const KEY_AUTH_TYPE: &str = "authType";
const KEY_CONSUMER_GROUP: &str = "consumerGroup";
const KEY_CLIENT_ID: &str = "clientID";
const KEY_SASL_USERNAME: &str = "saslUsername";
const KEY_SASL_PASSWORD: &str = "saslPassword";
const KEY_SASL_MECHANISM: &str = "saslMechanism";
const KEY_CA_CERT: &str = "caCert";
const KEY_CLIENT_CERT: &str = "clientCert";
const KEY_CLIENT_KEY: &str = "clientKey";
const KEY_DISABLE_TLS: &str = "disableTls";
const KEY_SKIP_VERIFY: &str = "skipVerify";
const KEY_INITIAL_OFFSET: &str = "initialOffset";
const KEY_MAX_MESSAGE_BYTES: &str = "maxMessageBytes";
const KEY_CONSUME_RETRY_INTERVAL: &str = "consumeRetryInterval";
const KEY_HEARTBEAT_INTERVAL: &str = "heartbeatInterval";
const KEY_SESSION_TIMEOUT: &str = "sessionTimeout";
const KEY_VERSION: &str = "version";
const KEY_COMPRESSION: &str = "compression";
const KEY_ESCAPE_HEADERS: &str = "escapeHeaders";
const KEY_BACK_OFF_DURATION: &str = "backOffDuration";
const KEY_EXCLUDE_HEADER_META_REGEX: &str = "excludeHeaderMetaRegex";
const KEY_PRODUCER_REQUIRED_ACKS: &str = "producerRequiredAcks";
const KEY_REBALANCE_STRATEGY: &str = "consumerGroupRebalanceStrategy";

/// Sarama's client id, daprd's default.
const DEFAULT_CLIENT_ID: &str = "sarama";
/// Sarama's `Producer.MaxMessageBytes`, which daprd keeps when the key is unset.
const DEFAULT_MAX_MESSAGE_BYTES: u64 = 1_000_000;
const DEFAULT_CONSUME_RETRY_INTERVAL: Duration = Duration::from_millis(100);
const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// components-contrib's per-message retry: a message the app did not take is tried again after it.
const DEFAULT_BACK_OFF: Duration = Duration::from_secs(5);
/// How long a publish may wait for Kafka before it fails (librdkafka's own default is 5 minutes,
/// which would hold a publisher that long while Kafka is away).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// How the component authenticates, as `authType` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Auth {
    None,
    /// SASL with `saslUsername` / `saslPassword`; the librdkafka mechanism name.
    Password {
        username: String,
        password: String,
        mechanism: &'static str,
    },
    /// TLS client certificates, PEM.
    Mtls {
        client_cert: String,
        client_key: String,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub brokers: String,
    pub auth: Auth,
    /// `consumerGroup`; `None`: the subscription's consumer group (the app id).
    pub consumer_group: Option<String>,
    pub client_id: String,
    pub tls: bool,
    pub ca_cert: Option<String>,
    pub skip_verify: bool,
    /// `initialOffset`: where a consumer group with no committed offset starts.
    pub oldest: bool,
    pub max_message_bytes: u64,
    pub consume_retry_interval: Duration,
    pub heartbeat_interval: Duration,
    pub session_timeout: Duration,
    pub compression: &'static str,
    /// URL-escape the record key and header values handed to the app (an HTTP header cannot carry
    /// every byte).
    pub escape_headers: bool,
    /// Wait before a message the app did not take is tried again.
    pub back_off: Duration,
    /// `excludeHeaderMetaRegex`: metadata keys that do not become headers, and headers that do
    /// not reach the app.
    pub exclude_headers: Option<Regex>,
    /// `producerRequiredAcks` as librdkafka's `acks`: all in-sync replicas (daprd's default), the
    /// leader only, or none.
    pub acks: &'static str,
    /// `consumerGroupRebalanceStrategy` as librdkafka's `partition.assignment.strategy`.
    pub assignment_strategy: &'static str,
}

impl Settings {
    pub fn from_config(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let brokers = config.value(KEY_BROKERS).ok_or_else(|| missing(KEY_BROKERS, "the Kafka brokers, e.g. \"localhost:9092\""))?;
        let auth_type = config.value(KEY_AUTH_TYPE).ok_or_else(|| missing(KEY_AUTH_TYPE, "\"none\", \"password\" or \"mtls\""))?;
        let auth = match auth_type.to_ascii_lowercase().as_str() {
            "none" => Auth::None,
            "password" => Auth::Password {
                username: required(config, KEY_SASL_USERNAME)?,
                password: required(config, KEY_SASL_PASSWORD)?,
                mechanism: match config.value(KEY_SASL_MECHANISM).map(str::to_ascii_uppercase).as_deref() {
                    Some("SHA-512" | "SCRAM-SHA-512") => "SCRAM-SHA-512",
                    Some("SHA-256" | "SCRAM-SHA-256") => "SCRAM-SHA-256",
                    Some("PLAIN") | None => "PLAIN",
                    Some(other) => {
                        return Err(BrokerError::Config(format!(
                            "{KEY_SASL_MECHANISM}: {other:?} is not supported (expected \"PLAIN\", \"SHA-256\" or \"SHA-512\")"
                        )));
                    }
                },
            },
            "mtls" => Auth::Mtls { client_cert: required(config, KEY_CLIENT_CERT)?, client_key: required(config, KEY_CLIENT_KEY)? },
            other => {
                return Err(BrokerError::Config(format!(
                    "{KEY_AUTH_TYPE}: {other:?} is not supported here (supported: \"none\", \"password\", \"mtls\")"
                )));
            }
        };
        // As daprd: TLS unless it is switched off or there is no authentication at all.
        let tls = !config.flag(KEY_DISABLE_TLS)? && auth != Auth::None;
        let oldest = match config.value(KEY_INITIAL_OFFSET).map(str::to_ascii_lowercase).as_deref() {
            None | Some("newest") => false,
            Some("oldest") => true,
            Some(other) => {
                return Err(BrokerError::Config(format!("{KEY_INITIAL_OFFSET}: {other:?} is neither \"newest\" nor \"oldest\"")));
            }
        };
        let compression = match config.value(KEY_COMPRESSION).map(str::to_ascii_lowercase).as_deref() {
            None | Some("none") => "none",
            Some("gzip") => "gzip",
            Some("snappy") => "snappy",
            Some("lz4") => "lz4",
            Some("zstd") => "zstd",
            Some(other) => {
                return Err(BrokerError::Config(format!(
                    "{KEY_COMPRESSION}: {other:?} is not one of \"none\", \"gzip\", \"snappy\", \"lz4\", \"zstd\""
                )));
            }
        };
        if let Some(version) = config.value(KEY_VERSION)
            && !version.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(BrokerError::Config(format!("{KEY_VERSION}: {version:?} is not a Kafka version such as \"2.0.0.0\"")));
        }
        let acks = match config.value(KEY_PRODUCER_REQUIRED_ACKS).map(str::to_ascii_lowercase).as_deref() {
            None | Some("all" | "waitforall") => "all",
            Some("local" | "waitforlocal") => "1",
            Some("none" | "noresponse") => "0",
            Some(other) => {
                return Err(BrokerError::Config(format!(
                    "{KEY_PRODUCER_REQUIRED_ACKS}: {other:?} is not one of \"all\", \"local\", \"none\""
                )));
            }
        };
        // Sarama's "sticky" is the eager sticky assignor, which librdkafka does not have; its
        // cooperative-sticky keeps the same assignments and moves only what has to move.
        let assignment_strategy = match config.value(KEY_REBALANCE_STRATEGY).map(str::to_ascii_lowercase).as_deref() {
            None | Some("range") => "range",
            Some("roundrobin") => "roundrobin",
            Some("sticky") => "cooperative-sticky",
            Some(other) => {
                return Err(BrokerError::Config(format!(
                    "{KEY_REBALANCE_STRATEGY}: {other:?} is not one of \"range\", \"sticky\", \"roundrobin\""
                )));
            }
        };
        let exclude_headers = match config.value(KEY_EXCLUDE_HEADER_META_REGEX).filter(|v| !v.is_empty()) {
            None => None,
            Some(pattern) => Some(Regex::new(pattern).map_err(|e| {
                BrokerError::Config(format!("{KEY_EXCLUDE_HEADER_META_REGEX}: {pattern:?} is not a regular expression: {e}"))
            })?),
        };
        let max_message_bytes = config.unsigned(KEY_MAX_MESSAGE_BYTES)?.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        if !(1000..=1_000_000_000).contains(&max_message_bytes) {
            return Err(BrokerError::Config(format!("{KEY_MAX_MESSAGE_BYTES}: {max_message_bytes} is outside 1000..=1000000000")));
        }
        let heartbeat_interval = config.positive_duration(KEY_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL)?;
        let session_timeout = config.positive_duration(KEY_SESSION_TIMEOUT, DEFAULT_SESSION_TIMEOUT)?;
        if heartbeat_interval >= session_timeout {
            return Err(BrokerError::Config(format!(
                "{KEY_HEARTBEAT_INTERVAL} ({heartbeat_interval:?}) must be shorter than {KEY_SESSION_TIMEOUT} ({session_timeout:?})"
            )));
        }
        Ok(Self {
            brokers: brokers.to_owned(),
            auth,
            consumer_group: config.value(KEY_CONSUMER_GROUP).map(str::to_owned),
            client_id: config.value(KEY_CLIENT_ID).unwrap_or(DEFAULT_CLIENT_ID).to_owned(),
            tls,
            ca_cert: config.value(KEY_CA_CERT).map(str::to_owned),
            skip_verify: config.flag(KEY_SKIP_VERIFY)?,
            oldest,
            max_message_bytes,
            consume_retry_interval: config.duration(KEY_CONSUME_RETRY_INTERVAL, DEFAULT_CONSUME_RETRY_INTERVAL)?,
            heartbeat_interval,
            session_timeout,
            compression,
            escape_headers: config.flag(KEY_ESCAPE_HEADERS)?,
            back_off: config.duration(KEY_BACK_OFF_DURATION, DEFAULT_BACK_OFF)?,
            exclude_headers,
            acks,
            assignment_strategy,
        })
    }

    /// What producer and consumers share: where Kafka is and how to reach it.
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("client.id", &self.client_id).set("log_level", "3");
        let protocol = match (&self.auth, self.tls) {
            (Auth::Password { .. }, true) => "sasl_ssl",
            (Auth::Password { .. }, false) => "sasl_plaintext",
            (_, true) => "ssl",
            (_, false) => "plaintext",
        };
        c.set("security.protocol", protocol);
        match &self.auth {
            Auth::None => {}
            Auth::Password { username, password, mechanism } => {
                c.set("sasl.mechanisms", *mechanism).set("sasl.username", username).set("sasl.password", password);
            }
            Auth::Mtls { client_cert, client_key } => {
                c.set("ssl.certificate.pem", client_cert).set("ssl.key.pem", client_key);
            }
        }
        if self.tls {
            if let Some(ca) = &self.ca_cert {
                c.set("ssl.ca.pem", ca);
            }
            if self.skip_verify {
                c.set("enable.ssl.certificate.verification", "false");
            }
        }
        c
    }

    pub fn admin(&self) -> ClientConfig {
        self.client()
    }

    pub fn producer(&self) -> ClientConfig {
        let mut c = self.client();
        c.set("message.max.bytes", self.max_message_bytes.to_string())
            .set("compression.type", self.compression)
            .set("message.timeout.ms", millis(PUBLISH_TIMEOUT))
            .set("acks", self.acks);
        c
    }

    /// A consumer of `group` that commits only what the component stored as taken.
    pub fn consumer(&self, group: &str) -> ClientConfig {
        let mut c = self.client();
        c.set("group.id", group)
            .set("partition.assignment.strategy", self.assignment_strategy)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", if self.oldest { "earliest" } else { "latest" })
            .set("allow.auto.create.topics", "true")
            .set("session.timeout.ms", millis(self.session_timeout))
            .set("heartbeat.interval.ms", millis(self.heartbeat_interval))
            .set("fetch.max.bytes", self.max_message_bytes.max(1_048_576).to_string())
            // Fetched but unhandled messages wait in librdkafka's queue: keep it small.
            .set("queued.max.messages.kbytes", "4096");
        c
    }

    /// How long a publish may wait for Kafka, its queue included.
    pub fn publish_timeout(&self) -> Duration {
        PUBLISH_TIMEOUT
    }

    /// How long the first contact with Kafka may take before the component fails.
    pub fn connect_timeout(&self) -> Duration {
        self.session_timeout
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

fn missing(key: &str, what: &str) -> BrokerError {
    BrokerError::Config(format!("{key} is required: {what}"))
}

fn required(config: &ComponentConfig, key: &str) -> Result<String, BrokerError> {
    config.value(key).map(str::to_owned).ok_or_else(|| missing(key, "needed by this authType"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ComponentConfig {
        ComponentConfig {
            name: "kafka".into(),
            component_type: "pubsub.kafka".into(),
            metadata: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            app_id: "app".into(),
        }
    }

    #[test]
    fn brokers_and_auth_type_are_required_and_named() {
        let err = Settings::from_config(&config(&[("authType", "none")])).unwrap_err().to_string();
        assert!(err.contains("brokers is required"), "{err}");
        let err = Settings::from_config(&config(&[("brokers", "k:9092")])).unwrap_err().to_string();
        assert!(err.contains("authType is required"), "{err}");
        let err = Settings::from_config(&config(&[("brokers", "k:9092"), ("authType", "oidc")])).unwrap_err().to_string();
        assert!(err.contains("\"oidc\" is not supported"), "{err}");
    }

    #[test]
    fn defaults_are_daprds() {
        let s = Settings::from_config(&config(&[("brokers", "k:9092"), ("authType", "none")])).unwrap();
        assert_eq!((s.client_id.as_str(), s.max_message_bytes, s.tls, s.oldest), ("sarama", 1_000_000, false, false));
        assert_eq!(
            (s.heartbeat_interval, s.session_timeout, s.back_off),
            (Duration::from_secs(3), Duration::from_secs(10), DEFAULT_BACK_OFF)
        );
        assert_eq!(s.consumer("g").get("auto.offset.reset"), Some("latest"));
        assert_eq!(s.consumer("g").get("security.protocol"), Some("plaintext"));
        assert_eq!((s.producer().get("acks"), s.consumer("g").get("partition.assignment.strategy")), (Some("all"), Some("range")));
    }

    #[test]
    fn acks_and_rebalance_strategy_map_to_librdkafka() {
        let pairs =
            [("brokers", "k:9092"), ("authType", "none"), ("producerRequiredAcks", "local"), ("consumerGroupRebalanceStrategy", "sticky")];
        let s = Settings::from_config(&config(&pairs)).unwrap();
        assert_eq!(s.producer().get("acks"), Some("1"));
        assert_eq!(s.consumer("g").get("partition.assignment.strategy"), Some("cooperative-sticky"));
    }

    #[test]
    fn password_auth_uses_sasl_over_tls_unless_tls_is_off() {
        let pairs =
            [("brokers", "k:9092"), ("authType", "password"), ("saslUsername", "u"), ("saslPassword", "p"), ("saslMechanism", "SHA-512")];
        let s = Settings::from_config(&config(&pairs)).unwrap();
        assert_eq!(s.producer().get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(s.producer().get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        let mut plain = pairs.to_vec();
        plain.push(("disableTls", "true"));
        assert_eq!(Settings::from_config(&config(&plain)).unwrap().producer().get("security.protocol"), Some("sasl_plaintext"));
        let err = Settings::from_config(&config(&pairs[..3])).unwrap_err().to_string();
        assert!(err.contains("saslPassword is required"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value) in [
            ("initialOffset", "middle"),
            ("compression", "brotli"),
            ("maxMessageBytes", "12"),
            ("sessionTimeout", "soon"),
            ("version", "two"),
            ("escapeHeaders", "maybe"),
            ("excludeHeaderMetaRegex", "(unclosed"),
            ("producerRequiredAcks", "some"),
            ("consumerGroupRebalanceStrategy", "random"),
        ] {
            let err = Settings::from_config(&config(&[("brokers", "k:9092"), ("authType", "none"), (key, value)])).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }
}

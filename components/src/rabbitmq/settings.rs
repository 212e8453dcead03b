//! The component's metadata, with the key names and code defaults of Dapr's `pubsub.rabbitmq`
//! (components-contrib `pubsub/rabbitmq/metadata.go`), so existing component files load: where
//! RabbitMQ is, how exchanges and queues are declared, and how deliveries are settled.

use crate::{BrokerError, ComponentConfig, parse_duration, url_credentials};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use std::time::Duration;

const KEY_CONNECTION_STRING: &str = "connectionString";
/// Dapr's deprecated spelling of `connectionString`.
const KEY_HOST: &str = "host";
const KEY_PROTOCOL: &str = "protocol";
const KEY_HOSTNAME: &str = "hostname";
const KEY_USERNAME: &str = "username";
const KEY_PASSWORD: &str = "password";
const KEY_DURABLE: &str = "durable";
const KEY_DELETED_WHEN_UNUSED: &str = "deletedWhenUnused";
const KEY_AUTO_ACK: &str = "autoAck";
const KEY_REQUEUE_IN_FAILURE: &str = "requeueInFailure";
const KEY_DELIVERY_MODE: &str = "deliveryMode";
const KEY_PREFETCH_COUNT: &str = "prefetchCount";
const KEY_RECONNECT_WAIT: &str = "reconnectWait";
const KEY_RECONNECT_WAIT_SECONDS: &str = "reconnectWaitSeconds";
const KEY_MAX_LEN: &str = "maxLen";
const KEY_MAX_LEN_BYTES: &str = "maxLenBytes";
const KEY_EXCHANGE_KIND: &str = "exchangeKind";
const KEY_CONCURRENCY_MODE: &str = "concurrencyMode";
const KEY_ENABLE_DEAD_LETTER: &str = "enableDeadLetter";
const KEY_PUBLISHER_CONFIRM: &str = "publisherConfirm";

const DEFAULT_PROTOCOL: &str = "amqp";
const DEFAULT_HOSTNAME: &str = "localhost";
/// Dapr's `defaultReconnectWaitSeconds`.
const DEFAULT_RECONNECT_WAIT: Duration = Duration::from_secs(3);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a publish may wait for the broker's confirm before it is reported as failed.
const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExchangeKind {
    Fanout,
    Topic,
    Direct,
    Headers,
}

impl ExchangeKind {
    pub fn lapin(self) -> lapin::ExchangeKind {
        match self {
            ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
            ExchangeKind::Topic => lapin::ExchangeKind::Topic,
            ExchangeKind::Direct => lapin::ExchangeKind::Direct,
            ExchangeKind::Headers => lapin::ExchangeKind::Headers,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settings {
    /// `amqp://user:pass@host:port/vhost`.
    pub uri: String,
    /// Exchanges and queues survive a broker restart (Dapr: true).
    pub durable: bool,
    /// Queues are deleted once their last consumer is gone (Dapr: true): what is published
    /// while no instance of the app subscribes is then not kept for it.
    pub deleted_when_unused: bool,
    /// The broker forgets a message once sent (at-most-once); RETRY cannot bring it back.
    pub auto_ack: bool,
    pub requeue_in_failure: bool,
    /// 0 or 1 transient, 2 persistent (written to disk by the broker).
    pub delivery_mode: u8,
    /// Unacknowledged messages the broker sends ahead; `None`: as many as may be in flight.
    pub prefetch_count: Option<u16>,
    pub reconnect_wait: Duration,
    pub max_len: Option<i64>,
    pub max_len_bytes: Option<i64>,
    pub exchange_kind: ExchangeKind,
    /// `concurrencyMode: single`: one handler call at a time per subscription.
    pub single: bool,
    pub enable_dead_letter: bool,
    pub connect_timeout: Duration,
    pub confirm_timeout: Duration,
}

impl Settings {
    pub fn from_config(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let uri = match config.value(KEY_CONNECTION_STRING).or(config.value(KEY_HOST)) {
            Some(uri) => uri.to_owned(),
            None => {
                let protocol = config.value(KEY_PROTOCOL).unwrap_or(DEFAULT_PROTOCOL);
                let hostname = config.value(KEY_HOSTNAME).unwrap_or(DEFAULT_HOSTNAME);
                let credentials = match (config.value(KEY_USERNAME), config.value(KEY_PASSWORD)) {
                    (Some(user), Some(password)) => format!("{}:{}@", escape(user), escape(password)),
                    (Some(user), None) => format!("{}@", escape(user)),
                    _ => String::new(),
                };
                format!("{protocol}://{credentials}{hostname}")
            }
        };
        if let Err(why) = uri.parse::<lapin::uri::AMQPUri>() {
            return Err(BrokerError::Config(format!(
                "{KEY_CONNECTION_STRING}: {:?} is not an AMQP URI ({why})",
                url_credentials::redact(&uri)
            )));
        }
        let delivery_mode = match config.value(KEY_DELIVERY_MODE) {
            None => 0,
            Some(raw) => match raw.parse::<u8>() {
                Ok(mode @ 0..=2) => mode,
                _ => return Err(BrokerError::Config(format!("{KEY_DELIVERY_MODE}: {raw:?} is not 0, 1 (transient) or 2 (persistent)"))),
            },
        };
        let prefetch_count = match config.unsigned(KEY_PREFETCH_COUNT)? {
            None | Some(0) => None,
            Some(n) => Some(
                u16::try_from(n)
                    .map_err(|_| BrokerError::Config(format!("{KEY_PREFETCH_COUNT}: \"{n}\" is more than RabbitMQ allows (65535)")))?,
            ),
        };
        let exchange_kind = match config.value(KEY_EXCHANGE_KIND).map(str::to_ascii_lowercase).as_deref() {
            None | Some("fanout") => ExchangeKind::Fanout,
            Some("topic") => ExchangeKind::Topic,
            Some("direct") => ExchangeKind::Direct,
            Some("headers") => ExchangeKind::Headers,
            Some(_) => {
                let raw = config.value(KEY_EXCHANGE_KIND).unwrap_or_default();
                return Err(BrokerError::Config(format!("{KEY_EXCHANGE_KIND}: {raw:?} is not one of fanout, topic, direct, headers")));
            }
        };
        let single = match config.value(KEY_CONCURRENCY_MODE).map(str::to_ascii_lowercase).as_deref() {
            None | Some("parallel") => false,
            Some("single") => true,
            Some(_) => {
                let raw = config.value(KEY_CONCURRENCY_MODE).unwrap_or_default();
                return Err(BrokerError::Config(format!("{KEY_CONCURRENCY_MODE}: {raw:?} is not \"single\" or \"parallel\"")));
            }
        };
        // Accepted so existing files load; dapr-rs always waits for the broker's confirm (a
        // publish is never reported as done before RabbitMQ took it).
        config.flag(KEY_PUBLISHER_CONFIRM)?;
        Ok(Self {
            uri,
            durable: flag_or(config, KEY_DURABLE, true)?,
            deleted_when_unused: flag_or(config, KEY_DELETED_WHEN_UNUSED, true)?,
            auto_ack: config.flag(KEY_AUTO_ACK)?,
            requeue_in_failure: config.flag(KEY_REQUEUE_IN_FAILURE)?,
            delivery_mode,
            prefetch_count,
            reconnect_wait: reconnect_wait(config)?,
            max_len: positive(config, KEY_MAX_LEN)?,
            max_len_bytes: positive(config, KEY_MAX_LEN_BYTES)?,
            exchange_kind,
            single,
            enable_dead_letter: config.flag(KEY_ENABLE_DEAD_LETTER)?,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
        })
    }

    /// The URI without its password, for messages and logs.
    pub fn address(&self) -> String {
        url_credentials::redact(&self.uri)
    }

    /// The queue's arguments: length limits and the dead-letter exchange.
    pub fn queue_arguments(&self, dead_letter_exchange: Option<&str>) -> FieldTable {
        let mut arguments = FieldTable::default();
        if let Some(n) = self.max_len {
            arguments.insert(ShortString::from("x-max-length"), AMQPValue::LongLongInt(n));
        }
        if let Some(n) = self.max_len_bytes {
            arguments.insert(ShortString::from("x-max-length-bytes"), AMQPValue::LongLongInt(n));
        }
        if let Some(exchange) = dead_letter_exchange {
            arguments.insert(ShortString::from("x-dead-letter-exchange"), AMQPValue::LongString(exchange.into()));
        }
        arguments
    }
}

/// A boolean with a default other than `false`.
fn flag_or(config: &ComponentConfig, key: &str, default: bool) -> Result<bool, BrokerError> {
    if config.value(key).is_none() { Ok(default) } else { config.flag(key) }
}

fn positive(config: &ComponentConfig, key: &str) -> Result<Option<i64>, BrokerError> {
    Ok(config.unsigned(key)?.filter(|n| *n > 0).map(|n| n.min(i64::MAX as u64) as i64))
}

/// `reconnectWait` (Dapr's docs: seconds; a Go duration also reads) or `reconnectWaitSeconds`
/// (Dapr's code).
fn reconnect_wait(config: &ComponentConfig) -> Result<Duration, BrokerError> {
    for key in [KEY_RECONNECT_WAIT, KEY_RECONNECT_WAIT_SECONDS] {
        let Some(raw) = config.value(key) else { continue };
        if let Ok(seconds) = raw.parse::<u64>() {
            return Ok(Duration::from_secs(seconds));
        }
        return parse_duration(raw)
            .ok_or_else(|| BrokerError::Config(format!("{key}: {raw:?} is not a number of seconds or a Go duration such as \"3s\"")));
    }
    Ok(DEFAULT_RECONNECT_WAIT)
}

/// Percent-escapes what would end the user-info part of a URI.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ':' | '@' | '/' | '%' | '?' | '#' => format!("%{:02X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ComponentConfig {
        ComponentConfig {
            name: "orders".into(),
            component_type: "pubsub.rabbitmq".into(),
            metadata: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            app_id: "checkout".into(),
        }
    }

    #[test]
    fn defaults_are_daprs() {
        let s = Settings::from_config(&config(&[])).unwrap();
        assert_eq!(s.uri, "amqp://localhost");
        assert!(s.durable && s.deleted_when_unused && !s.auto_ack && !s.requeue_in_failure && !s.enable_dead_letter && !s.single);
        assert_eq!((s.delivery_mode, s.prefetch_count, s.reconnect_wait), (0, None, Duration::from_secs(3)));
        assert_eq!(s.exchange_kind, ExchangeKind::Fanout);
    }

    #[test]
    fn connection_parts_make_a_uri_and_the_password_is_never_shown() {
        let s = Settings::from_config(&config(&[("hostname", "rabbit:5673"), ("username", "app"), ("password", "p@ss")])).unwrap();
        assert_eq!(s.uri, "amqp://app:p%40ss@rabbit:5673");
        assert_eq!(s.address(), "amqp://app:***@rabbit:5673");
        let s = Settings::from_config(&config(&[("connectionString", "amqp://guest:guest@127.0.0.1:5672/%2f")])).unwrap();
        assert_eq!(s.address(), "amqp://guest:***@127.0.0.1:5672/%2f");
    }

    #[test]
    fn values_are_read() {
        let s = Settings::from_config(&config(&[
            ("durable", "false"),
            ("deletedWhenUnused", "false"),
            ("deliveryMode", "2"),
            ("prefetchCount", "20"),
            ("reconnectWait", "1"),
            ("maxLen", "100"),
            ("maxLenBytes", "1048576"),
            ("exchangeKind", "topic"),
            ("concurrencyMode", "single"),
            ("enableDeadLetter", "true"),
            ("requeueInFailure", "true"),
        ]))
        .unwrap();
        assert!(!s.durable && !s.deleted_when_unused && s.single && s.enable_dead_letter && s.requeue_in_failure);
        assert_eq!((s.delivery_mode, s.prefetch_count, s.reconnect_wait), (2, Some(20), Duration::from_secs(1)));
        assert_eq!((s.max_len, s.max_len_bytes, s.exchange_kind), (Some(100), Some(1_048_576), ExchangeKind::Topic));
        let s = Settings::from_config(&config(&[("reconnectWaitSeconds", "500ms")])).unwrap();
        assert_eq!(s.reconnect_wait, Duration::from_millis(500));
    }

    #[test]
    fn bad_values_name_key_and_value() {
        for (key, value) in [
            ("deliveryMode", "3"),
            ("prefetchCount", "lots"),
            ("prefetchCount", "70000"),
            ("exchangeKind", "broadcast"),
            ("concurrencyMode", "many"),
            ("durable", "sure"),
            ("autoAck", "maybe"),
            ("reconnectWait", "soon"),
            ("maxLen", "-1"),
            ("connectionString", "http://example.com"),
        ] {
            let err = Settings::from_config(&config(&[(key, value)])).expect_err(&format!("{key}={value} is refused"));
            let text = err.to_string();
            assert!(text.contains(key) && text.contains(value), "{key}={value}: {text}");
        }
    }
}

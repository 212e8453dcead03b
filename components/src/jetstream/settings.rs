//! The component's metadata, with the key names of Dapr's `pubsub.jetstream` so existing
//! component files load: where NATS is, which stream holds a topic, and how the durable consumer
//! of each app id is configured.

use crate::{BrokerError, ComponentConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use std::time::Duration;

const KEY_URL: &str = "natsURL";
const KEY_NAME: &str = "name";
const KEY_TOKEN: &str = "token";
const KEY_STREAM_NAME: &str = "streamName";
const KEY_DURABLE_NAME: &str = "durableName";
const KEY_QUEUE_GROUP_NAME: &str = "queueGroupName";
const KEY_ACK_WAIT: &str = "ackWait";
const KEY_MAX_DELIVER: &str = "maxDeliver";
const KEY_MAX_ACK_PENDING: &str = "maxAckPending";
const KEY_DELIVER_POLICY: &str = "deliverPolicy";
const KEY_START_SEQUENCE: &str = "startSequence";
const KEY_DELIVER_ALL: &str = "deliverAll";
const KEY_MEMORY_STORAGE: &str = "memoryStorage";
const KEY_REPLICAS: &str = "replicas";

const DEFAULT_URL: &str = "nats://localhost:4222";
/// NATS' own default.
const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub url: String,
    pub connection_name: Option<String>,
    pub token: Option<String>,
    /// One stream holding every topic of the component; `None`: a stream per topic.
    pub stream_name: Option<String>,
    /// The durable consumer an app's instances share; `None`: the consumer group (`consumerID`).
    pub durable_name: Option<String>,
    pub ack_wait: Duration,
    /// Deliveries per message before NATS gives up on it; `None`: unlimited.
    pub max_deliver: Option<i64>,
    pub max_ack_pending: Option<i64>,
    pub deliver_policy: DeliverPolicy,
    pub memory_storage: bool,
    pub replicas: usize,
    pub connect_timeout: Duration,
}

impl Settings {
    pub fn from_config(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let max_deliver = match config.value(KEY_MAX_DELIVER) {
            None => None,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n > 0 => Some(n),
                Ok(-1) => None,
                _ => return Err(BrokerError::Config(format!("{KEY_MAX_DELIVER}: {raw:?} is not a positive number of deliveries"))),
            },
        };
        let max_ack_pending = config.unsigned(KEY_MAX_ACK_PENDING)?.map(|n| n as i64);
        Ok(Self {
            url: config.value(KEY_URL).unwrap_or(DEFAULT_URL).to_owned(),
            connection_name: config.value(KEY_NAME).map(str::to_owned),
            token: config.value(KEY_TOKEN).map(str::to_owned),
            stream_name: config.value(KEY_STREAM_NAME).map(str::to_owned),
            // A queue group is how daprd's push consumers share; our pull consumers share by name.
            durable_name: config.value(KEY_DURABLE_NAME).or(config.value(KEY_QUEUE_GROUP_NAME)).map(str::to_owned),
            ack_wait: config.positive_duration(KEY_ACK_WAIT, DEFAULT_ACK_WAIT)?,
            max_deliver,
            max_ack_pending,
            deliver_policy: deliver_policy(config)?,
            memory_storage: config.flag(KEY_MEMORY_STORAGE)?,
            replicas: config.unsigned(KEY_REPLICAS)?.map_or(1, |n| n.max(1) as usize),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
    }
}

/// `deliverPolicy` as Dapr spells it (`all`, `last`, `new`, `sequence`, `lastPerSubject`; `all`
/// by default, or when `deliverAll` is set): where a new consumer starts in the stream.
fn deliver_policy(config: &ComponentConfig) -> Result<DeliverPolicy, BrokerError> {
    let policy = config.value(KEY_DELIVER_POLICY).map(str::to_ascii_lowercase);
    match policy.as_deref() {
        None | Some("all") => Ok(DeliverPolicy::All),
        _ if config.flag(KEY_DELIVER_ALL)? => Ok(DeliverPolicy::All),
        Some("last") => Ok(DeliverPolicy::Last),
        Some("new") => Ok(DeliverPolicy::New),
        Some("lastpersubject") => Ok(DeliverPolicy::LastPerSubject),
        Some("sequence") => match config.unsigned(KEY_START_SEQUENCE)? {
            Some(start_sequence) if start_sequence > 0 => Ok(DeliverPolicy::ByStartSequence { start_sequence }),
            _ => Err(BrokerError::Config(format!("{KEY_DELIVER_POLICY} \"sequence\" needs {KEY_START_SEQUENCE} (a sequence number ≥ 1)"))),
        },
        Some("time") => Err(BrokerError::Config(format!("{KEY_DELIVER_POLICY} \"time\" is not supported by dapr-rs yet"))),
        Some(other) => {
            Err(BrokerError::Config(format!("{KEY_DELIVER_POLICY}: {other:?} is not one of all, last, new, sequence, lastPerSubject")))
        }
    }
}

/// A stream or consumer name made from a topic or app id: NATS forbids `.`, `*`, `>`, `/`, `\`
/// and whitespace in them.
pub(super) fn nats_name(text: &str) -> String {
    text.chars().map(|c| if matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() { '_' } else { c }).collect()
}
impl Settings {
    /// `natsURL` as logs and errors may show it: without its password.
    pub fn address(&self) -> String {
        crate::url_credentials::redact(&self.url)
    }
}

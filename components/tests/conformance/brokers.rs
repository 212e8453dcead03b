//! The components under test and what each one promises: read by this crate's conformance suite
//! (the `PubSub` trait driven directly) and by the end-to-end cases through real sidecars
//! (`cli/tests/conformance/`). A new broker is one more entry here and one more line in each
//! suite's `main.rs`; the cases stay as they are.

use super::leftovers::{self, Names};
use std::path::Path;

/// What a component promises beyond what every component must do (publish/subscribe, RETRY
/// redelivers, dead letter, bulk, many topics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarantee {
    /// Instances opened separately (as by sidecars in different processes) meet on it: one
    /// instance's publish reaches another's subscriptions, and two consumer groups (app ids) each
    /// get every message.
    SharedBetweenSidecars,
    /// Two instances with one consumer group (two sidecars of one app id) share its messages:
    /// each goes to one of them.
    InstancesShare,
    /// One subscriber taking one message at a time (`max_concurrency` 1, or
    /// `--app-max-concurrency 1`) gets a topic's messages in publish order.
    Ordered,
    /// What is published while a consumer group has no subscriber reaches it once one is back,
    /// and what an instance held when it stopped or died is delivered again.
    Durable,
    /// Events carrying 1 MiB payloads arrive byte for byte; a broker that does not promise it must
    /// refuse them loudly (`ERR_PUBSUB_PUBLISH_MESSAGE`).
    LargePayloads,
}

/// What a durable broker shared between sidecars promises when nothing limits it.
const EVERY_GUARANTEE: &[Guarantee] =
    &[Guarantee::SharedBetweenSidecars, Guarantee::InstancesShare, Guarantee::Ordered, Guarantee::Durable, Guarantee::LargePayloads];

pub struct Broker {
    pub component_type: &'static str,
    /// The component's metadata for one test; `dir` is that test's own temporary directory.
    pub metadata: fn(dir: &Path) -> Vec<(String, String)>,
    pub guarantees: &'static [Guarantee],
    /// Removes what a case left on the broker, where the broker keeps things for absent apps.
    pub leftovers: Option<fn(&Names)>,
}

impl Broker {
    pub fn promises(&self, guarantee: Guarantee) -> bool {
        self.guarantees.contains(&guarantee)
    }
}

pub static IN_MEMORY: Broker = Broker {
    component_type: "pubsub.in-memory",
    metadata: |_| Vec::new(),
    guarantees: &[Guarantee::Ordered, Guarantee::LargePayloads],
    leftovers: None,
};

pub static SQLITE: Broker = Broker {
    component_type: "pubsub.sqlite",
    // A short processingTimeout: a message held by a sidecar that died comes back within seconds.
    metadata: |dir| vec![("path".into(), dir.join("pubsub.db").display().to_string()), ("processingTimeout".into(), "2s".into())],
    guarantees: EVERY_GUARANTEE,
    leftovers: None,
};

/// The machine's Redis (`make test` starts it); names are unique per test (app ids, topics), so
/// runs never meet. Short redelivery settings keep the RETRY case quick.
pub static REDIS: Broker = Broker {
    component_type: "pubsub.redis",
    metadata: |_| {
        vec![
            ("redisHost".into(), "127.0.0.1:6379".into()),
            ("processingTimeout".into(), "2s".into()),
            ("redeliverInterval".into(), "200ms".into()),
            ("concurrency".into(), "100".into()),
        ]
    },
    guarantees: EVERY_GUARANTEE,
    leftovers: None,
};

/// The machine's NATS with JetStream (`make test` starts it); each topic gets a stream of its own.
/// A short ackWait: a message held by a sidecar that died comes back within seconds. No
/// LargePayloads: NATS refuses messages over the server's `max_payload` (1 MiB by default), and a
/// 1 MiB payload is more than that once in its CloudEvent.
pub static JETSTREAM: Broker = Broker {
    component_type: "pubsub.jetstream",
    metadata: |_| vec![("natsURL".into(), "nats://127.0.0.1:4222".into()), ("ackWait".into(), "2s".into())],
    guarantees: &[Guarantee::SharedBetweenSidecars, Guarantee::InstancesShare, Guarantee::Ordered, Guarantee::Durable],
    leftovers: None,
};

const RABBITMQ_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The machine's RabbitMQ (`make test` starts it), guest/guest. Queues outlive their consumers
/// (`deletedWhenUnused: false`; Dapr deletes them by default, which loses what is published while
/// no instance of the app runs), so a restarted subscriber finds what was published meanwhile;
/// each case's queues and exchanges are removed when it is done.
pub static RABBITMQ: Broker = Broker {
    component_type: "pubsub.rabbitmq",
    metadata: |_| {
        vec![
            ("connectionString".into(), RABBITMQ_URI.into()),
            ("deletedWhenUnused".into(), "false".into()),
            ("reconnectWait".into(), "1".into()),
        ]
    },
    guarantees: EVERY_GUARANTEE,
    leftovers: Some(|names| leftovers::rabbitmq(RABBITMQ_URI, names)),
};

/// The machine's Mosquitto (`make test` starts it) with clean sessions: every sidecar connects
/// under a client id of its own and subscribes to `$share/{consumerID}/{topic}`, so instances of
/// one app id share and app ids each get every message. Not Durable: a clean session ends with
/// its connection, so nothing is kept for an app while none of its instances is connected.
/// LargePayloads: Mosquitto's default `message_size_limit` is MQTT's own (256 MiB).
pub static MQTT3: Broker = Broker {
    component_type: "pubsub.mqtt3",
    metadata: |_| vec![("url".into(), "tcp://127.0.0.1:1883".into()), ("cleanSession".into(), "true".into())],
    guarantees: &[Guarantee::SharedBetweenSidecars, Guarantee::InstancesShare, Guarantee::Ordered, Guarantee::LargePayloads],
    leftovers: None,
};

/// The same Mosquitto with Dapr's default `cleanSession: false`: the client id is `consumerID`
/// and the broker keeps the session while the sidecar is away (what is published meanwhile, and
/// what was sent but never acknowledged). Instances of one app id cannot share: a second
/// connection under the same client id takes the session over. Each case's sessions are ended
/// when it is done.
pub static MQTT3_PERSISTENT: Broker = Broker {
    component_type: "pubsub.mqtt3",
    metadata: |_| vec![("url".into(), "tcp://127.0.0.1:1883".into())],
    guarantees: &[Guarantee::SharedBetweenSidecars, Guarantee::Ordered, Guarantee::Durable, Guarantee::LargePayloads],
    leftovers: Some(|names| leftovers::mqtt_sessions("127.0.0.1", 1883, names)),
};

/// The machine's Kafka (`make test` starts it: KRaft, one broker, topics made with one partition).
/// `initialOffset: oldest`, so a group that never committed starts at the topic's beginning: with
/// daprd's default `newest` what a new group's first subscriber held when it stopped would be
/// skipped by the next one (nothing was committed yet). A short backOffDuration keeps the
/// not-processed case quick. No LargePayloads: Kafka refuses records over `maxMessageBytes` (1 MB
/// by default, as daprd), and says so to the publisher.
pub static KAFKA: Broker = Broker {
    component_type: "pubsub.kafka",
    metadata: |_| {
        vec![
            ("brokers".into(), "127.0.0.1:9092".into()),
            ("authType".into(), "none".into()),
            ("initialOffset".into(), "oldest".into()),
            ("backOffDuration".into(), "200ms".into()),
        ]
    },
    guarantees: &[Guarantee::SharedBetweenSidecars, Guarantee::InstancesShare, Guarantee::Ordered, Guarantee::Durable],
    leftovers: None,
};

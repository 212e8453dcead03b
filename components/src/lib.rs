//! Pub/sub components, as Dapr's components-contrib holds them: the one [`PubSub`] trait, one
//! module per broker behind it, how each reads its metadata, and the slots that bound what a
//! subscription takes from its broker. Depends on `dapr-rs-proto` only; the sidecar's API and
//! delivery code see nothing but the trait. Never here: an app channel, HTTP or gRPC serving,
//! or any other dapr-rs crate than proto.

mod delivery_slots;
mod handler_call;
pub mod in_memory;
pub mod jetstream;
pub mod kafka;
mod metadata_value;
pub mod mqtt3;
pub mod rabbitmq;
pub mod redis;
pub mod scope_keys;
pub mod sqlite;
mod task_subscription;
#[cfg(test)]
mod test_support;
pub mod url_credentials;

pub(crate) use delivery_slots::{DeliverySlot, DeliverySlots};
pub(crate) use handler_call::{Handled, call_handler};
pub use metadata_value::parse_duration;
pub use task_subscription::ABANDON_WAIT;
pub(crate) use task_subscription::{ReaderControl, TaskSubscription};

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A message as the broker stores it: the CloudEvent JSON (or raw bytes) plus publish metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerMessage {
    pub topic: String,
    pub data: Bytes,
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The component's metadata is wrong; names the key.
    #[error("invalid metadata: {0}")]
    Config(String),
    /// The broker could not be reached or refused the operation.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Other(String),
}

/// The handler said the message was not processed: leave it for redelivery.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotProcessed(pub String);

/// Called by a component for every message of a subscription. `Ok` acknowledges the message;
/// `Err` leaves it to the broker's redelivery (at-least-once). May be called concurrently.
#[async_trait]
pub trait MessageHandler: Send + Sync + 'static {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed>;
}

/// What a subscription asks of a component.
#[derive(Debug, Clone)]
pub struct SubscribeRequest {
    pub topic: String,
    /// Consumer group: instances with the same group share messages; each group gets every message.
    pub consumer_group: String,
    /// Upper bound on handler calls in flight for this subscription.
    pub max_concurrency: usize,
    /// Slots shared with other subscriptions (the app's cap on deliveries in flight): a message
    /// takes one before the component takes it from the broker and holds it until it is settled.
    pub shared_slots: Option<Arc<tokio::sync::Semaphore>>,
}

impl SubscribeRequest {
    /// The slots of this subscription: `own` of its own, and the shared ones.
    pub(crate) fn slots(&self, own: usize) -> DeliverySlots {
        DeliverySlots::new(own, self.shared_slots.clone())
    }
}

/// A live subscription. [`Subscription::stop`] stops taking new messages and waits for the
/// handler calls in flight (up to `grace`), leaving anything unfinished to redelivery.
#[async_trait]
pub trait Subscription: Send + Sync {
    async fn stop(&self, grace: Duration);
}

#[async_trait]
pub trait PubSub: Send + Sync + 'static {
    /// Stores a message; returns only once the broker has accepted it.
    async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError>;

    /// Stores every message of a bulk publish; one result per message, in their order. The
    /// default publishes them concurrently (`BULK_PUBLISH_CONCURRENCY` at a time); a broker with a
    /// batch API overrides it (Kafka hands the whole batch to its producer at once, in order).
    async fn publish_bulk(&self, msgs: Vec<BrokerMessage>) -> Vec<Result<(), BrokerError>> {
        use futures::StreamExt;
        futures::stream::iter(msgs).map(|msg| self.publish(msg)).buffered(BULK_PUBLISH_CONCURRENCY).collect().await
    }

    async fn subscribe(&self, req: SubscribeRequest, handler: Arc<dyn MessageHandler>) -> Result<Box<dyn Subscription>, BrokerError>;

    /// Releases connections; called once at shutdown after every subscription has stopped.
    async fn close(&self) {}
}

/// Entries of one bulk publish in flight to a component at once by [`PubSub::publish_bulk`]'s
/// default (daprd's default bulk publisher uses 100).
pub const BULK_PUBLISH_CONCURRENCY: usize = 100;

/// Component-level settings the sidecar fills in (contract §6): resolved metadata plus defaults.
#[derive(Debug, Clone, Default)]
pub struct ComponentConfig {
    pub name: String,
    pub component_type: String,
    pub metadata: HashMap<String, String>,
    /// The app id, the default `consumerID`.
    pub app_id: String,
}

impl ComponentConfig {
    /// A metadata value by key, matched case-insensitively as daprd does.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// `consumerID`, defaulting to the app id.
    pub fn consumer_id(&self) -> String {
        self.get("consumerID").filter(|v| !v.is_empty()).map(str::to_owned).unwrap_or_else(|| self.app_id.clone())
    }
}

/// The component types this sidecar knows.
pub const SUPPORTED_TYPES: &[&str] =
    &["pubsub.in-memory", "pubsub.jetstream", "pubsub.kafka", "pubsub.mqtt3", "pubsub.rabbitmq", "pubsub.redis", "pubsub.sqlite"];

/// Builds the component for `config.component_type`.
pub async fn open(config: &ComponentConfig) -> Result<Arc<dyn PubSub>, BrokerError> {
    match config.component_type.as_str() {
        "pubsub.in-memory" => Ok(Arc::new(in_memory::InMemoryPubSub::new())),
        "pubsub.sqlite" => Ok(Arc::new(sqlite::SqlitePubSub::open(config).await?)),
        "pubsub.jetstream" => Ok(Arc::new(jetstream::JetStreamPubSub::open(config).await?)),
        "pubsub.kafka" => Ok(Arc::new(kafka::KafkaPubSub::open(config).await?)),
        "pubsub.redis" => Ok(Arc::new(self::redis::RedisStreamsPubSub::open(config).await?)),
        "pubsub.rabbitmq" => Ok(Arc::new(rabbitmq::RabbitMqPubSub::open(config).await?)),
        "pubsub.mqtt3" => Ok(Arc::new(mqtt3::Mqtt3PubSub::open(config).await?)),
        other => {
            Err(BrokerError::Config(format!("spec.type: unsupported component type {other:?}; supported: {}", SUPPORTED_TYPES.join(", "))))
        }
    }
}

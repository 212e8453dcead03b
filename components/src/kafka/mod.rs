//! `pubsub.kafka`: Apache Kafka through librdkafka, with Dapr's metadata keys.
//!
//! - [`settings`]: the metadata keys, their defaults, and the librdkafka settings they make.
//! - [`subscription`]: one consumer per consumer group, shared by its subscriptions (a topic
//!   joins its topic list); one in-order loop per partition; offsets committed only past what
//!   the app took.
//! - [`record`]: what a record carries besides its value, both ways (key, headers, metadata).
//!
//! One producer per component: a publish waits for Kafka's acknowledgement (`acks=all`) and fails
//! while Kafka is away or when the message is larger than `maxMessageBytes`.

mod record;
mod settings;
mod subscription;

#[cfg(test)]
mod outage_tests;

use crate::{BrokerError, BrokerMessage, ComponentConfig, MessageHandler, PubSub, SubscribeRequest, Subscription};
use async_trait::async_trait;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use settings::Settings;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subscription::GroupConsumer;

/// How long closing may flush what is still queued for Kafka.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

pub struct KafkaPubSub {
    settings: Arc<Settings>,
    producer: FutureProducer,
    /// Makes a subscription's topic before its consumer joins.
    admin: AdminClient<DefaultClientContext>,
    /// One consumer per consumer group, shared by the group's subscriptions.
    groups: Mutex<HashMap<String, Arc<GroupConsumer>>>,
}

impl KafkaPubSub {
    /// Builds the producer and asks Kafka for its metadata, so a Kafka that is down (or a wrong
    /// address) fails the component, and the sidecar's start, with its address.
    pub async fn open(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let settings = Arc::new(Settings::from_config(config)?);
        let producer: FutureProducer =
            settings.producer().create().map_err(|e| BrokerError::Config(format!("cannot configure the Kafka producer: {e}")))?;
        let probe = producer.clone();
        let timeout = settings.connect_timeout();
        tokio::task::spawn_blocking(move || probe.client().fetch_metadata(None, timeout))
            .await
            .map_err(|e| BrokerError::Other(e.to_string()))?
            .map_err(|e| BrokerError::Unavailable(format!("cannot reach Kafka at {} within {timeout:?}: {e}", settings.brokers)))?;
        let admin = settings.admin().create().map_err(|e| BrokerError::Config(format!("cannot configure the Kafka admin client: {e}")))?;
        tracing::debug!(component = %config.name, brokers = %settings.brokers, "pubsub.kafka connected");
        Ok(Self { settings, producer, admin, groups: Mutex::default() })
    }
}

#[async_trait]
impl PubSub for KafkaPubSub {
    async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError> {
        let size = msg.data.len();
        let mut record = FutureRecord::to(&msg.topic).payload(msg.data.as_ref()).headers(record::headers(&msg.metadata));
        let key = record::key(&msg.metadata);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = record::partition(&msg.metadata)? {
            record = record.partition(partition);
        }
        match self.producer.send(record, Duration::ZERO).await {
            Ok(_) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => Err(BrokerError::Other(format!(
                "a message of {size} bytes is larger than Kafka takes (maxMessageBytes {}, or the broker's message.max.bytes)",
                self.settings.max_message_bytes
            ))),
            Err((e, _)) => Err(BrokerError::Unavailable(format!("Kafka at {} did not take the message: {e}", self.settings.brokers))),
        }
    }

    async fn subscribe(&self, req: SubscribeRequest, handler: Arc<dyn MessageHandler>) -> Result<Box<dyn Subscription>, BrokerError> {
        let group = self.settings.consumer_group.clone().unwrap_or_else(|| req.consumer_group.clone());
        let slots = req.slots(req.max_concurrency.max(1));
        let consumer = {
            let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            match groups.get(&group).filter(|g| !g.is_closed()) {
                Some(consumer) => consumer.clone(),
                None => {
                    let consumer = GroupConsumer::open(self.settings.clone(), group.clone())?;
                    groups.insert(group, consumer.clone());
                    consumer
                }
            }
        };
        Ok(Box::new(consumer.subscribe(&self.admin, &req.topic, handler, slots).await?))
    }

    async fn close(&self) {
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || producer.flush(CLOSE_FLUSH));
        if let Ok(Ok(Err(e))) = tokio::time::timeout(CLOSE_FLUSH + Duration::from_secs(1), flushed).await {
            tracing::warn!(brokers = %self.settings.brokers, %e, "pubsub.kafka: messages still queued at close were not flushed");
        }
    }
}

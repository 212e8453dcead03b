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
#[path = "../../../tests/checkout_dir.rs"]
mod checkout_dir;
#[cfg(test)]
mod leave_tests;
#[cfg(test)]
mod outage_tests;
#[cfg(test)]
mod rebalance_log;
#[cfg(test)]
mod rebalance_tests;
#[cfg(test)]
mod secured_tests;

use crate::{BrokerError, BrokerMessage, ComponentConfig, MessageHandler, PubSub, SubscribeRequest, Subscription};
use async_trait::async_trait;
use rdkafka::admin::AdminClient;
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
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
        // A client of the producer's settings whose first error (a refused SASL authentication or
        // TLS handshake) the failure names: the metadata request alone says "transport failure".
        let first_error = ConnectErrors::default();
        let probe: FutureProducer<ConnectErrors> = settings
            .producer()
            .create_with_context(first_error.clone())
            .map_err(|e| BrokerError::Config(format!("cannot configure the Kafka producer: {e}")))?;
        let timeout = settings.connect_timeout();
        tokio::task::spawn_blocking(move || probe.client().fetch_metadata(None, timeout))
            .await
            .map_err(|e| BrokerError::Other(e.to_string()))?
            .map_err(|e| {
                let said = first_error.said();
                BrokerError::Unavailable(format!("cannot reach Kafka at {} within {timeout:?}: {e}{said}", settings.brokers))
            })?;
        let admin = settings.admin().create().map_err(|e| BrokerError::Config(format!("cannot configure the Kafka admin client: {e}")))?;
        tracing::debug!(component = %config.name, brokers = %settings.brokers, "pubsub.kafka connected");
        Ok(Self { settings, producer, admin, groups: Mutex::default() })
    }
}

impl KafkaPubSub {
    /// `msg` as a record: its value, its metadata as headers, its key or partition.
    fn record<'m>(&self, msg: &'m BrokerMessage) -> Result<FutureRecord<'m, [u8], [u8]>, BrokerError> {
        let mut record = FutureRecord::to(&msg.topic)
            .payload(msg.data.as_ref())
            .headers(record::headers(&msg.metadata, self.settings.exclude_headers.as_ref()));
        if let Some(key) = record::key(&msg.metadata) {
            record = record.key(key);
        }
        if let Some(partition) = record::partition(&msg.metadata)? {
            record = record.partition(partition);
        }
        Ok(record)
    }

    /// What a refused record of `size` bytes becomes.
    fn refusal(&self, e: KafkaError, size: usize) -> BrokerError {
        match e {
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge) => BrokerError::Other(format!(
                "a message of {size} bytes is larger than Kafka takes (maxMessageBytes {}, or the broker's message.max.bytes)",
                self.settings.max_message_bytes
            )),
            e => BrokerError::Unavailable(format!("Kafka at {} did not take the message: {e}", self.settings.brokers)),
        }
    }

    /// Queues `msg` with the producer without waiting for Kafka; a full queue is waited out (up to
    /// the publish timeout, as librdkafka would fail the message then anyway).
    async fn enqueue(&self, msg: &BrokerMessage) -> Result<DeliveryFuture, BrokerError> {
        let mut record = self.record(msg)?;
        let deadline = tokio::time::Instant::now() + self.settings.publish_timeout();
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) if tokio::time::Instant::now() < deadline => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(self.refusal(e, msg.data.len())),
            }
        }
    }

    /// Kafka's acknowledgement of a queued record.
    async fn acknowledged(&self, delivery: DeliveryFuture, size: usize) -> Result<(), BrokerError> {
        match delivery.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, _))) => Err(self.refusal(e, size)),
            Err(_canceled) => Err(BrokerError::Unavailable(format!("the producer for Kafka at {} closed", self.settings.brokers))),
        }
    }
}

/// Keeps the first error librdkafka reports but "all brokers are down" (which follows any other).
#[derive(Default, Clone)]
struct ConnectErrors(Arc<Mutex<Option<String>>>);

impl ConnectErrors {
    fn said(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|r| format!("; first error: {r}")).unwrap_or_default()
    }
}

impl ClientContext for ConnectErrors {
    fn error(&self, error: KafkaError, reason: &str) {
        // Debug only: the producer, connecting alongside, logs the same errors.
        tracing::debug!(%error, reason, "pubsub.kafka: while connecting");
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::AllBrokersDown) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| reason.to_owned());
        }
    }
}

#[async_trait]
impl PubSub for KafkaPubSub {
    async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError> {
        let delivery = self.enqueue(&msg).await?;
        self.acknowledged(delivery, msg.data.len()).await
    }

    /// Every record is queued first, in order, then acknowledgements are awaited: the batch goes
    /// to Kafka as librdkafka batches it (records of one key keep the bulk's order), and each
    /// entry gets its own outcome, as daprd's `SendMessages`.
    async fn publish_bulk(&self, msgs: Vec<BrokerMessage>) -> Vec<Result<(), BrokerError>> {
        let mut queued = Vec::with_capacity(msgs.len());
        for msg in &msgs {
            queued.push(self.enqueue(msg).await);
        }
        let acknowledged = queued.into_iter().zip(&msgs).map(|(queued, msg)| async move {
            match queued {
                Ok(delivery) => self.acknowledged(delivery, msg.data.len()).await,
                Err(e) => Err(e),
            }
        });
        futures::future::join_all(acknowledged).await
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

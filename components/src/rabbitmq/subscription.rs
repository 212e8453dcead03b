//! One subscription: the queue `{consumerID}-{topic}` bound to the topic's exchange (instances of
//! one app id consume from the same queue, so they share messages; every app id has its own),
//! a consumer on a channel of its own with a prefetch no larger than what may be in flight,
//! bounded dispatch, ack on success and nack otherwise. The read loop outlives RabbitMQ going
//! away: it declares and consumes again after `reconnectWait` until the broker answers.

use super::connection::Connector;
use super::settings::{ExchangeKind, Settings};
use crate::{
    BrokerError, BrokerMessage, DeliverySlot, DeliverySlots, Handled, MessageHandler, ReaderControl, TaskSubscription, call_handler,
};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Consumer};
use std::collections::HashMap;
use std::sync::Arc;

/// The most a consumer asks RabbitMQ to send ahead when neither `prefetchCount` nor the
/// sidecar's concurrency says less.
const MAX_PREFETCH: usize = 1000;

/// What a subscription needs; built by `RabbitMqPubSub::subscribe`.
pub(super) struct QueueConsumer {
    pub settings: Arc<Settings>,
    pub connector: Arc<Connector>,
    pub topic: Arc<str>,
    pub queue: String,
    pub handler: Arc<dyn MessageHandler>,
    pub max_concurrency: usize,
    pub slots: DeliverySlots,
}

impl QueueConsumer {
    /// Declares the queue and starts consuming now, so a broker that refuses fails the subscription.
    pub async fn start(self) -> Result<TaskSubscription, BrokerError> {
        let (channel, consumer) = self.consume().await?;
        let control = ReaderControl::new(self.slots.clone());
        let subscription = control.subscription();
        let reader = Arc::new(Reader { consumer: self, control });
        subscription.tasks.spawn(reader.read_loop(channel, consumer));
        Ok(subscription)
    }

    /// A channel, the exchange, the queue (and its dead-letter queue), the binding, and a consumer.
    async fn consume(&self) -> Result<(Channel, Consumer), BrokerError> {
        let connection = self.connector.connection().await?;
        let failed = |what: String| move |e: lapin::Error| self.connector.unavailable(&what, &e);
        let channel = connection.create_channel().await.map_err(failed("cannot open a channel on".into()))?;
        let settings = &self.settings;
        super::declare_exchange(&channel, &self.topic, settings.exchange_kind, settings.durable)
            .await
            .map_err(failed(format!("cannot declare exchange {} on", self.topic)))?;
        let dead_letter_exchange = if settings.enable_dead_letter {
            let (exchange, queue) = (format!("dlx-{}", self.queue), format!("dlq-{}", self.queue));
            super::declare_exchange(&channel, &exchange, ExchangeKind::Fanout, true)
                .await
                .map_err(failed(format!("cannot declare dead-letter exchange {exchange} on")))?;
            let mut arguments = settings.queue_arguments(None);
            // Dapr's dead-letter queues keep what they hold on disk.
            arguments.insert("x-queue-mode".into(), AMQPValue::LongString("lazy".into()));
            let options = QueueDeclareOptions { durable: true, auto_delete: settings.deleted_when_unused, ..Default::default() };
            channel
                .queue_declare(queue.as_str().into(), options, arguments)
                .await
                .map_err(failed(format!("cannot declare queue {queue} on")))?;
            channel
                .queue_bind(queue.as_str().into(), exchange.as_str().into(), "".into(), QueueBindOptions::default(), FieldTable::default())
                .await
                .map_err(failed(format!("cannot bind queue {queue} on")))?;
            Some(exchange)
        } else {
            None
        };
        let options = QueueDeclareOptions { durable: settings.durable, auto_delete: settings.deleted_when_unused, ..Default::default() };
        let arguments = settings.queue_arguments(dead_letter_exchange.as_deref());
        channel
            .queue_declare(self.queue.as_str().into(), options, arguments)
            .await
            .map_err(failed(format!("cannot declare queue {} on", self.queue)))?;
        channel
            .queue_bind(
                self.queue.as_str().into(),
                self.topic.as_ref().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(failed(format!("cannot bind queue {} to exchange {} on", self.queue, self.topic)))?;
        // Messages sent ahead wait unacknowledged: no more than may be in flight, so instances
        // of one app id share the queue fairly.
        let prefetch = settings.prefetch_count.unwrap_or(self.max_concurrency.min(MAX_PREFETCH) as u16);
        channel.basic_qos(prefetch, BasicQosOptions::default()).await.map_err(failed(format!("cannot set prefetch {prefetch} on")))?;
        let consumer_tag = format!("{}-{}", self.queue, &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let options = BasicConsumeOptions { no_ack: settings.auto_ack, ..Default::default() };
        let consumer = channel
            .basic_consume(self.queue.as_str().into(), consumer_tag.into(), options, FieldTable::default())
            .await
            .map_err(failed(format!("cannot consume from queue {} on", self.queue)))?;
        Ok((channel, consumer))
    }
}

struct Reader {
    consumer: QueueConsumer,
    /// Stop, abandon, the tasks, and one slot per handler call in flight.
    control: ReaderControl,
}

impl Reader {
    async fn read_loop(self: Arc<Self>, channel: Channel, consumer: Consumer) {
        let mut current = Some((channel, consumer));
        let mut failures = 0u32;
        loop {
            let (channel, mut consumer) = match current.take() {
                Some(bound) => bound,
                None => match self.consumer.consume().await {
                    Ok(bound) => {
                        tracing::info!(topic = %self.consumer.topic, queue = %self.consumer.queue, "pubsub.rabbitmq: consuming again");
                        failures = 0;
                        bound
                    }
                    Err(err) => {
                        failures += 1;
                        if !self.after_failure(&err, failures).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            loop {
                let Some(slot) = self.control.reserve().await else {
                    return self.cancel(&channel, &consumer).await;
                };
                let next = tokio::select! {
                    biased;
                    () = self.control.stop.cancelled() => return self.cancel(&channel, &consumer).await,
                    next = consumer.next() => next,
                };
                match next {
                    Some(Ok(delivery)) => {
                        let slot = self.control.complete(slot).await;
                        self.control.tasks.spawn(self.clone().dispatch(delivery, slot, channel.clone()));
                    }
                    Some(Err(err)) => {
                        failures += 1;
                        let err = BrokerError::Unavailable(format!("consuming from queue {} failed: {err}", self.consumer.queue));
                        if !self.after_failure(&err, failures).await {
                            return;
                        }
                        break;
                    }
                    None => {
                        failures += 1;
                        let err = BrokerError::Unavailable(format!("the consumer of queue {} was cancelled", self.consumer.queue));
                        if !self.after_failure(&err, failures).await {
                            return;
                        }
                        break;
                    }
                }
            }
        }
    }

    /// Stops the broker sending more; what it already sent and nobody took goes back to the queue
    /// when the channel closes.
    async fn cancel(&self, channel: &Channel, consumer: &Consumer) {
        // lapin may never answer on a connection that is closing: the cancel is best effort.
        if channel.status().connected() {
            let cancel = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), cancel).await;
        }
    }

    /// Logs a failure (once per outage at warn) and waits `reconnectWait`; `false` when stopped.
    async fn after_failure(&self, err: &BrokerError, failures: u32) -> bool {
        let (topic, queue) = (&self.consumer.topic, &self.consumer.queue);
        if failures == 1 {
            tracing::warn!(%topic, %queue, %err, "pubsub.rabbitmq: subscription interrupted; retrying until RabbitMQ answers");
        } else {
            tracing::debug!(%topic, %queue, %err, failures, "pubsub.rabbitmq: still cannot consume");
        }
        tokio::select! {
            () = self.control.stop.cancelled() => false,
            () = tokio::time::sleep(self.consumer.settings.reconnect_wait) => true,
        }
    }

    /// `channel` stays open while the delivery is unsettled: lapin closes a channel once its last
    /// handle is gone, and RabbitMQ would then requeue a message the app is still processing.
    async fn dispatch(self: Arc<Self>, mut delivery: Delivery, slot: DeliverySlot, channel: Channel) {
        let mut metadata = HashMap::new();
        if let Some(headers) = delivery.properties.headers() {
            for (name, value) in headers.inner() {
                let text = match value {
                    AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    AMQPValue::ShortString(s) => s.as_str().to_owned(),
                    _ => continue,
                };
                metadata.insert(name.as_str().to_owned(), text);
            }
        }
        let message = BrokerMessage { topic: self.consumer.topic.to_string(), data: std::mem::take(&mut delivery.data).into(), metadata };
        let handled = call_handler("pubsub.rabbitmq", &*self.consumer.handler, message, None, Some(&self.control.abandon)).await;
        drop(slot);
        self.settle(&delivery, handled == Handled::Processed).await;
        drop(channel);
    }

    /// Ack, or nack: requeued unless `requeueInFailure` is off *and* a dead-letter exchange takes
    /// it (Dapr drops it there, which loses a message the app never processed).
    async fn settle(&self, delivery: &Delivery, processed: bool) {
        let settings = &self.consumer.settings;
        if settings.auto_ack {
            return;
        }
        let settled = if processed {
            delivery.ack(BasicAckOptions::default()).await
        } else {
            let requeue = settings.requeue_in_failure || !settings.enable_dead_letter;
            delivery.nack(BasicNackOptions { requeue, multiple: false }).await
        };
        if let Err(err) = settled {
            // Unacknowledged, it goes back to the queue when the channel closes: never lost.
            tracing::warn!(topic = %self.consumer.topic, %err, "pubsub.rabbitmq: settling a delivery failed; RabbitMQ will redeliver it");
        }
    }
}

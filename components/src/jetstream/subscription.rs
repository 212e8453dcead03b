//! One subscription: a durable pull consumer filtered to the topic, a read loop that pulls at
//! most as many messages as it may have in flight, bounded dispatch in stream order, `+ACK` on
//! success and `-NAK` (redeliver now) otherwise. The read loop outlives NATS going away: it
//! binds the consumer again with backoff and carries on once NATS is back.

use super::settings::Settings;
use crate::{
    BrokerError, BrokerMessage, DeliverySlot, DeliverySlots, Handled, MessageHandler, ReaderControl, TaskSubscription, call_handler,
};
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long one pull request waits for messages, and how often NATS tells an idle pull it is still
/// there (a missed beat means the pull is gone). Long, because every idle subscription costs one
/// beat per HEARTBEAT and one pull per PULL_EXPIRES: a thousand quiet subscriptions at 5 s beats
/// kept 1.9% of a core busy. A reconnect does not wait for a missed beat: the client pulls again as
/// soon as it is connected.
const PULL_EXPIRES: Duration = Duration::from_secs(60);
const HEARTBEAT: Duration = Duration::from_secs(30);

/// What a subscription needs; built by `JetStreamPubSub::subscribe`.
pub(super) struct DurableConsumer {
    pub settings: Arc<Settings>,
    pub context: jetstream::Context,
    pub stream: String,
    /// The durable consumer's name: every instance of the app binds the same one.
    pub name: String,
    pub topic: Arc<str>,
    pub handler: Arc<dyn MessageHandler>,
    pub max_concurrency: usize,
    pub slots: DeliverySlots,
}

impl DurableConsumer {
    /// Creates (or binds) the durable consumer now, so a bad setting fails the subscription.
    pub async fn start(self) -> Result<TaskSubscription, BrokerError> {
        let consumer = self.bind().await.map_err(|e| {
            BrokerError::Unavailable(format!(
                "cannot create consumer {} on stream {} at NATS {}: {e}",
                self.name,
                self.stream,
                self.settings.address()
            ))
        })?;
        let control = ReaderControl::new(self.slots.clone());
        let subscription = control.subscription();
        let reader = Arc::new(Reader { consumer: self, control });
        subscription.tasks.spawn(reader.read_loop(consumer));
        Ok(subscription)
    }

    async fn bind(&self) -> Result<PullConsumer, async_nats::Error> {
        let settings = &self.settings;
        let config = pull::Config {
            durable_name: Some(self.name.clone()),
            filter_subject: self.topic.to_string(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: settings.ack_wait,
            max_deliver: settings.max_deliver.unwrap_or(-1),
            max_ack_pending: settings.max_ack_pending.unwrap_or(0),
            deliver_policy: settings.deliver_policy,
            ..Default::default()
        };
        let stream = self.context.get_stream(&self.stream).await?;
        Ok(stream.get_or_create_consumer(&self.name, config).await?)
    }
}

struct Reader {
    consumer: DurableConsumer,
    /// Stop, abandon, the tasks, and one slot per handler call in flight.
    control: ReaderControl,
}

impl Reader {
    async fn read_loop(self: Arc<Self>, first: PullConsumer) {
        let mut bound = Some(first);
        let mut failures = 0u32;
        loop {
            let consumer = match bound.take() {
                Some(consumer) => consumer,
                None => match self.consumer.bind().await {
                    Ok(consumer) => consumer,
                    Err(err) => {
                        failures += 1;
                        if !self.after_failure("binding the consumer", &err, failures).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            // Pull no more than may be in flight: what waits in a local buffer would outlive ackWait.
            let messages = consumer
                .stream()
                .max_messages_per_batch(self.consumer.max_concurrency)
                .expires(PULL_EXPIRES)
                .heartbeat(HEARTBEAT)
                .messages()
                .await;
            let mut messages = match messages {
                Ok(messages) => messages,
                Err(err) => {
                    failures += 1;
                    if !self.after_failure("pulling", &err, failures).await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                let Some(slot) = self.control.reserve().await else { return };
                let next = tokio::select! {
                    biased;
                    () = self.control.stop.cancelled() => return,
                    next = messages.next() => next,
                };
                match next {
                    Some(Ok(message)) => {
                        if failures > 0 {
                            tracing::info!(topic = %self.consumer.topic, consumer = %self.consumer.name, "pubsub.jetstream: pulling again");
                            failures = 0;
                        }
                        let slot = self.control.complete(slot).await;
                        self.control.tasks.spawn(self.clone().dispatch(message, slot));
                    }
                    Some(Err(err)) => {
                        failures += 1;
                        if !self.after_failure("pulling", &err, failures).await {
                            return;
                        }
                        break;
                    }
                    None => break,
                }
            }
        }
    }

    /// Logs a failure (once per outage at warn) and waits; `false` when the subscription stopped.
    async fn after_failure(&self, operation: &str, err: &(dyn std::fmt::Display + Sync), failures: u32) -> bool {
        let (topic, name) = (&self.consumer.topic, &self.consumer.name);
        if failures == 1 {
            tracing::warn!(%topic, consumer = %name, %err, "pubsub.jetstream: {operation} failed; retrying until NATS answers");
        } else {
            tracing::debug!(%topic, consumer = %name, %err, failures, "pubsub.jetstream: {operation} failed again");
        }
        let backoff = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(8)).min(MAX_BACKOFF);
        tokio::select! {
            () = self.control.stop.cancelled() => false,
            () = tokio::time::sleep(backoff) => true,
        }
    }

    async fn dispatch(self: Arc<Self>, message: jetstream::Message, slot: DeliverySlot) {
        let mut metadata = std::collections::HashMap::new();
        if let Some(headers) = &message.headers {
            for (name, values) in headers.iter() {
                if let Some(value) = values.first() {
                    metadata.insert(name.to_string(), value.as_str().to_owned());
                }
            }
        }
        let broker_message = BrokerMessage { topic: self.consumer.topic.to_string(), data: message.payload.clone(), metadata };
        let handled = call_handler("pubsub.jetstream", &*self.consumer.handler, broker_message, None, Some(&self.control.abandon)).await;
        drop(slot);
        let kind = if handled == Handled::Processed { AckKind::Ack } else { AckKind::Nak(None) };
        self.settle(&message, kind).await;
    }

    async fn settle(&self, message: &jetstream::Message, kind: AckKind) {
        if let Err(err) = message.ack_with(kind).await {
            // Unacknowledged, it comes back after ackWait: at-least-once, never lost.
            tracing::warn!(topic = %self.consumer.topic, %err, "pubsub.jetstream: ack failed; the message will be redelivered after ackWait");
        }
    }
}

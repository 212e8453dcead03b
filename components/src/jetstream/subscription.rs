//! One subscription: a durable pull consumer filtered to the topic, a read loop that asks for no
//! more messages than it may have in flight ([`super::pull`]), bounded dispatch in stream order,
//! `+ACK` on success and `-NAK` (redeliver now) otherwise. The read loop outlives NATS going away:
//! it binds the consumer again with backoff and carries on once NATS is back.

use super::pull::PullFeed;
use super::settings::Settings;
use crate::{
    BrokerError, BrokerMessage, DeliverySlot, DeliverySlots, Handled, MessageHandler, ReaderControl, TaskSubscription, call_handler,
};
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What a subscription needs; built by `JetStreamPubSub::subscribe`.
pub(super) struct DurableConsumer {
    pub settings: Arc<Settings>,
    pub context: jetstream::Context,
    pub client: async_nats::Client,
    /// Changes on every (re)connection of the client.
    pub reconnects: watch::Receiver<()>,
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
        self.bind().await.map_err(|e| {
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
        subscription.tasks.spawn(reader.read_loop());
        Ok(subscription)
    }

    async fn bind(&self) -> Result<(), async_nats::Error> {
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
        stream.get_or_create_consumer::<pull::Config>(&self.name, config).await?;
        Ok(())
    }
}

struct Reader {
    consumer: DurableConsumer,
    /// Stop, abandon, the tasks, and one slot per handler call in flight.
    control: ReaderControl,
}

impl Reader {
    async fn read_loop(self: Arc<Self>) {
        let consumer = &self.consumer;
        // Bound by `start`; bound again after the feed ended on an error.
        let mut bound = true;
        let mut failures = 0u32;
        loop {
            if !bound {
                if let Err(err) = consumer.bind().await {
                    failures += 1;
                    if !self.after_failure("binding the consumer", &err, failures).await {
                        return;
                    }
                    continue;
                }
                bound = true;
            }
            let max_ack_pending = consumer.settings.max_ack_pending.and_then(|n| usize::try_from(n).ok()).filter(|&n| n > 0);
            let feed = PullFeed::open(
                &consumer.client,
                &consumer.stream,
                &consumer.name,
                consumer.max_concurrency,
                max_ack_pending,
                consumer.reconnects.clone(),
            );
            let mut feed = match feed.await {
                Ok(feed) => feed,
                Err(err) => {
                    failures += 1;
                    if !self.after_failure("subscribing", &err, failures).await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                match feed.next(&self.control).await {
                    Ok(Some((message, slot))) => {
                        if failures > 0 {
                            tracing::info!(topic = %consumer.topic, consumer = %consumer.name, "pubsub.jetstream: pulling again");
                            failures = 0;
                        }
                        let slot = self.control.complete(slot).await;
                        let message = jetstream::Message { message, context: consumer.context.clone() };
                        self.control.tasks.spawn(self.clone().dispatch(message, slot));
                    }
                    Ok(None) => return,
                    Err(err) => {
                        failures += 1;
                        if !self.after_failure("pulling", &err, failures).await {
                            return;
                        }
                        bound = false;
                        break;
                    }
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

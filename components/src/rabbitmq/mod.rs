//! `pubsub.rabbitmq`: RabbitMQ laid out as Dapr's component lays it out, so a `daprd` and a
//! `dapr-rs` sidecar can share one broker: an exchange per topic (named after it, `fanout` unless
//! `exchangeKind` says otherwise) and a queue `{consumerID}-{topic}` per app id bound to it.
//!
//! - [`settings`]: the metadata keys and Dapr's (code) defaults.
//! - [`connection`]: the one AMQP connection, opened again after it broke.
//! - [`subscription`]: the queue's consumer: ack on success, nack (requeue) otherwise.
//!
//! Publishing waits for the broker's publisher confirm on a channel in confirm mode, so a publish
//! is reported as done only once RabbitMQ took the message; while RabbitMQ is away (or refuses)
//! it fails. Publish metadata travels as AMQP headers.

mod connection;
mod settings;
mod subscription;

#[cfg(test)]
mod outage_tests;
#[cfg(test)]
mod tests;

use crate::{BrokerError, BrokerMessage, ComponentConfig, MessageHandler, PubSub, SubscribeRequest, Subscription};
use async_trait::async_trait;
use connection::Connector;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use settings::{ExchangeKind, Settings};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Publish metadata that routes the message instead of travelling with it (Dapr's keys).
const ROUTING_KEY: &str = "routingKey";
const TTL_IN_SECONDS: &str = "ttlInSeconds";

pub struct RabbitMqPubSub {
    settings: Arc<Settings>,
    connector: Arc<Connector>,
    publisher: Mutex<Option<PublishChannel>>,
}

/// The channel publishes go through (in confirm mode) and the exchanges declared on it.
struct PublishChannel {
    channel: Channel,
    /// The connection it is on, forgotten when a call on the channel never answers.
    connection: Arc<lapin::Connection>,
    exchanges: HashSet<String>,
}

impl RabbitMqPubSub {
    /// Connects, so a RabbitMQ that is down fails the component (and the sidecar's start).
    pub async fn open(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let settings = Arc::new(Settings::from_config(config)?);
        let connector = Arc::new(Connector::new(settings.clone()));
        connector.connection().await?;
        tracing::debug!(component = %config.name, address = %settings.address(), "pubsub.rabbitmq connected");
        Ok(Self { settings, connector, publisher: Mutex::new(None) })
    }

    /// The publish channel, opened again when it or the connection died, with `topic`'s exchange declared.
    /// The publishing channel, opened (and `topic`'s exchange declared) if needed. Each broker
    /// round trip here is bounded by `connect_timeout`: a connection cut without the client
    /// noticing yet still looks open, and would otherwise hold a publish forever.
    async fn publish_channel(&self, topic: &str) -> Result<(Channel, Arc<lapin::Connection>), BrokerError> {
        let mut publisher = self.publisher.lock().await;
        if publisher.as_ref().is_none_or(|p| !p.channel.status().connected()) {
            let connection = self.connector.connection().await?;
            let opened = self
                .within_connect_timeout(&connection, "cannot open a channel on", async {
                    let channel = connection.create_channel().await?;
                    channel.confirm_select(ConfirmSelectOptions::default()).await?;
                    Ok(channel)
                })
                .await?;
            *publisher = Some(PublishChannel { channel: opened, connection, exchanges: HashSet::new() });
        }
        let publisher = publisher.as_mut().expect("set above");
        if !publisher.exchanges.contains(topic) {
            let declared = declare_exchange(&publisher.channel, topic, self.settings.exchange_kind, self.settings.durable);
            self.within_connect_timeout(&publisher.connection, &format!("cannot declare exchange {topic} on"), declared).await?;
            publisher.exchanges.insert(topic.to_owned());
        }
        Ok((publisher.channel.clone(), publisher.connection.clone()))
    }

    /// Runs `call` on `connection` within `connect_timeout`; past it the connection is taken for
    /// dead and forgotten, so the next try connects afresh.
    async fn within_connect_timeout<T>(
        &self,
        connection: &Arc<lapin::Connection>,
        what: &str,
        call: impl Future<Output = lapin::Result<T>>,
    ) -> Result<T, BrokerError> {
        match tokio::time::timeout(self.settings.connect_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.connector.unavailable(what, &e)),
            Err(_) => {
                self.connector.forget(connection).await;
                Err(self.connector.unavailable(what, &format!("no answer within {:?}", self.settings.connect_timeout)))
            }
        }
    }

    async fn publish_once(&self, msg: &BrokerMessage) -> Result<(), BrokerError> {
        let (channel, connection) = self.publish_channel(&msg.topic).await?;
        let mut headers = FieldTable::default();
        for (key, value) in &msg.metadata {
            headers.insert(ShortString::from(key.as_str()), AMQPValue::LongString(value.as_str().into()));
        }
        let mut properties = BasicProperties::default().with_headers(headers);
        if self.settings.delivery_mode > 0 {
            properties = properties.with_delivery_mode(self.settings.delivery_mode);
        }
        if let Some(ttl) = msg.metadata.get(TTL_IN_SECONDS).and_then(|s| s.trim().parse::<u64>().ok()) {
            properties = properties.with_expiration(ttl.saturating_mul(1000).to_string().into());
        }
        let routing_key = msg.metadata.get(ROUTING_KEY).map(String::as_str).unwrap_or_default();
        let failed = |e: &dyn std::fmt::Display| self.connector.unavailable(&format!("cannot publish to {} on", msg.topic), e);
        let confirmed = async {
            let confirm = channel
                .basic_publish(msg.topic.as_str().into(), routing_key.into(), BasicPublishOptions::default(), &msg.data, properties)
                .await?;
            confirm.await
        };
        match tokio::time::timeout(self.settings.confirm_timeout, confirmed).await {
            Ok(Ok(Confirmation::Ack(_))) => Ok(()),
            Ok(Ok(Confirmation::Nack(_))) => Err(failed(&"the broker refused the message (nack)")),
            Ok(Ok(Confirmation::NotRequested)) => Err(failed(&"the channel is not in confirm mode")),
            Ok(Err(err)) => Err(failed(&err)),
            Err(_) => {
                // Most likely a cut the client has not noticed: the retry connects afresh.
                self.connector.forget(&connection).await;
                Err(failed(&format!("no publisher confirm within {:?}", self.settings.confirm_timeout)))
            }
        }
    }
}

/// Declares an exchange as Dapr does (never auto-deleted); a no-op when it exists alike.
async fn declare_exchange(channel: &Channel, name: &str, kind: ExchangeKind, durable: bool) -> lapin::Result<()> {
    let options = ExchangeDeclareOptions { durable, ..Default::default() };
    channel.exchange_declare(name.into(), kind.lapin(), options, FieldTable::default()).await
}

#[async_trait]
impl PubSub for RabbitMqPubSub {
    async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError> {
        if msg.topic.is_empty() {
            return Err(BrokerError::Other("pubsub.rabbitmq: cannot publish to an empty topic name".into()));
        }
        match self.publish_once(&msg).await {
            Ok(()) => Ok(()),
            // The first publish after RabbitMQ came back finds the old channel dead; one more try
            // on a fresh connection (a channel error also closes the channel: start over).
            Err(first) => {
                tracing::debug!(topic = %msg.topic, error = %first, "pubsub.rabbitmq: publish failed; trying once more on a new channel");
                self.publisher.lock().await.take();
                self.publish_once(&msg).await
            }
        }
    }

    async fn subscribe(&self, req: SubscribeRequest, handler: Arc<dyn MessageHandler>) -> Result<Box<dyn Subscription>, BrokerError> {
        if req.topic.is_empty() {
            return Err(BrokerError::Other("pubsub.rabbitmq: cannot subscribe to an empty topic name".into()));
        }
        let max_concurrency = if self.settings.single { 1 } else { req.max_concurrency.max(1) };
        let slots = req.slots(max_concurrency);
        let consumer = subscription::QueueConsumer {
            settings: self.settings.clone(),
            connector: self.connector.clone(),
            queue: format!("{}-{}", req.consumer_group, req.topic),
            topic: Arc::from(req.topic),
            handler,
            max_concurrency,
            slots,
        };
        Ok(Box::new(consumer.start().await?))
    }

    async fn close(&self) {
        // Closed before the connection: a channel still closing when the connection goes logs an error.
        if let Some(publisher) = self.publisher.lock().await.take()
            && publisher.channel.status().connected()
        {
            let _ = publisher.channel.close(200, "dapr-rs sidecar shutting down".into()).await;
        }
        self.connector.close().await;
    }
}

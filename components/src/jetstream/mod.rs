//! `pubsub.jetstream`: NATS JetStream with Dapr's metadata keys. Subject = topic; the stream
//! holding it is `streamName` (the topic is added to its subjects when missing), or else the
//! stream that already holds the subject, or else a stream of its own named after the topic.
//!
//! - [`settings`]: the metadata keys and their defaults.
//! - [`subscription`]: a durable pull consumer per app id and topic (instances of one app id pull
//!   from the same consumer, so they share messages), explicit ack on success, nak otherwise.
//! - [`pull`]: the pull requests, asking for no more messages than there are free delivery slots.
//!
//! Publishing waits for JetStream's ack (the message is stored) and fails while NATS is away.

mod pull;
mod settings;
mod subscription;

#[cfg(test)]
mod outage_tests;
#[cfg(test)]
mod pull_tests;

use crate::{BrokerError, BrokerMessage, ComponentConfig, MessageHandler, PubSub, SubscribeRequest, Subscription, url_credentials};
use async_nats::jetstream::{self, stream};
use async_nats::{HeaderMap, ServerAddr};
use async_trait::async_trait;
use settings::{Settings, nats_name};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, watch};

pub struct JetStreamPubSub {
    settings: Arc<Settings>,
    client: async_nats::Client,
    context: jetstream::Context,
    /// Changes on every (re)connection: a subscription's pull requests die with the connection.
    reconnects: watch::Receiver<()>,
    /// The stream found (or made) for each topic, so a publish asks NATS only the first time.
    streams: Mutex<HashMap<String, String>>,
}

impl JetStreamPubSub {
    /// Connects, so a NATS that is down fails the component (and the sidecar's start).
    pub async fn open(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let settings = Settings::from_config(config)?;
        // The client logs the address it dials: it gets one without credentials, and them apart.
        let (bare_url, credentials) = url_credentials::split(&settings.url);
        let address: ServerAddr =
            bare_url.parse().map_err(|e| BrokerError::Config(format!("natsURL: {:?} is not a NATS address: {e}", settings.address())))?;
        let (connected, reconnects) = watch::channel(());
        let mut options = async_nats::ConnectOptions::new().connection_timeout(settings.connect_timeout).event_callback(move |event| {
            if matches!(event, async_nats::Event::Connected) {
                connected.send_replace(());
            }
            std::future::ready(())
        });
        options = match credentials {
            Some((user, Some(password))) => options.user_and_password(user, password),
            Some((token, None)) => options.token(token),
            None => options,
        };
        if let Some(name) = &settings.connection_name {
            options = options.name(name);
        }
        if let Some(token) = &settings.token {
            options = options.token(token.clone());
        }
        let client = options
            .connect(address)
            .await
            .map_err(|e| BrokerError::Unavailable(format!("cannot connect to NATS at {}: {e}", settings.address())))?;
        let context = jetstream::new(client.clone());
        // Proves JetStream is enabled on that server, which a bare connect does not. Read as plain
        // JSON: the client's typed reply does not parse what Debian's nats-server 2.9 sends.
        let no_jetstream = |why: String| {
            BrokerError::Unavailable(format!(
                "NATS at {} does not answer JetStream requests (is it started with -js?): {why}",
                settings.address()
            ))
        };
        let reply = client.request("$JS.API.INFO", bytes::Bytes::new()).await.map_err(|e| no_jetstream(e.to_string()))?;
        let info: serde_json::Value = serde_json::from_slice(&reply.payload).map_err(|e| no_jetstream(e.to_string()))?;
        if let Some(error) = info.get("error") {
            return Err(no_jetstream(error.to_string()));
        }
        tracing::debug!(component = %config.name, url = %settings.address(), "pubsub.jetstream connected");
        Ok(Self { settings: Arc::new(settings), client, context, reconnects, streams: Mutex::new(HashMap::new()) })
    }

    /// The name of the stream that holds `topic`, creating or extending one as the module says.
    async fn stream_for(&self, topic: &str) -> Result<String, BrokerError> {
        if let Some(name) = self.streams.lock().await.get(topic) {
            return Ok(name.clone());
        }
        let name = match &self.settings.stream_name {
            Some(name) => self.add_subject(name, topic).await?,
            None => match self.context.stream_by_subject(topic).await {
                Ok(name) => name,
                Err(_) => self.create_stream(&nats_name(topic), vec![topic.to_owned()]).await?,
            },
        };
        self.streams.lock().await.insert(topic.to_owned(), name.clone());
        Ok(name)
    }

    async fn create_stream(&self, name: &str, subjects: Vec<String>) -> Result<String, BrokerError> {
        let config = stream::Config {
            name: name.to_owned(),
            subjects,
            storage: if self.settings.memory_storage { stream::StorageType::Memory } else { stream::StorageType::File },
            num_replicas: self.settings.replicas,
            ..Default::default()
        };
        self.context.get_or_create_stream(config).await.map_err(|e| self.unavailable(&format!("cannot create stream {name} on"), &e))?;
        Ok(name.to_owned())
    }

    /// `streamName` exists and covers `topic`: adds the topic to its subjects when it does not.
    async fn add_subject(&self, name: &str, topic: &str) -> Result<String, BrokerError> {
        let mut stream = match self.context.get_stream(name).await {
            Ok(stream) => stream,
            Err(err) if matches!(err.kind(), jetstream::context::GetStreamErrorKind::JetStream(_)) => {
                return self.create_stream(name, vec![topic.to_owned()]).await;
            }
            Err(err) => return Err(self.unavailable(&format!("cannot look up stream {name} on"), &err)),
        };
        let info = stream.info().await.map_err(|e| self.unavailable(&format!("cannot read stream {name} on"), &e))?;
        if info.config.subjects.iter().any(|pattern| subject_matches(pattern, topic)) {
            return Ok(name.to_owned());
        }
        let mut config = info.config.clone();
        config.subjects.push(topic.to_owned());
        self.context
            .update_stream(config)
            .await
            .map_err(|e| self.unavailable(&format!("cannot add subject {topic} to stream {name} on"), &e))?;
        Ok(name.to_owned())
    }

    fn unavailable(&self, what: &str, err: &dyn std::fmt::Display) -> BrokerError {
        BrokerError::Unavailable(format!("{what} NATS at {}: {err}", self.settings.address()))
    }
}

/// Whether a NATS subject pattern (`*` one token, `>` the rest) covers `subject`.
fn subject_matches(pattern: &str, subject: &str) -> bool {
    let (mut pattern, mut subject) = (pattern.split('.'), subject.split('.'));
    loop {
        match (pattern.next(), subject.next()) {
            (Some(">"), Some(_)) => return true,
            (Some(p), Some(s)) if p == "*" || p == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[async_trait]
impl PubSub for JetStreamPubSub {
    async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError> {
        if msg.topic.is_empty() {
            return Err(BrokerError::Other("pubsub.jetstream: cannot publish to an empty topic name".into()));
        }
        self.stream_for(&msg.topic).await?;
        let mut headers = HeaderMap::new();
        for (key, value) in &msg.metadata {
            headers.insert(key.as_str(), value.as_str());
        }
        let stored = match self.context.publish_with_headers(msg.topic.clone(), headers, msg.data).await {
            Ok(ack) => ack.await,
            Err(err) => Err(err),
        };
        stored.map(|_| ()).map_err(|e| {
            // The stream may have been deleted: look it up again next time.
            if let Ok(mut streams) = self.streams.try_lock() {
                streams.remove(&msg.topic);
            }
            self.unavailable(&format!("cannot publish to {} on", msg.topic), &e)
        })
    }

    async fn subscribe(&self, req: SubscribeRequest, handler: Arc<dyn MessageHandler>) -> Result<Box<dyn Subscription>, BrokerError> {
        if req.topic.is_empty() {
            return Err(BrokerError::Other("pubsub.jetstream: cannot subscribe to an empty topic name".into()));
        }
        let stream = self.stream_for(&req.topic).await?;
        let slots = req.slots(req.max_concurrency);
        let durable = self.settings.durable_name.clone().unwrap_or(req.consumer_group);
        let consumer = subscription::DurableConsumer {
            settings: self.settings.clone(),
            context: self.context.clone(),
            client: self.client.clone(),
            reconnects: self.reconnects.clone(),
            stream,
            // Consumer names are per stream, and one stream may hold many topics.
            name: nats_name(&format!("{durable}-{}", req.topic)),
            topic: Arc::from(req.topic),
            handler,
            max_concurrency: req.max_concurrency.max(1),
            slots,
        };
        Ok(Box::new(consumer.start().await?))
    }

    async fn close(&self) {
        if let Err(err) = self.client.drain().await {
            tracing::debug!(%err, "pubsub.jetstream: draining the NATS connection failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{JetStreamPubSub, subject_matches};
    use crate::{BrokerError, ComponentConfig};

    #[tokio::test]
    async fn a_nats_that_is_down_fails_the_component_naming_its_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("nats://127.0.0.1:{port}");
        let config = ComponentConfig {
            name: "pubsub".into(),
            component_type: "pubsub.jetstream".into(),
            metadata: [("natsURL".to_owned(), url.clone())].into(),
            app_id: "checkout".into(),
        };
        match JetStreamPubSub::open(&config).await {
            Err(BrokerError::Unavailable(message)) => assert!(message.contains(&url), "{message}"),
            Err(other) => panic!("expected Unavailable, got {other}"),
            Ok(_) => panic!("nothing listens on {url}"),
        }
    }

    #[tokio::test]
    async fn a_bad_deliver_policy_names_the_key() {
        let config = ComponentConfig { metadata: [("deliverPolicy".to_owned(), "sometimes".to_owned())].into(), ..Default::default() };
        let err = JetStreamPubSub::open(&config).await.err().expect("an unknown deliverPolicy is refused");
        assert!(err.to_string().contains("deliverPolicy"), "{err}");
    }

    #[test]
    fn subject_patterns_cover_what_nats_says_they_cover() {
        assert!(subject_matches("orders", "orders"));
        assert!(subject_matches("orders.*", "orders.new"));
        assert!(subject_matches("orders.>", "orders.new.eu"));
        assert!(!subject_matches("orders.*", "orders.new.eu"));
        assert!(!subject_matches("orders", "orders.new"));
        assert!(!subject_matches("orders.>", "orders"));
    }
}

//! `pubsub.redis`: Redis Streams laid out as Dapr's component lays them out (contract §7), so a
//! `daprd` and a `dapr-rs` sidecar can share one Redis.
//!
//! - [`settings`]: the metadata keys and Dapr's (code) defaults.
//! - [`connection`]: the component's shared multiplexed connection, and one per consumer group
//!   for [`quiet_streams`]: one blocked XREADGROUP over every drained stream of the group.
//! - [`stream_entry`]: the stream's fields (`data`, `metadata`) and reading replies into messages.
//! - [`subscription`]: XGROUP CREATE … MKSTREAM, XREADGROUP, dispatch with bounded concurrency,
//!   XACK on success, and XPENDING + XCLAIM redelivery of what stayed unacknowledged.
//!
//! A message the app did not take (RETRY after the sidecar's own retries, or a handler error)
//! stays pending and is marked idle so the next redelivery round claims it, as daprd ≤1.16 did;
//! daprd ≥1.17 acknowledges it instead, which loses it when no dead-letter topic is set.
//!
//! Publishing is `XADD <topic> [MAXLEN ~ n | MINID ~ id] * data <bytes> [metadata <json>]`; it
//! returns only after Redis answered, and fails (never succeeds silently) while Redis is away.

mod connection;
mod quiet_streams;
mod settings;
mod stream_entry;
mod subscription;

#[cfg(test)]
mod tests;

use crate::{BrokerError, BrokerMessage, ComponentConfig, MessageHandler, PubSub, SubscribeRequest, Subscription};
use async_trait::async_trait;
use quiet_streams::QuietStreams;
use redis::aio::ConnectionManager;
use settings::Settings;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An XADD's bytes besides the topic and the payload: the name, the trimming arguments, `*`, the
/// field names and a small metadata map.
const XADD_FIXED_BYTES: usize = 128;

pub struct RedisStreamsPubSub {
    settings: Arc<Settings>,
    client: redis::Client,
    /// Publishes, acks and redelivery share this one connection; concurrent commands pipeline.
    shared: ConnectionManager,
    consumer_id: String,
    /// Per consumer group, where its drained streams wait.
    quiet: std::sync::Mutex<std::collections::HashMap<String, Arc<QuietStreams>>>,
}

impl RedisStreamsPubSub {
    /// Connects, so a Redis that is down fails the component (and the sidecar's start).
    pub async fn open(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let settings = Settings::from_config(config)?;
        let client = connection::client(&settings)?;
        let response_timeout = settings.read_timeout.max(settings.write_timeout);
        let shared = connection::connect(&client, &settings, response_timeout).await?;
        tracing::debug!(component = %config.name, address = %settings.address(), db = settings.db, "pubsub.redis connected");
        Ok(Self { settings: Arc::new(settings), client, shared, consumer_id: config.consumer_id(), quiet: Default::default() })
    }

    /// The group's [`QuietStreams`], started on first use.
    fn quiet_streams(&self, group: &str) -> Result<Arc<QuietStreams>, BrokerError> {
        let mut quiet = self.quiet.lock().expect("quiet streams lock");
        if let Some(streams) = quiet.get(group) {
            return Ok(streams.clone());
        }
        // XREADGROUP blocks its connection for up to readTimeout, so it gets one of its own.
        let reader = connection::connect_lazily(&self.client, &self.settings, self.settings.read_timeout * 2 + Duration::from_secs(1))?;
        let streams = QuietStreams::start(self.settings.clone(), Arc::from(group), reader, self.shared.clone());
        quiet.insert(group.to_owned(), streams.clone());
        Ok(streams)
    }

    /// Redis' refusal of an XADD to `topic`, for the app.
    fn refused(&self, topic: &str, err: &dyn std::fmt::Display) -> BrokerError {
        BrokerError::Other(format!("Redis at {} refused XADD {topic}: {err}", self.settings.address()))
    }

    fn xadd(&self, msg: &BrokerMessage) -> redis::Cmd {
        // Sized for the whole command at once: a bulk publish builds one per entry.
        let mut cmd = redis::Cmd::with_capacity(8, msg.topic.len() + msg.data.len() + XADD_FIXED_BYTES);
        cmd.arg("XADD").arg(&msg.topic);
        if let Some(max_len) = self.settings.max_len_approx {
            cmd.arg("MAXLEN").arg("~").arg(max_len);
        } else if let Some(ttl) = self.settings.stream_ttl {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis();
            cmd.arg("MINID").arg("~").arg(format!("{}-1", now_ms.saturating_sub(ttl.as_millis())));
        }
        cmd.arg("*");
        stream_entry::write_fields(&mut cmd, msg);
        cmd
    }
}

fn empty_topic() -> BrokerError {
    BrokerError::Other("pubsub.redis: cannot publish to an empty topic name".into())
}

#[async_trait]
impl PubSub for RedisStreamsPubSub {
    async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError> {
        if msg.topic.is_empty() {
            return Err(empty_topic());
        }
        let (xadd, mut connection) = (self.xadd(&msg), self.shared.clone());
        let mut sent = xadd.query_async::<String>(&mut connection).await;
        // The first command after Redis came back fails on the dead connection and starts the
        // reconnect; one more try waits for it (go-redis retries the same way).
        if sent.as_ref().is_err_and(connection::is_connection_error) {
            sent = xadd.query_async::<String>(&mut connection).await;
        }
        match sent {
            Ok(_id) => Ok(()),
            Err(err) if connection::is_connection_error(&err) => Err(connection::unavailable(&self.settings, "cannot publish to", &err)),
            Err(err) => Err(self.refused(&msg.topic, &err)),
        }
    }

    /// One pipeline of XADDs, written at once and answered in one read: the default's hundred
    /// concurrent commands each paid the multiplexed connection's hand-over and its own reply
    /// future. Redis answers each XADD on its own, so each entry gets its own result.
    async fn publish_bulk(&self, msgs: Vec<BrokerMessage>) -> Vec<Result<(), BrokerError>> {
        if msgs.iter().any(|m| m.topic.is_empty()) {
            return msgs.iter().map(|_| Err(empty_topic())).collect();
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for msg in &msgs {
            pipe.add_command(self.xadd(msg));
        }
        let mut connection = self.shared.clone();
        let mut sent = pipe.query_async::<Vec<redis::RedisResult<String>>>(&mut connection).await;
        // As in `publish`: the first pipeline after Redis came back fails on the dead connection.
        if sent.as_ref().is_err_and(connection::is_connection_error) {
            sent = pipe.query_async::<Vec<redis::RedisResult<String>>>(&mut connection).await;
        }
        match sent {
            Ok(replies) if replies.len() == msgs.len() => {
                replies.into_iter().zip(&msgs).map(|(reply, msg)| reply.map(drop).map_err(|e| self.refused(&msg.topic, &e))).collect()
            }
            Ok(replies) => {
                let err = format!("{} replies to a pipeline of {} XADDs", replies.len(), msgs.len());
                msgs.iter().map(|msg| Err(self.refused(&msg.topic, &err))).collect()
            }
            Err(err) if connection::is_connection_error(&err) => {
                msgs.iter().map(|_| Err(connection::unavailable(&self.settings, "cannot publish to", &err))).collect()
            }
            Err(err) => msgs.iter().map(|msg| Err(self.refused(&msg.topic, &err))).collect(),
        }
    }

    async fn subscribe(&self, req: SubscribeRequest, handler: Arc<dyn MessageHandler>) -> Result<Box<dyn Subscription>, BrokerError> {
        if req.topic.is_empty() {
            return Err(BrokerError::Other("pubsub.redis: cannot subscribe to an empty topic name".into()));
        }
        let slots = req.slots(self.settings.queue_depth);
        let group = if req.consumer_group.is_empty() { self.consumer_id.clone() } else { req.consumer_group };
        let quiet = self.quiet_streams(&group)?;
        let consumer = subscription::StreamConsumer {
            settings: self.settings.clone(),
            shared: self.shared.clone(),
            quiet,
            topic: Arc::from(req.topic),
            group: Arc::from(group),
            handler,
            max_concurrency: req.max_concurrency.clamp(1, self.settings.concurrency),
            queue: slots,
        };
        Ok(Box::new(consumer.start().await?))
    }

    async fn close(&self) {
        for quiet in self.quiet.lock().expect("quiet streams lock").values() {
            quiet.stop();
        }
    }
}

impl Drop for RedisStreamsPubSub {
    fn drop(&mut self) {
        // Their tasks hold only what they read with; stopped here, they end with the component.
        for quiet in self.quiet.get_mut().map(|q| q.values()).into_iter().flatten() {
            quiet.stop();
        }
    }
}

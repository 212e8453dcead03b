//! `pubsub.sqlite`, the embedded default broker: durable, and shared by every sidecar on one machine
//! through one SQLite file, so a publisher's sidecar and a subscriber's sidecar meet without a
//! broker process.
//!
//! - [`settings`]: the metadata keys (`path`, `consumerID`, `processingTimeout`,
//!   `redeliverInterval`, `retention`) and their defaults.
//! - [`schema`]: the tables (messages, consumer groups with cursors, pending leases, doorbells).
//! - [`store`]: one OS thread per instance owns the connection and commits whatever is queued in one
//!   transaction (group commit); [`queries`] holds the SQL of each operation, and [`checkpoint`]
//!   keeps WAL checkpoints (and their fsyncs) out of the commit path.
//! - [`doorbell`]: after a commit, a UDP datagram on 127.0.0.1 wakes the subscribers of the topic,
//!   in this process or another, within a millisecond; no polling. One lease watcher per component
//!   asks every `redeliverInterval` which groups have something to claim (a lease another instance
//!   let expire, a lost ring) and wakes just those subscriptions: idle cost does not grow with the
//!   number of subscriptions.
//! - [`subscription`]: claim, dispatch with bounded concurrency, ack or retry with backoff.
//!
//! Delivery is at-least-once: every consumer group gets every message, the instances of one group
//! share them, and a message is deleted only after every group has acknowledged it (or it outlived
//! `retention`).

mod checkpoint;
mod doorbell;
mod queries;
mod schema;
mod settings;
mod store;
mod subscription;

#[cfg(test)]
mod tests;

use crate::{BrokerError, BrokerMessage, ComponentConfig, MessageHandler, PubSub, SubscribeRequest, Subscription};
use async_trait::async_trait;
use doorbell::Doorbell;
use settings::Settings;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use store::{Store, TopicGroup};
use subscription::Worker;
use tokio_util::sync::CancellationToken;

/// How often old and fully consumed messages are deleted.
const CLEANUP_INTERVAL: Duration = Duration::from_secs(30);
/// Rows deleted per cleanup step, so one step never holds the write lock for long.
const CLEANUP_CHUNK: usize = 5_000;

pub struct SqlitePubSub {
    settings: Settings,
    consumer_id: String,
    store: Store,
    doorbell: Arc<Doorbell>,
    /// Cancels the doorbell's receive task and the cleanup task.
    background: CancellationToken,
    next_subscription: AtomicU64,
}

impl SqlitePubSub {
    /// Opens (creating if needed) the database named by the `path` metadata key.
    pub async fn open(config: &ComponentConfig) -> Result<Self, BrokerError> {
        let settings = Settings::from_config(config)?;
        let background = CancellationToken::new();
        let doorbell = Doorbell::bind(background.clone())
            .await
            .map_err(|err| BrokerError::Unavailable(format!("pubsub.sqlite: cannot bind a wake-up socket on 127.0.0.1: {err}")))?;
        let store = Store::open(&settings.path, doorbell.port()).await.inspect_err(|_| background.cancel())?;
        tokio::spawn(clean_periodically(store.clone(), settings.retention, background.clone()));
        tokio::spawn(watch_leases(store.clone(), doorbell.clone(), settings.redeliver_interval, background.clone()));
        tracing::debug!(path = %settings.path.display(), port = doorbell.port(), "pubsub.sqlite opened");
        Ok(Self { settings, consumer_id: config.consumer_id(), store, doorbell, background, next_subscription: AtomicU64::new(1) })
    }

    /// Runs one full cleanup now (tests; the component also runs it every 30 s).
    #[cfg(test)]
    async fn clean_now(&self) -> Result<(), BrokerError> {
        while self.store.cleanup(self.settings.retention, CLEANUP_CHUNK).await? {}
        Ok(())
    }
}

impl Drop for SqlitePubSub {
    fn drop(&mut self) {
        self.background.cancel();
    }
}

#[async_trait]
impl PubSub for SqlitePubSub {
    async fn publish(&self, msg: BrokerMessage) -> Result<(), BrokerError> {
        self.store.publish(msg).await
    }

    async fn subscribe(&self, req: SubscribeRequest, handler: Arc<dyn MessageHandler>) -> Result<Box<dyn Subscription>, BrokerError> {
        if req.topic.is_empty() {
            return Err(BrokerError::Other("pubsub.sqlite: cannot subscribe to an empty topic name".into()));
        }
        let slots = req.slots(req.max_concurrency);
        let group = if req.consumer_group.is_empty() { self.consumer_id.clone() } else { req.consumer_group };
        let worker = Worker {
            store: self.store.clone(),
            doorbell: self.doorbell.clone(),
            key: Arc::new(TopicGroup { topic: req.topic, group }),
            id: self.next_subscription.fetch_add(1, Ordering::Relaxed),
            handler,
            slots,
            processing_timeout: self.settings.processing_timeout,
            redeliver_interval: self.settings.redeliver_interval,
        };
        Ok(Box::new(worker.start().await?))
    }

    async fn close(&self) {
        self.background.cancel();
        self.store.close().await;
    }
}

/// Every `interval`, one query for the groups with something to claim, waking their subscriptions
/// in this instance.
async fn watch_leases(store: Store, doorbell: Arc<Doorbell>, interval: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.claimable_groups().await {
            Ok(groups) => doorbell.wake_groups(&groups),
            Err(_) if store.is_closed() => return,
            Err(err) => tracing::debug!(%err, "pubsub.sqlite could not look for expired leases; will retry"),
        }
    }
}

async fn clean_periodically(store: Store, retention: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(CLEANUP_INTERVAL.min(retention).max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        loop {
            match store.cleanup(retention, CLEANUP_CHUNK).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(_) if store.is_closed() => return,
                Err(err) => {
                    tracing::warn!(%err, "pubsub.sqlite cleanup failed; will retry");
                    break;
                }
            }
        }
    }
}

//! Subscriptions of one consumer group share one Kafka consumer, as daprd's component shares one
//! consumer group session: a new topic joins that consumer's topic list (one member of the group
//! per instance, so adding a topic is one quick rebalance, not one per subscription), and each
//! record goes to its topic's subscription. Instances of one app id share the topics'
//! partitions; other app ids each get every record.
//!
//! Per partition one loop hands records over in offset order, as components-contrib has. A
//! record is stored for the next (auto-)commit once the handler took it; one it did not take is
//! tried again after `backOffDuration`, holding its partition as daprd does. What was never
//! stored is delivered again after a restart or a rebalance (at-least-once).

use super::record;
use super::settings::Settings;
use crate::{BrokerError, BrokerMessage, DeliverySlots, Handled, MessageHandler, ReaderControl, Subscription, call_handler};
use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// How long a new topic may take to be assigned (a rebalance waits for every member).
const JOIN_DEADLINE: Duration = Duration::from_secs(30);
/// How long the final commit and the group leave may take at stop.
const CLOSE_DEADLINE: Duration = Duration::from_secs(2);

/// The consumer one consumer group's subscriptions share, and where its records go.
pub(super) struct GroupConsumer {
    settings: Arc<Settings>,
    group: String,
    /// Shared with the thread that closes it (see `Drop`).
    consumer: Arc<StreamConsumer<GroupContext>>,
    /// Topic → its subscription's delivery.
    routes: Mutex<HashMap<String, Arc<TopicRoute>>>,
    /// Ends the read loop once the last subscription is gone.
    stop: CancellationToken,
    /// How many rebalances assigned this consumer partitions so far.
    assigned: watch::Receiver<Assignment>,
    /// What consuming failed with last, for a subscription that is never assigned its topic
    /// (e.g. Kafka refused the group's `sessionTimeout`).
    last_error: Mutex<Option<String>>,
}

#[derive(Debug, Clone, Default)]
struct Assignment {
    rebalances: u64,
}

impl GroupConsumer {
    pub fn open(settings: Arc<Settings>, group: String) -> Result<Arc<Self>, BrokerError> {
        let (assigned_tx, assigned) = watch::channel(Assignment::default());
        let consumer: StreamConsumer<GroupContext> = settings
            .consumer(&group)
            .create_with_context(GroupContext { assigned: assigned_tx })
            .map_err(|e| BrokerError::Config(format!("cannot configure the Kafka consumer: {e}")))?;
        let group = Arc::new(Self {
            settings,
            group,
            consumer: Arc::new(consumer),
            routes: Mutex::default(),
            stop: CancellationToken::new(),
            assigned,
            last_error: Mutex::default(),
        });
        tokio::spawn(group.clone().run());
        Ok(group)
    }

    /// Whether the last subscription left: a new one needs a new consumer.
    pub fn is_closed(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Adds `topic` to the consumer's topics and returns once the group has assigned this
    /// consumer its share of them, so what is published from then on reaches the subscription.
    pub async fn subscribe(
        self: &Arc<Self>,
        admin: &AdminClient<DefaultClientContext>,
        topic: &str,
        handler: Arc<dyn MessageHandler>,
        slots: DeliverySlots,
    ) -> Result<KafkaSubscription, BrokerError> {
        ensure_topic(admin, topic).await;
        let control = ReaderControl::new(slots);
        let route = Arc::new(TopicRoute { topic: topic.into(), handler, control, partitions: Mutex::default() });
        let before = self.assigned.borrow().rebalances;
        {
            let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            if routes.contains_key(topic) {
                return Err(BrokerError::Other(format!("{topic} already has a subscription in consumer group {}", self.group)));
            }
            routes.insert(topic.to_owned(), route.clone());
            self.resubscribe(&routes)?;
        }
        let mut assigned = self.assigned.clone();
        // The first rebalance after the topic joined the list: this instance now has its share of
        // the topic's partitions, which is none where other instances of the app hold them all.
        let joined = tokio::time::timeout(JOIN_DEADLINE, assigned.wait_for(|a| a.rebalances > before)).await.is_ok_and(|r| r.is_ok());
        let subscription = KafkaSubscription { group: self.clone(), route };
        match joined {
            true => Ok(subscription),
            false => {
                subscription.stop(Duration::ZERO).await;
                let said = self.last_error.lock().unwrap_or_else(|e| e.into_inner()).take().map(|e| format!("; Kafka said: {e}"));
                Err(BrokerError::Unavailable(format!(
                    "consumer group {} was not assigned {topic} by Kafka {} within {JOIN_DEADLINE:?}{}",
                    self.group,
                    self.settings.brokers,
                    said.unwrap_or_default()
                )))
            }
        }
    }

    fn resubscribe(&self, routes: &HashMap<String, Arc<TopicRoute>>) -> Result<(), BrokerError> {
        let topics: Vec<&str> = routes.keys().map(String::as_str).collect();
        if topics.is_empty() {
            self.consumer.unsubscribe();
            return Ok(());
        }
        self.consumer
            .subscribe(&topics)
            .map_err(|e| BrokerError::Unavailable(format!("cannot subscribe to {topics:?} at Kafka {}: {e}", self.settings.brokers)))
    }

    fn route(&self, topic: &str) -> Option<Arc<TopicRoute>> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner()).get(topic).cloned()
    }

    fn remove(&self, topic: &str) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes.remove(topic);
        if routes.is_empty() {
            self.stop.cancel();
        } else if let Err(e) = self.resubscribe(&routes) {
            tracing::warn!(group = %self.group, %e, "pubsub.kafka: could not drop a topic from the consumer");
        }
    }
}

impl GroupConsumer {
    /// Reads until the last subscription left, then commits what was stored and leaves the group.
    /// Both block on Kafka without a deadline of their own, so they run on a thread of their own
    /// that is waited for only up to CLOSE_DEADLINE (a blocking-pool task would hold the runtime's
    /// shutdown for as long as Kafka does not answer).
    async fn run(self: Arc<Self>) {
        self.clone().read_loop().await;
        let consumer = self.consumer.clone();
        let (done_tx, done) = oneshot::channel();
        let closing = std::thread::Builder::new().name("kafka-commit".into()).spawn(move || {
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(%e, "pubsub.kafka: nothing committed at stop");
            }
            consumer.unsubscribe();
            let _ = done_tx.send(());
        });
        if closing.is_err() || tokio::time::timeout(CLOSE_DEADLINE, done).await.is_err() {
            tracing::warn!(group = %self.group, "pubsub.kafka: the final commit did not finish in time; what it held comes back after a restart");
        }
        // Unsubscribing revokes this member's partitions, which librdkafka completes (and then leaves
        // the group) only while the consumer is polled: poll, dropping what still arrives (never
        // stored), until nothing is assigned, or the group waits a session timeout for this member.
        let leaving = async {
            while self.consumer.assignment().is_ok_and(|a| a.count() > 0) {
                let _ = tokio::time::timeout(Duration::from_millis(50), self.consumer.recv()).await;
            }
        };
        if tokio::time::timeout(CLOSE_DEADLINE, leaving).await.is_err() {
            tracing::debug!(group = %self.group, "pubsub.kafka: the group did not take back this member's partitions in time");
        }
    }

    async fn read_loop(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            let next = tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                next = self.consumer.recv() => next.map(|m| m.detach()),
            };
            match next {
                Ok(record) => {
                    failures = 0;
                    // A record of a topic whose subscription left is not stored: it stays for the
                    // group's next subscriber.
                    if let Some(route) = self.route(record.topic()) {
                        route.take(&self, record).await;
                    }
                }
                Err(err) => {
                    failures += 1;
                    *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(err.to_string());
                    if failures == 1 {
                        tracing::warn!(group = %self.group, %err, "pubsub.kafka: consuming failed; retrying until Kafka answers");
                    } else {
                        tracing::debug!(group = %self.group, %err, failures, "pubsub.kafka: consuming failed again");
                    }
                    tokio::select! {
                        () = self.stop.cancelled() => return,
                        () = tokio::time::sleep(self.settings.consume_retry_interval.max(Duration::from_millis(10))) => {}
                    }
                }
            }
        }
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        // Closing a consumer leaves its group over the network and blocks until Kafka answers:
        // never on an async thread, and never waited for.
        let consumer = self.consumer.clone();
        let _ = std::thread::Builder::new().name("kafka-close".into()).spawn(move || drop(consumer));
    }
}

/// Tells subscribers what the group assigned this consumer after each rebalance.
struct GroupContext {
    assigned: watch::Sender<Assignment>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::debug!(partitions = partitions.count(), "pubsub.kafka: partitions assigned");
                self.assigned.send_modify(|a| a.rebalances += 1);
            }
            Rebalance::Revoke(partitions) => tracing::debug!(partitions = partitions.count(), "pubsub.kafka: partitions revoked"),
            Rebalance::Error(e) => tracing::warn!(%e, "pubsub.kafka: rebalance failed"),
        }
    }
}

/// Creates the topic with the broker's default partitions and replication; one that exists, or
/// a broker that refuses (no rights), is left to the broker's own topic creation.
async fn ensure_topic(admin: &AdminClient<DefaultClientContext>, topic: &str) {
    let new_topic = NewTopic::new(topic, -1, TopicReplication::Fixed(-1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    match admin.create_topics([&new_topic], &options).await {
        Ok(results) => {
            for result in results {
                if let Err((name, code)) = result
                    && code != RDKafkaErrorCode::TopicAlreadyExists
                {
                    tracing::debug!(topic = %name, ?code, "pubsub.kafka: topic not created; left to the broker");
                }
            }
        }
        Err(e) => tracing::debug!(%topic, %e, "pubsub.kafka: topic not created; left to the broker"),
    }
}

type Queued = (OwnedMessage, crate::DeliverySlot);

/// One subscription's delivery: its handler, its slots and tasks, one loop per partition.
struct TopicRoute {
    topic: Arc<str>,
    handler: Arc<dyn MessageHandler>,
    control: ReaderControl,
    partitions: Mutex<HashMap<i32, mpsc::UnboundedSender<Queued>>>,
}

impl TopicRoute {
    /// Takes a slot for `record` (waiting for one holds the group's reading: at most one record
    /// waits) and queues it on its partition's loop.
    async fn take(self: &Arc<Self>, group: &Arc<GroupConsumer>, record: OwnedMessage) {
        let Some(slot) = self.control.slot().await else { return };
        let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        let queue = partitions.entry(record.partition()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            self.control.tasks.spawn(self.clone().partition_loop(group.clone(), rx));
            tx
        });
        let _ = queue.send((record, slot));
    }

    /// One partition's records, one at a time in offset order.
    async fn partition_loop(self: Arc<Self>, group: Arc<GroupConsumer>, mut queue: mpsc::UnboundedReceiver<Queued>) {
        loop {
            let next = tokio::select! {
                biased;
                () = self.control.stop.cancelled() => None,
                next = queue.recv() => next,
            };
            let Some((record, slot)) = next else { return };
            if !self.deliver(&group, &record).await {
                return;
            }
            drop(slot);
        }
    }

    /// Hands `record` to the handler until it takes it; `false` when the subscription stops first.
    async fn deliver(&self, group: &GroupConsumer, record: &OwnedMessage) -> bool {
        loop {
            let message = BrokerMessage {
                topic: self.topic.to_string(),
                data: record.payload().map(Bytes::copy_from_slice).unwrap_or_default(),
                metadata: record::metadata(record, group.settings.escape_headers, group.settings.exclude_headers.as_ref()),
            };
            match call_handler("pubsub.kafka", &*self.handler, message, None, Some(&self.control.abandon)).await {
                Handled::Processed => {
                    if let Err(e) = group.consumer.store_offset(record.topic(), record.partition(), record.offset()) {
                        // The partition went to another member: it reads from the last commit.
                        tracing::debug!(topic = %self.topic, partition = record.partition(), %e, "pubsub.kafka: offset not stored");
                    }
                    return true;
                }
                Handled::Abandoned => return false,
                Handled::NotProcessed | Handled::TimedOut => {
                    tokio::select! {
                        () = self.control.stop.cancelled() => return false,
                        () = tokio::time::sleep(group.settings.back_off) => {}
                    }
                }
            }
        }
    }
}

/// A live subscription: its topic's delivery on the group's shared consumer.
pub(super) struct KafkaSubscription {
    group: Arc<GroupConsumer>,
    route: Arc<TopicRoute>,
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn stop(&self, grace: Duration) {
        // The loops stop first (records of this topic still arriving are no longer taken), so what
        // they handle in the grace period is stored before the topic leaves and the last commit.
        self.route.control.subscription().stop(grace).await;
        self.group.remove(&self.route.topic);
        self.route.partitions.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

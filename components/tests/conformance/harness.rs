//! One conformance case's world at the trait level: instances of the component under test opened
//! as a sidecar opens them (`dapr_rs_components::open`), names unique to the case, and handlers
//! that report what they are given.

use super::brokers::{Broker, Guarantee};
use super::leftovers::Names;
use async_trait::async_trait;
use dapr_rs_components::{BrokerMessage, ComponentConfig, MessageHandler, NotProcessed, PubSub, SubscribeRequest, Subscription};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::mpsc;

/// How long a case waits for a message it expects.
pub const WITHIN: Duration = Duration::from_secs(20);

pub struct Case {
    pub broker: &'static Broker,
    dir: TempDir,
    suffix: String,
    /// What the case made, for the broker's `leftovers` once it is done.
    made: Mutex<Names>,
    opened: Mutex<Vec<Arc<dyn PubSub>>>,
}

impl Case {
    pub fn new(broker: &'static Broker) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        Self { broker, dir: tempfile::tempdir().unwrap(), suffix, made: Mutex::default(), opened: Mutex::default() }
    }

    /// `base` made unique to this case: consumer groups and topics never meet those of another
    /// run on a shared broker.
    pub fn name(&self, base: &str) -> String {
        let name = format!("{base}-{}", self.suffix);
        self.made.lock().unwrap().names.push(name.clone());
        name
    }

    /// Says so (in the test output) when the broker does not promise what a case checks.
    pub fn unless_promised(&self, guarantee: Guarantee) -> bool {
        if self.broker.promises(guarantee) {
            return false;
        }
        eprintln!("conformance: {} does not promise {guarantee:?}; this case checks nothing for it", self.broker.component_type);
        true
    }

    /// An instance of the component for consumer group `group`, as the sidecar of app id `group`
    /// opens it (the app id is the default `consumerID`).
    pub async fn open(&self, group: &str) -> Arc<dyn PubSub> {
        self.made.lock().unwrap().app_ids.push(group.to_owned());
        let config = ComponentConfig {
            name: "pubsub".into(),
            component_type: self.broker.component_type.into(),
            metadata: (self.broker.metadata)(self.dir.path()).into_iter().collect(),
            app_id: group.into(),
        };
        let pubsub = dapr_rs_components::open(&config).await.unwrap_or_else(|e| panic!("{} opens: {e}", self.broker.component_type));
        self.opened.lock().unwrap().push(pubsub.clone());
        pubsub
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        if let Some(leftovers) = self.broker.leftovers {
            let mut made = std::mem::take(&mut *self.made.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            made.app_ids.sort();
            made.app_ids.dedup();
            leftovers(&made);
        }
    }
}

/// Subscribes `handler` to `topic` for `group`, taking up to `max_concurrency` messages at once.
pub async fn subscribe(
    pubsub: &Arc<dyn PubSub>,
    topic: &str,
    group: &str,
    max_concurrency: usize,
    handler: Arc<dyn MessageHandler>,
) -> Box<dyn Subscription> {
    subscribe_sharing(pubsub, topic, group, max_concurrency, None, handler).await
}

/// [`subscribe`], with slots shared with other subscriptions (the app's cap).
pub async fn subscribe_sharing(
    pubsub: &Arc<dyn PubSub>,
    topic: &str,
    group: &str,
    max_concurrency: usize,
    shared_slots: Option<Arc<tokio::sync::Semaphore>>,
    handler: Arc<dyn MessageHandler>,
) -> Box<dyn Subscription> {
    let request = SubscribeRequest { topic: topic.into(), consumer_group: group.into(), max_concurrency, shared_slots };
    pubsub.subscribe(request, handler).await.unwrap_or_else(|e| panic!("subscribing to {topic}: {e}"))
}

/// A message whose data is the number `n`.
pub fn numbered(topic: &str, n: usize) -> BrokerMessage {
    BrokerMessage { topic: topic.into(), data: n.to_string().into(), metadata: HashMap::new() }
}

pub async fn publish_numbers(pubsub: &Arc<dyn PubSub>, topic: &str, range: std::ops::Range<usize>) {
    for n in range {
        pubsub.publish(numbered(topic, n)).await.unwrap_or_else(|e| panic!("publishing {n} to {topic}: {e}"));
    }
}

/// Reports every message it is given (with its label) on a channel; answers NotProcessed to the
/// first `refuse_first` calls, and waits `hold` in each call before answering.
pub struct Recorder {
    label: &'static str,
    seen: mpsc::UnboundedSender<(&'static str, BrokerMessage)>,
    refuse_first: usize,
    hold: Duration,
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl Recorder {
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl MessageHandler for Recorder {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let _ = self.seen.send((self.label, msg));
        tokio::time::sleep(self.hold).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if call < self.refuse_first { Err(NotProcessed("refused by the case".into())) } else { Ok(()) }
    }
}

/// Where recorders report.
pub struct Inbox {
    tx: mpsc::UnboundedSender<(&'static str, BrokerMessage)>,
    rx: mpsc::UnboundedReceiver<(&'static str, BrokerMessage)>,
}

impl Default for Inbox {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx }
    }
}

impl Inbox {
    /// A handler filing what it gets under `label`.
    pub fn recorder(&self, label: &'static str) -> Arc<Recorder> {
        self.recorder_with(label, 0, Duration::ZERO)
    }

    pub fn recorder_with(&self, label: &'static str, refuse_first: usize, hold: Duration) -> Arc<Recorder> {
        Arc::new(Recorder {
            label,
            seen: self.tx.clone(),
            refuse_first,
            hold,
            calls: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        })
    }

    /// The next `n` deliveries, each within [`WITHIN`].
    pub async fn take(&mut self, n: usize) -> Vec<(&'static str, BrokerMessage)> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match tokio::time::timeout(WITHIN, self.rx.recv()).await {
                Ok(Some(delivery)) => got.push(delivery),
                _ => panic!("{} of {n} deliveries arrived within {WITHIN:?}: {:?}", got.len(), numbers(&got)),
            }
        }
        got
    }

    /// Nothing more is delivered for `quiet`.
    pub async fn assert_empty_for(&mut self, quiet: Duration) {
        if let Ok(Some((label, extra))) = tokio::time::timeout(quiet, self.rx.recv()).await {
            panic!("nothing more expected, {label} got {:?}", String::from_utf8_lossy(&extra.data));
        }
    }
}

/// The numbers the deliveries carry, in delivery order.
pub fn numbers(deliveries: &[(&'static str, BrokerMessage)]) -> Vec<usize> {
    deliveries.iter().map(|(_, m)| String::from_utf8_lossy(&m.data).parse().expect("a number")).collect()
}

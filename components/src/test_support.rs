//! What the components' own tests share: a handler that reports every call, and the check that
//! publishing and delivery carry on by themselves once a broker that went away is back.

use super::{BrokerMessage, MessageHandler, NotProcessed, PubSub};
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

const WITHIN: Duration = Duration::from_secs(10);

/// Reports every call on a channel; fails the first `fail_first` calls.
pub(crate) struct Recorder {
    seen: mpsc::UnboundedSender<BrokerMessage>,
    fail_first: usize,
    calls: AtomicUsize,
}

impl Recorder {
    /// How often the handler was called so far.
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl MessageHandler for Recorder {
    async fn handle(&self, msg: BrokerMessage) -> Result<(), NotProcessed> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let _ = self.seen.send(msg);
        if call < self.fail_first { Err(NotProcessed("not yet".into())) } else { Ok(()) }
    }
}

pub(crate) fn recorder(fail_first: usize) -> (Arc<Recorder>, mpsc::UnboundedReceiver<BrokerMessage>) {
    let (seen, rx) = mpsc::unbounded_channel();
    (Arc::new(Recorder { seen, fail_first, calls: AtomicUsize::new(0) }), rx)
}

/// The next message the handler saw, within 10 s.
pub(crate) async fn next(rx: &mut mpsc::UnboundedReceiver<BrokerMessage>) -> BrokerMessage {
    tokio::time::timeout(WITHIN, rx.recv()).await.expect("a message within the time limit").expect("the handler lives")
}

/// The handler sees nothing more for half a second.
pub(crate) async fn nothing_more(rx: &mut mpsc::UnboundedReceiver<BrokerMessage>) {
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        panic!("nothing more expected, got {extra:?}");
    }
}

/// A message whose data is the number `n`.
pub(crate) fn numbered(topic: &str, n: usize) -> BrokerMessage {
    BrokerMessage { topic: topic.into(), data: n.to_string().into(), metadata: HashMap::new() }
}

/// The broker is back: publishes of 2..6 succeed within a few retries (a component may need a
/// moment to reconnect), and every one of them reaches the subscription by itself.
pub(crate) async fn publishing_and_delivery_resume(pubsub: &dyn PubSub, topic: &str, rx: &mut mpsc::UnboundedReceiver<BrokerMessage>) {
    let mut acknowledged = BTreeSet::new();
    for n in 2..6 {
        for _ in 0..100 {
            if pubsub.publish(numbered(topic, n)).await.is_ok() {
                acknowledged.insert(n.to_string());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(acknowledged.len(), 4, "publishing carries on once the broker is back");
    let mut delivered = BTreeSet::new();
    while !acknowledged.is_subset(&delivered) {
        let got = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("delivery resumes by itself").unwrap();
        delivered.insert(String::from_utf8_lossy(&got.data).into_owned());
    }
}
